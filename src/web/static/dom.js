// @ts-check
/**
 * DOM helpers. Every string goes into the page as a text node or an attribute value, never as
 * HTML, so a guest name like `<img onerror=...>` shows as those characters.
 */
import { NEXT } from './words.js';

/**
 * Makes an element: h('a', { href: '#/', class: 'x' }, 'text', child).
 * @param {string} tag
 * @param {Record<string, string | number | boolean | null | undefined | ((e: Event) => void)>} [attrs]
 * @param {...(Node | string | number | null | undefined | false | any[])} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

/**
 * @param {Element} el
 * @param {any[]} children
 */
function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

const SVGNS = 'http://www.w3.org/2000/svg';
/**
 * Makes an SVG element.
 * @param {string} tag
 * @param {Record<string, string | number>} [attrs]
 * @param {...(Node | string | null | undefined)} children
 * @returns {SVGElement}
 */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(c));
  return el;
}

/** @param {Element} el @param {...any} children */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** @param {string | null | undefined} iso */
export function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** Mode names as Xen and our customers say them. */
export const MODE = { pv: 'PV', pvh: 'PVH', 'pvh-shim': 'PVH (shim)', hvm: 'HVM' };

/** @param {string} t */
export const modeName = (t) => /** @type {Record<string,string>} */ (MODE)[t] ?? t;

/** @param {string} type */
export const pill = (type) => h('span', { class: `pill t-${type}` }, modeName(type));

/** What a guest can become, in plain words. */
export const CAN = {
  pvh: 'Can run in PVH mode',
  'pvh-shim': 'Can run as PVH with the PV shim (its kernel has no PVH entry)',
  none: 'Its kernel starts neither as PV nor as PVH',
  'did-not-boot': 'A switch to PVH was tried and did not start; it stays as it is',
  unknown: 'Not inspected yet',
};
/** @param {string} c */
export const canWords = (c) => /** @type {Record<string,string>} */ (CAN)[c] ?? c;

/**
 * What would make native PVH possible (src/fleet/become.ts NextStep), in the words of
 * src/fleet/words.ts NEXT_WORDS, as the shell says it.
 * @param {{ kind: 'install-kernel', install: string } | { kind: 'reboot-into', kernel: string, entry: string | null }} n
 */
export function nextWords(n) {
  const key = n.kind === 'reboot-into' && n.entry === null ? 'reboot-into-no-entry' : n.kind;
  const params = /** @type {Record<string, string | null>} */ (n);
  return NEXT[key].replace(/\{(\w+)\}/g, (_, k) => params[k] ?? '');
}
