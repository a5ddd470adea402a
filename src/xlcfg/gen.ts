/**
 * Random xl configs for the differential and fuzz tests: a seeded generator of configs that are
 * mostly valid (every construct of the grammar, odd corners included) and a mutator that breaks
 * them a few characters at a time. Deterministic for a seed, so a failure can be replayed.
 */
import { rng } from '../util/rng.ts';

export { rng };

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

const KEYS = ['name', 'type', 'builder', 'kernel', 'ramdisk', 'extra', 'root', 'cmdline', 'memory', 'maxmem', 'vcpus', 'disk', 'vif', 'vfb', 'pci', 'bootloader', 'firmware', 'vnc', 'a.b', 'x_1', 'k9'];
const STRING_BODIES = ['', 'pvh', 'pv', 'hvm', '/boot/vmlinuz-6.1.0-26-amd64', 'phy:/dev/vg/web1,xvda,w', 'bridge=xenbr0,mac=00:16:3e:00:00:01', 'root=/dev/xvda1 ro console=hvc0', 'it\\\'s', 'say \\"hi\\"', 'tab\\there', 'back\\\\slash', 'nl\\n', 'bell\\a\\b\\f\\v\\r', 'oct\\0 12x', 'oct\\1+5z', 'oct\\777z', 'ünïcödé', '#not a comment', 'a;b', '[x]', '\\q', '\\x41', '\\0', '\t\r'];
const NUMBERS = ['0', '1', '512', '0512', '0x1f', '1024', '9abc', '0xfffffffff', '1e3', '00'];

/**
 * A random config text: statements, comments, blank lines, `;`, nested lists over several lines.
 * @example
 * generateConfig(rng(1)) // => 'memory = 512\ndisk = [ "phy:/dev/vg/web1,xvda,w", ]\n# c\n'
 */
export function generateConfig(r: () => number): string {
  const out: string[] = [];
  const n = Math.floor(r() * 8);
  for (let k = 0; k < n; k++) {
    const roll = r();
    if (roll < 0.1) out.push(`#${pick(r, [' comment', '', ' a = 1', ' "x', '\r'])}\n`);
    else if (roll < 0.15) out.push(pick(r, ['\n', ';', ' \t\n', ';\n']));
    else {
      out.push(`${blank(r)}${pick(r, KEYS)}${blank(r)}${r() < 0.2 ? '+=' : '='}${blank(r)}${value(r, 0)}${blank(r)}`);
      const end = r();
      if (k === n - 1 && end < 0.2) break; // the last assignment may end the file without a newline
      out.push(end < 0.8 ? '\n' : end < 0.9 ? ';' : ` # trailing\n`);
    }
  }
  return out.join('');
}

function blank(r: () => number): string {
  const x = r();
  return x < 0.5 ? ' ' : x < 0.7 ? '' : x < 0.85 ? '  ' : '\t';
}

function value(r: () => number, depth: number): string {
  const x = r();
  if (x < 0.45) {
    const q = r() < 0.7 ? '"' : "'";
    let body = pick(r, STRING_BODIES);
    if (q === "'") body = body.replace(/\\"/g, '"');
    else body = body.replace(/\\'/g, "'");
    return `${q}${body}${q}`;
  }
  if (x < 0.7 || depth >= 4) return pick(r, NUMBERS);
  const n = Math.floor(r() * 4);
  const items: string[] = [];
  for (let k = 0; k < n; k++) items.push(value(r, depth + 1));
  const nl = () => (r() < 0.2 ? pick(r, ['\n', ' # c\n', '\n\n']) : '');
  const sep = () => `${nl()},${blank(r)}${nl()}`;
  const trailing = n > 0 && r() < 0.3 ? ',' : '';
  return `[${blank(r)}${nl()}${items.map((v) => `${v}${nl()}`).join(sep())}${trailing}${nl()}${blank(r)}]`;
}

const MUTATION_CHARS = ['a', 'Z', '0', 'x', '"', "'", '\\', '#', '[', ']', ',', '=', '+', '+=', ';', '\n', '\r', '\r\n', '\t', ' ', '-', '.', '(', ')', ':', '$', '\ufeff', 'é', '\x00', '\x7f', '{'];

/**
 * A few random edits (insert, delete, replace, duplicate a slice) of `text`.
 * @example
 * mutateConfig(rng(2), 'a = 1\n') // => 'a = 1-\n'
 */
export function mutateConfig(r: () => number, text: string, withNul = false): string {
  let s = text;
  const edits = 1 + Math.floor(r() * 3);
  for (let k = 0; k < edits; k++) {
    const at = Math.floor(r() * (s.length + 1));
    let ch = pick(r, MUTATION_CHARS);
    if (!withNul && ch === '\x00') ch = '\x01';
    const op = r();
    if (op < 0.4) s = s.slice(0, at) + ch + s.slice(at);
    else if (op < 0.7) s = s.slice(0, at) + s.slice(at + 1 + Math.floor(r() * 3));
    else if (op < 0.9) s = s.slice(0, at) + ch + s.slice(at + 1);
    else {
      const len = Math.floor(r() * 12);
      s = s.slice(0, at) + s.slice(at, at + len) + s.slice(at);
    }
  }
  return s;
}
