/**
 * A small line diff for showing config changes (`--dry-run`): configs are a few dozen lines, so
 * the quadratic LCS table is cheap; inputs over MAX_LINES are summarised instead.
 */
import { printable } from '../util/escape.ts';

export const MAX_LINES = 2000;

/**
 * Returns the changed lines as `-old` / `+new`, with one line of context, under a `--- a/FILE` header.
 * Guest-controlled text is escaped.
 * @example
 * lineDiff('a\ntype = "pv"\n', 'a\ntype = "pvh"\n', 'g.cfg')
 * // => '--- a/g.cfg\n+++ b/g.cfg\n a\n-type = "pv"\n+type = "pvh"\n'
 */
export function lineDiff(a: string, b: string, file: string): string {
  const x = a.split('\n');
  const y = b.split('\n');
  if (x[x.length - 1] === '') x.pop();
  if (y[y.length - 1] === '') y.pop();
  const f = `${file.startsWith('/') ? '' : '/'}${printable(file)}`;
  const head = `--- a${f}\n+++ b${f}\n`;
  if (x.length > MAX_LINES || y.length > MAX_LINES) return `${head}(${x.length} lines → ${y.length} lines; too long to show)\n`;
  const n = x.length;
  const m = y.length;
  const lcs: Uint16Array[] = Array.from({ length: n + 1 }, () => new Uint16Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) lcs[i]![j] = x[i] === y[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const ops: { t: ' ' | '-' | '+'; s: string }[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) ops.push({ t: ' ', s: x[i++]! }), j++;
    else if (i < n && (j >= m || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) ops.push({ t: '-', s: x[i++]! });
    else ops.push({ t: '+', s: y[j++]! });
  }
  const keep = ops.map((o, k) => o.t !== ' ' || ops[k - 1]?.t === '-' || ops[k - 1]?.t === '+' || ops[k + 1]?.t === '-' || ops[k + 1]?.t === '+');
  let out = head;
  let gap = false;
  ops.forEach((o, k) => {
    if (!keep[k]) {
      gap = true;
      return;
    }
    if (gap && out !== head) out += '@@\n';
    gap = false;
    out += `${o.t}${printable(o.s)}\n`;
  });
  return out;
}
