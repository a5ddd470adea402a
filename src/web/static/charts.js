// @ts-check
/** Small SVG charts drawn by hand: a donut, a stacked bar, a legend. Colours come from CSS classes. */
import { h, s } from './dom.js';

/** @typedef {{ label: string, value: number, cls: string }} Segment */

/**
 * A donut of segments with a big number in the middle.
 * @param {Segment[]} segments
 * @param {string} center
 * @param {string} caption
 */
export function donut(segments, center, caption) {
  const total = segments.reduce((a, x) => a + x.value, 0) || 1;
  const r = 60;
  const c = 2 * Math.PI * r;
  const svg = s('svg', { viewBox: '0 0 160 160', class: 'donut', role: 'img', 'aria-label': `${center} ${caption}` });
  svg.append(s('circle', { cx: 80, cy: 80, r, class: 'donut-bg' }));
  let offset = 0;
  for (const seg of segments) {
    if (seg.value <= 0) continue;
    const len = (seg.value / total) * c;
    const arc = s('circle', { cx: 80, cy: 80, r, class: `donut-seg ${seg.cls}`, 'stroke-dasharray': `${len} ${c - len}`, 'stroke-dashoffset': String(-offset), transform: 'rotate(-90 80 80)' });
    arc.append(s('title', {}, `${seg.label}: ${seg.value}`));
    svg.append(arc);
    offset += len;
  }
  svg.append(s('text', { x: 80, y: 80, class: 'donut-num', 'text-anchor': 'middle', 'dominant-baseline': 'central' }, center));
  svg.append(s('text', { x: 80, y: 106, class: 'donut-cap', 'text-anchor': 'middle' }, caption));
  return svg;
}

/**
 * One horizontal stacked bar, scaled to `max` (so bars of different hosts compare).
 * @param {Segment[]} segments
 * @param {number} max
 */
export function stackedBar(segments, max) {
  const w = 300;
  const svg = s('svg', { viewBox: `0 0 ${w} 14`, class: 'bar', preserveAspectRatio: 'none', role: 'img' });
  svg.append(s('rect', { x: 0, y: 0, width: w, height: 14, rx: 3, class: 'bar-bg' }));
  let x = 0;
  for (const seg of segments) {
    if (seg.value <= 0) continue;
    const width = (seg.value / (max || 1)) * w;
    const r = s('rect', { x, y: 0, width, height: 14, class: seg.cls });
    r.append(s('title', {}, `${seg.label}: ${seg.value}`));
    svg.append(r);
    x += width;
  }
  return svg;
}

/**
 * A legend for segments.
 * @param {Segment[]} segments
 */
export function legend(segments) {
  return h('ul', { class: 'legend' }, segments.map((seg) => h('li', {}, h('span', { class: `swatch ${seg.cls}` }), `${seg.label} `, h('b', {}, String(seg.value)))));
}

let chartIds = 0;
/**
 * An SVG with a title and a description for screen readers (role img, aria-labelledby both).
 * @param {string} viewBox @param {string} cls @param {string} title @param {string} desc
 */
function figure(viewBox, cls, title, desc) {
  const id = `chart-${++chartIds}`;
  const svg = s('svg', { viewBox, class: cls, role: 'img', 'aria-labelledby': `${id}-t ${id}-d` });
  svg.append(s('title', { id: `${id}-t` }, title), s('desc', { id: `${id}-d` }, desc));
  return svg;
}

/** A y axis scale to a round maximum, and its grid values. @param {number} max */
function ticks(max) {
  const raw = Math.max(1, max) / 4;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((x) => x >= raw) ?? raw;
  const top = Math.max(step, Math.ceil(Math.max(1, max) / step) * step);
  return { top, values: Array.from({ length: Math.round(top / step) + 1 }, (_, i) => i * step) };
}

/**
 * Whether the i-th of n x labels is drawn: every `every`-th, and the last, but not one crowding the last.
 * @param {number} i @param {number} n @param {number} every
 */
const labelled = (i, n, every) => i === n - 1 || (i % every === 0 && n - 1 - i >= every / 2 + 0.5);

/** @typedef {{ label: string, value: number | null, title: string }} Point */

/**
 * A line over an area, one point per label (null: a gap), with y grid lines and x labels.
 * @param {Point[]} points
 * @param {{ title: string, desc: string, cls: string }} o
 */
