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
