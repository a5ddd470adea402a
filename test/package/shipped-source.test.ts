/**
 * The modules as the package ships them (scripts/package.ts shippedSource): types stripped with
 * lines and columns kept, relative `.ts` specifiers made `.js` in every form pvhctl's code uses,
 * and nothing else touched.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shippedSource } from '../../scripts/package.ts';

test('shippedSource: types stripped in place, relative .ts specifiers made .js', () => {
  const src = [
    "import { a, type B } from './a.ts';",
    "import type { C } from '../c.ts';",
    "export { d } from \"./d/d.ts\";",
    "import './side.ts';",
    'const m = await import( \'../../lab/lab.ts\');',
    "const w = new URL('./worker.ts', import.meta.url);",
    "const text: string = 'see src/fleet/words.ts and ./x.ts';",
    "import ssh2 from 'ssh2';",
    'export function f(x: B): C { return x as unknown as C; }',
    '',
  ].join('\n');
  const out = shippedSource('m.ts', src);
  const lines = out.split('\n');
  assert.equal(lines.length, src.split('\n').length, 'lines kept');
  assert.equal(lines[0], "import { a,        } from './a.js';");
  assert.match(lines[1]!, /^\s*$/);
  assert.equal(lines[2], 'export { d } from "./d/d.js";');
  assert.equal(lines[3], "import './side.js';");
  assert.equal(lines[4], "const m = await import( '../../lab/lab.js');");
  assert.equal(lines[5], "const w = new URL('./worker.js', import.meta.url);");
  assert.equal(lines[6], "const text         = 'see src/fleet/words.ts and ./x.ts';", 'strings are not specifiers');
  assert.equal(lines[7], "import ssh2 from 'ssh2';");
  assert.doesNotMatch(lines[8]!, /:\s*[BC]\b|\bas\b/);
  for (const [i, l] of src.split('\n').entries()) assert.equal(lines[i]!.length, l.length, `line ${i + 1} keeps its columns`);
});

test('shippedSource: a .js file only has its specifiers rewritten', () => {
  assert.equal(shippedSource('pvhctl.js', "const { main } = await import('../src/cli/main.ts');\n"), "const { main } = await import('../src/cli/main.js');\n");
});

test('shippedSource: a non-ASCII space in the source is refused (the child bundle could not tell it from one left by stripping)', () => {
  assert.throws(() => shippedSource('x.ts', 'const s = "a\u00a0b";\n'), /^Error: x\.ts: U\+00A0 \(a space that is not ASCII\) in the source$/);
});