export function lineChart(points, o) {
  const W = 640, H = 220, L = 44, R = 12, T = 12, B = 28;
  const { top, values } = ticks(Math.max(0, ...points.map((p) => p.value ?? 0)));
  const svg = figure(`0 0 ${W} ${H}`, 'chart line-chart', o.title, o.desc);
  const x = (/** @type {number} */ i) => L + (points.length === 1 ? (W - L - R) / 2 : (i * (W - L - R)) / (points.length - 1));
  const y = (/** @type {number} */ v) => T + (1 - v / top) * (H - T - B);
  for (const v of values) {
    svg.append(s('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' }));
    svg.append(s('text', { x: L - 6, y: y(v), class: 'axis', 'text-anchor': 'end', 'dominant-baseline': 'central' }, v.toLocaleString('en')));
  }
  const every = Math.ceil(points.length / 8);
  points.forEach((p, i) => {
    // The end labels align inward, so that they stay inside the chart.
    const anchor = points.length > 1 && i === 0 ? 'start' : points.length > 1 && i === points.length - 1 ? 'end' : 'middle';
    if (labelled(i, points.length, every)) svg.append(s('text', { x: x(i), y: H - 8, class: 'axis', 'text-anchor': anchor }, p.label));
  });
  // Runs of known points: an area under each, then its line.
  /** @type {number[][]} */
  const runs = [];
  points.forEach((p, i) => {
    if (p.value === null) return;
    const last = runs.at(-1);
    if (last && last.at(-1) === i - 1) last.push(i);
    else runs.push([i]);
  });
  for (const run of runs) {
    const xy = run.map((i) => `${x(i)},${y(/** @type {number} */ (points[i]?.value))}`);
    svg.append(s('polygon', { points: `${x(run[0] ?? 0)},${y(0)} ${xy.join(' ')} ${x(run.at(-1) ?? 0)},${y(0)}`, class: `area ${o.cls}` }));
    svg.append(s('polyline', { points: xy.join(' '), class: `stroke ${o.cls}` }));
  }
  points.forEach((p, i) => {
    if (p.value === null) return;
    const dot = s('circle', { cx: x(i), cy: y(p.value), r: 4, class: `dot ${o.cls}`, 'data-label': p.label, 'data-value': p.value });
    dot.append(s('title', {}, p.title));
    svg.append(dot);
  });
  const last = points.findLast((p) => p.value !== null);
  if (last && last.value !== null) svg.append(s('text', { x: x(points.lastIndexOf(last)) - 8, y: y(last.value) - 10, class: 'value', 'text-anchor': 'end' }, last.value.toLocaleString('en')));
  return svg;
}

/** @typedef {{ label: string, cls: string }} Series */

/**
 * Grouped columns: for each label, one column per series, with y grid lines.
 * @param {string[]} labels
 * @param {Series[]} series
 * @param {number[][]} values values[series][label]
 * @param {{ title: string, desc: string }} o
 */
export function columns(labels, series, values, o) {
  const W = 640, H = 180, L = 44, R = 12, T = 12, B = 28;
  const { top, values: grid } = ticks(Math.max(0, ...values.flat()));
  const svg = figure(`0 0 ${W} ${H}`, 'chart columns', o.title, o.desc);
  const y = (/** @type {number} */ v) => T + (1 - v / top) * (H - T - B);
  for (const v of grid) {
    svg.append(s('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' }));
    svg.append(s('text', { x: L - 6, y: y(v), class: 'axis', 'text-anchor': 'end', 'dominant-baseline': 'central' }, v.toLocaleString('en')));
  }
  const slot = (W - L - R) / Math.max(1, labels.length);
  const bw = Math.min(18, (slot * 0.7) / series.length);
  const every = Math.ceil(labels.length / 8);
  labels.forEach((label, i) => {
    const x0 = L + i * slot + (slot - bw * series.length) / 2;
    series.forEach((ser, k) => {
      const v = values[k]?.[i] ?? 0;
      const r = s('rect', { x: x0 + k * bw, y: y(v), width: bw - 1, height: Math.max(0, y(0) - y(v)), rx: 2, class: ser.cls, 'data-label': label, 'data-series': ser.label, 'data-value': v });
      r.append(s('title', {}, `${ser.label}, week of ${label}: ${v}`));
      svg.append(r);
    });
    if (labelled(i, labels.length, every)) svg.append(s('text', { x: L + i * slot + slot / 2, y: H - 8, class: 'axis', 'text-anchor': 'middle' }, label));
  });
  return svg;
}
