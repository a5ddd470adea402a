/**
 * A unified diff of two texts by lines (LCS), for showing config rewrites before they are written.
 * Bounded: above `maxCells` line pairs it shows the whole file as replaced instead of searching.
 */

/**
 * Returns `diff -u`-style text (3 lines of context), or '' when the texts are equal.
 * @example
 * unifiedDiff('a\nb\n', 'a\nc\n', 'x.cfg', 'x.cfg (pvh)')
 * // => '--- x.cfg\n+++ x.cfg (pvh)\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n'
 */
export function unifiedDiff(before: string, after: string, fromName: string, toName: string, maxCells = 4_000_000): string {
  if (before === after) return '';
  const a = splitLines(before);
  const b = splitLines(after);
  const ops = a.length * b.length > maxCells ? replaceAll(a, b) : lcsOps(a, b);
  const hunks: string[] = [];
  const context = 3;
  let i = 0;
  while (i < ops.length) {
    if (ops[i]!.kind === ' ') {
      i++;
      continue;
    }
    let start = Math.max(0, i - context);
    let end = i;
    // Extend the hunk while changes are within 2*context lines of each other.
    for (;;) {
      while (end < ops.length && ops[end]!.kind !== ' ') end++;
      let next = end;
      while (next < ops.length && ops[next]!.kind === ' ') next++;
      if (next < ops.length && next - end <= 2 * context) end = next;
      else break;
    }
    const stop = Math.min(ops.length, end + context);
    const slice = ops.slice(start, stop);
    const aStart = slice[0]!.a;
    const bStart = slice[0]!.b;
    const aLen = slice.filter((o) => o.kind !== '+').length;
    const bLen = slice.filter((o) => o.kind !== '-').length;
    hunks.push(`@@ -${aLen === 0 ? aStart : aStart + 1},${aLen} +${bLen === 0 ? bStart : bStart + 1},${bLen} @@\n`);
    for (const o of slice) hunks.push(`${o.kind}${o.text}${o.text.endsWith('\n') ? '' : '\n\\ No newline at end of file\n'}`);
    i = stop;
    start = stop;
  }
  return `--- ${fromName}\n+++ ${toName}\n${hunks.join('')}`;
}

type Op = { kind: ' ' | '-' | '+'; text: string; a: number; b: number };

function splitLines(s: string): string[] {
  return s === '' ? [] : (s.match(/[^\n]*\n|[^\n]+$/g) ?? []);
}

function lcsOps(a: string[], b: string[]): Op[] {
  const n = a.length;
  const m = b.length;
  const w = m + 1;
  const len = new Uint32Array((n + 1) * w);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      len[i * w + j] = a[i] === b[j] ? len[(i + 1) * w + j + 1]! + 1 : Math.max(len[(i + 1) * w + j]!, len[i * w + j + 1]!);
    }
  }
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) ops.push({ kind: ' ', text: a[i]!, a: i++, b: j++ });
    else if (i < n && (j >= m || len[(i + 1) * w + j]! >= len[i * w + j + 1]!)) ops.push({ kind: '-', text: a[i]!, a: i++, b: j });
    else ops.push({ kind: '+', text: b[j]!, a: i, b: j++ });
  }
  return ops;
}

function replaceAll(a: string[], b: string[]): Op[] {
  return [...a.map((text, i) => ({ kind: '-' as const, text, a: i, b: 0 })), ...b.map((text, j) => ({ kind: '+' as const, text, a: a.length, b: j }))];
}
