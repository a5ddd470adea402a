/**
 * The child's program: its bundle is ASCII and means what the sources say, it is built again when
 * a source changes, and V8 takes its code cache in a child started with the children's flags.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, fstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInThisContext } from 'node:vm';
import { bundle, CHILD_LOADER, codeCacheOf, programFor } from './bundle.ts';
import { childNodeArgs, DEFAULT_CHILD_LIMITS } from './child.ts';

const dir = mkdtempSync(join(tmpdir(), 'pvhctl-bundle-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Two modules: `a.ts` imports `b.ts`, whose text is `b`. */
function sources(b: string): string {
  writeFileSync(join(dir, 'a.ts'), "import { arrow, word } from './b.ts';\nexport const out: string[] = [arrow, word];\n");
  writeFileSync(join(dir, 'b.ts'), b);
  return join(dir, 'a.ts');
}

test('the bundle is ASCII and keeps non-ASCII text as the sources wrote it (templates, strings, regular expressions)', () => {
  const entry = sources("// a comment → with arrows…\nconst name: 'x→y' = 'x→y';\nexport const arrow = `${name} → §`;\nexport const word = /…/.test('a…b') ? 'ellipsis…' : 'no';\n");
  const { script } = bundle(entry);
  assert.match(script, /^[\x00-\x7f]*$/);
  assert.deepEqual((runInThisContext(script) as { out: string[] }).out, ['x→y → §', 'ellipsis…']);
  // A space that is not ASCII could be inside a string: refused rather than guessed.
  assert.throws(() => bundle(sources("export const arrow = 'a\u2002b';\nexport const word = '';\n")), /U\+2002/);
});

test('the program is built again when a source changes, and older ones are removed', () => {
  const data = join(dir, 'data');
  const entry = sources("export const arrow = 'one';\nexport const word = 'w';\n");
  const first = programFor(entry, data, []);
  const again = programFor(entry, data, []);
  assert.equal(again.file, first.file);
  sources("export const arrow = 'two';\nexport const word = 'w';\n");
  const changed = programFor(entry, data, []);
  assert.notEqual(changed.file, first.file);
  assert.deepEqual(readdirSync(join(data, 'child-script')), [changed.file!.split('/').pop()]);
  // Run as a child runs it (CHILD_LOADER, the program as its stdin), printing what it evaluates to.
  const r = spawnSync(process.execPath, ['-p', CHILD_LOADER], { stdio: [changed.fd, 'pipe', 'pipe'], encoding: 'utf8' });
  assert.equal(r.stderr, '');
  assert.equal(r.stdout.trim(), "{ out: [ 'two', 'w' ] }");
  // Nobody writes a program once made, not even its owner through the file's mode.
  assert.equal(fstatSync(changed.fd).mode & 0o222, 0);
  for (const p of [first, again, changed]) closeSync(p.fd);
});

test("a child started with the children's flags takes the program's code cache (V8 refuses one made under other flags)", () => {
  const nodeArgs = childNodeArgs(DEFAULT_CHILD_LIMITS);
  const p = programFor(sources("export const arrow = 'a';\nexport const word = 'w';\n"), join(dir, 'data2'), nodeArgs);
  const check = (args: string[]) => {
    // The loader's own steps, reporting whether V8 took the cache.
    const probe = CHILD_LOADER.replace('.runInThisContext();', '').replace(/^const f/, 'const s = (() => { const f') + '; })(); process.stdout.write(String(s.cachedDataRejected));';
    return spawnSync(process.execPath, [...args, '-e', probe.replace("const n = b.readUInt32LE(0); new", "const n = b.readUInt32LE(0); return new")], { stdio: [p.fd, 'pipe', 'pipe'], encoding: 'utf8' });
  };
  const taken = check(nodeArgs);
  assert.equal(taken.stderr, '');
  assert.equal(taken.stdout, 'false');
  assert.equal(check([...nodeArgs, '--no-lazy']).stdout, 'true');
  assert.ok(readFileSync(p.file!).length > readFileSync(p.file!).readUInt32LE(0) + 4, 'the program holds a code cache');
  closeSync(p.fd);
});

test('the code cache holds the bodies of functions, not only the top level (a child would compile each function it runs)', () => {
  const nodeArgs = childNodeArgs(DEFAULT_CHILD_LIMITS);
  const body = (n: number) => `function f(x) { ${'x = x * 3 + 1;'.repeat(n)} return x; }\nfunction g() { return f(1); }\n`;
  const small = codeCacheOf(body(1), nodeArgs)!;
  const large = codeCacheOf(body(2000), nodeArgs)!;
  // 2000 statements of bytecode are kilobytes; a body compiled only when called leaves the cache as it is.
  assert.ok(large.length > small.length + 10_000, `cache of ${large.length} bytes against ${small.length}`);
  // And V8 still takes it in a child started with the children's flags.
  const probe = `const s = new (require('node:vm').Script)(require('node:fs').readFileSync(0, 'latin1'), { filename: 'pvhctl-inspect-child.js', cachedData: Buffer.from(process.argv[1], 'base64') }); process.stdout.write(String(s.cachedDataRejected));`;
  const r = spawnSync(process.execPath, [...nodeArgs, '-e', probe, large.toString('base64')], { input: body(2000), encoding: 'utf8' });
  assert.equal(r.stderr, '');
  assert.equal(r.stdout, 'false');
});
