/**
 * The inspection child's code as one plain-JavaScript script, given to each child on its stdin.
 * A child starts per guest, and loading ~35 TypeScript modules (resolving, reading and
 * type-stripping each) cost more than the inspection of a guest whose kernel verdict is cached;
 * one script needs none of that, and the child opens no file of pvhctl's (it may not be able to
 * read the checkout) nor shares a writable compile cache with other children.
 *
 * Each module becomes a function run at its first import (so node:crypto or the kernel reader load
 * only when needed), its `import`s calls of that function and its `export`s the object it returns;
 * built-in modules come from process.getBuiltinModule. The result is a classic script (no ES
 * module syntax left), which the child compiles with node:vm after reading it from its stdin
 * (CHILD_LOADER): neither Node's stream machinery nor its ES module loader is started for it.
 * It understands the forms pvhctl's code uses and refuses any other, so that a new form fails the
 * child's tests instead of changing meaning. The script is kept ASCII (other characters become
 * \u escapes), so that the child takes it as a one-byte string without decoding UTF-8.
 *
 * With the script goes V8's code cache for it (childProgram): a child then skips scanning and
 * compiling 250 KB of source. The cache is made by a separate Node process started by pvhctl
 * with the children's own V8 flags (codeCacheOf), from pvhctl's own script and nothing of any
 * guest's: a child never writes it, so no guest can shape what another guest's child runs. Both are
 * built once per source version and kept in the data directory (only this process's user writes
 * there; children get the bytes on their stdin, not the files).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import module from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('..', import.meta.url));

/**
 * What a child runs (`node -e`): its program (childProgram), from the read-only file its stdin
 * is, read at offset 0 (the file is shared by every child, so its offset is not used); the
 * script compiled with its code cache, if any, and run as a classic script. The script is ASCII,
 * so latin1 is exact and cheapest; its name shows in stack traces.
 */
export const CHILD_LOADER =
  "const f = require('node:fs'), b = Buffer.allocUnsafe(f.fstatSync(0).size); for (let o = 0, k; o < b.length; o += k) if ((k = f.readSync(0, b, o, b.length - o, o)) === 0) throw new Error('short program'); const n = b.readUInt32LE(0); new (require('node:vm').Script)(b.latin1Slice(4, 4 + n), { filename: 'pvhctl-inspect-child.js', cachedData: b.length > 4 + n ? b.subarray(4 + n) : undefined }).runInThisContext();";

/**
 * A child's program: the script's length (32-bit little-endian), the script (ASCII) and V8's code
 * cache for it (none when `codeCache` is null or empty).
 * @example
 * childProgram('1;', null) // => <Buffer 02 00 00 00 31 3b>
 */
export function childProgram(script: string, codeCache: Uint8Array | null): Buffer {
  if (!/^[\x00-\x7f]*$/.test(script)) throw new Error('bundle: a child script must be ASCII');
  const head = Buffer.alloc(4);
  head.writeUInt32LE(script.length, 0);
  return Buffer.concat([head, Buffer.from(script, 'latin1'), codeCache ?? new Uint8Array(0)]);
}

/**
 * V8's code cache for `script` as a child started with `nodeArgs` accepts it (V8 refuses a cache
 * made under other flags): made by a Node process of pvhctl's, started with those flags and a
 * clean environment, that compiles the script without running it. Null if it could not be made
 * (the children then compile from source).
 * @example
 * codeCacheOf(script, ['--max-old-space-size=512', '--min-semi-space-size=2', '--no-sparkplug', '--no-maglev', '--no-opt']) // => Buffer (about 320 KB: every function's bytecode)
 */
export function codeCacheOf(script: string, nodeArgs: string[]): Buffer | null {
  // V8 compiles a function's body at its first call, and a code cache holds only what was
  // compiled: a cache made right after a lazy compile held the top level, and each child still
  // compiled every function it ran (about 25 ms of a child whose kernel verdict is cached). So the
  // whole script is compiled eagerly, and the flag restored before the cache is made: V8 checks a
  // cache against the flags in force when it is made, and the children run with the default.
  const make =
    "const v8 = require('node:v8'); v8.setFlagsFromString('--no-lazy'); const s = new (require('node:vm').Script)(require('node:fs').readFileSync(0, 'latin1'), { filename: 'pvhctl-inspect-child.js' }); v8.setFlagsFromString('--lazy'); process.stdout.write(s.createCachedData())";
  const r = spawnSync(process.execPath, [...nodeArgs, '-e', make], { input: Buffer.from(script, 'latin1'), env: { PATH: '/usr/bin:/bin' }, maxBuffer: 64 << 20, timeout: 60_000 });
  return r.status === 0 && r.stdout.length > 0 ? r.stdout : null;
}

/** Non-ASCII characters as JavaScript reads them: whitespace (left by type stripping) as a space, others as \u escapes (the same in comments, strings, templates, regular expressions and names). */
function ascii(code: string): string {
  return code.replace(/[^\x00-\x7f]/g, (c) => (/\s/.test(c) ? ' ' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}

/** A module's static imports (type-only ones excluded) and dynamic ones. */
const STATIC_IMPORT = /^import\s+(?!type\s)(?:([\w$]+)|\*\s+as\s+([\w$]+)|\{([^}]*)\})\s+from\s+'([^']+)';?/gm;
const RE_EXPORT = /^export\s+\{([^}]*)\}\s+from\s+'([^']+)';?/gm;
const DYNAMIC_IMPORT = /\bimport\(\s*'([^']+)'\s*\)/g;
const DECLARED_EXPORT = /^export\s+((?:async\s+)?function\*?\s*|const\s+|let\s+|class\s+)([\w$]+)/gm;

/** The relative modules a source file imports (types-only imports left out). */
function dependencies(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(STATIC_IMPORT)) if (m[4]!.startsWith('.')) out.push(m[4]!);
  for (const m of text.matchAll(RE_EXPORT)) if (m[2]!.startsWith('.')) out.push(m[2]!);
  for (const m of text.matchAll(DYNAMIC_IMPORT)) if (m[1]!.startsWith('.')) out.push(m[1]!);
  return out;
}

/** `a, b as c, type D` → `a, b: c` (the destructuring that binds the same names). */
function bindings(list: string): string {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '' && !s.startsWith('type '))
    .map((s) => s.replace(/^([\w$]+)\s+as\s+([\w$]+)$/, '$1: $2'))
    .join(', ');
}

/** Strips types without Node's experimental-feature warning on the user's terminal. */
function strip(code: string): string {
  const emit = process.emitWarning;
  process.emitWarning = () => undefined;
  try {
    return module.stripTypeScriptTypes(code, { mode: 'strip' });
  } finally {
    process.emitWarning = emit;
  }
}

/** One module as a function body; `id` maps a specifier (relative to `file`) to its module number. */
function transform(file: string, text: string, id: (file: string, spec: string) => number): string {
  const where = relative(SRC, file);
  // Type stripping blanks a removed annotation's characters, non-ASCII ones as other spaces; any
  // such space in the source itself could be in a string, where a plain one would change it.
  const space = /(?![\t\n\v\f\r ])\s/.exec(text);
  if (space !== null) throw new Error(`bundle: ${where}: cannot bundle U+${space[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')} (a space that is not ASCII)`);
  const exported: string[] = [];
  // The installed package ships its modules as JavaScript already stripped (scripts/package.ts).
  let code = ascii(file.endsWith('.ts') ? strip(text) : text)
    .replace(STATIC_IMPORT, (_all, def: string | undefined, star: string | undefined, list: string | undefined, spec: string) => {
      const from = spec.startsWith('node:') ? `process.getBuiltinModule(${JSON.stringify(spec)})` : `__req(${id(file, spec)})`;
      if (def !== undefined || star !== undefined) return `const ${def ?? star} = ${from};`;
      const b = bindings(list!);
      return b === '' ? '' : `const { ${b} } = ${from};`;
    })
    .replace(RE_EXPORT, (_all, list: string, spec: string) => {
      const b = bindings(list);
      exported.push(...b.split(', ').map((x) => x.split(': ').pop()!));
      return `const { ${b} } = __req(${id(file, spec)});`;
    })
    .replace(DYNAMIC_IMPORT, (all, spec: string) =>
      spec.startsWith('.') ? `Promise.resolve().then(() => __req(${id(file, spec)}))` : spec.startsWith('node:') ? `Promise.resolve(process.getBuiltinModule(${JSON.stringify(spec)}))` : all,
    )
    .replace(DECLARED_EXPORT, (_all, kind: string, name: string) => {
      exported.push(name);
      return `${kind}${name}`;
    });
  const left = /^\s*(export|import)\b(?!\()[^\n]*/m.exec(code) ?? /\bimport\.meta\b|\bimport\(\s*'/.exec(code);
  if (left !== null) throw new Error(`bundle: ${where}: cannot bundle ${JSON.stringify(left[0].trim().slice(0, 80))}`);
  code += `\nreturn { ${exported.join(', ')} };`;
  return code;
}

/** The source files the child needs, entry first, and their combined hash. */
function graph(entry: string): { files: string[]; texts: Map<string, string>; hash: string } {
  const texts = new Map<string, string>();
  const queue = [entry];
  while (queue.length > 0) {
    const f = queue.shift()!;
    if (texts.has(f)) continue;
    const t = readFileSync(f, 'utf8');
    texts.set(f, t);
    for (const d of dependencies(t)) queue.push(resolve(dirname(f), d));
  }
  const h = createHash('sha256').update(process.version);
  for (const [f, t] of texts) h.update(`\0${relative(SRC, f)}\0${t}`);
  return { files: [...texts.keys()], texts, hash: h.digest('hex').slice(0, 32) };
}

/**
 * Builds the script for `entry` (a .ts file) and everything it imports: plain JavaScript, a
 * classic script whose last statement starts the entry.
 * @example
 * bundle(fileURLToPath(new URL('./worker.ts', import.meta.url))).script.length // => about 200000
 */
export function bundle(entry: string): { script: string; hash: string } {
  const g = graph(entry);
  const index = new Map(g.files.map((f, i) => [f, i]));
  const id = (file: string, spec: string) => {
    const n = index.get(resolve(dirname(file), spec));
    if (n === undefined) throw new Error(`bundle: ${relative(SRC, file)}: ${spec} is not in the graph`);
    return n;
  };
  const parts = g.files.map((f, i) => `// ${relative(SRC, f)}\n__mods[${i}] = function () {\n${transform(f, g.texts.get(f)!, id)}\n};`);
  // A module is run once, at its first import; a cycle (none in this code) fails loudly.
  const runtime = [
    'const __mods = [];',
    'const __done = [];',
    'function __req(n) {',
    '  if (n in __done) return __done[n];',
    '  const f = __mods[n];',
    "  if (f === null) throw new Error('bundle: import cycle at module ' + n);",
    '  __mods[n] = null;',
    '  return (__done[n] = f());',
    '}',
  ].join('\n');
  return { script: `${runtime}\n${parts.join('\n')}\n__req(0);\n`, hash: g.hash };
}

/**
 * `bytes` in a file of their own, opened read-only: a descriptor to pass to children (a program
 * for their stdin, a kernel read from a remote dom0). The file is removed at once (the descriptor
 * keeps it), and its mode allows no writing.
 * @example
 * readOnlyCopy(childProgram(script, null)) // => 23
 */
export function readOnlyCopy(bytes: Uint8Array): number {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-child-'));
  try {
    const file = join(dir, 'bytes');
    writeFileSync(file, bytes, { mode: 0o400 });
    return openSync(file, constants.O_RDONLY);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** How codeCacheOf makes a cache (in the program's key, so that a program made otherwise is made again). */
const CACHE_FORM = 'eager';

/**
 * The program (childProgram: the bundle of `entry` and its code cache for children started with
 * `nodeArgs`) as a read-only descriptor for children's stdin: from `cacheDir` when built before
 * for these sources, Node and flags, else built and kept there (best effort: with an unwritable
 * directory, in a removed temporary file). Only this process's user writes there; a child gets
 * the descriptor, and no child ever writes a program or a code cache.
 * @example
 * programFor('/usr/lib/pvhctl/src/guest/worker.ts', '/var/lib/pvhctl', ['--max-old-space-size=512', '--min-semi-space-size=2', '--no-sparkplug', '--no-maglev', '--no-opt']) // => { fd: 23, file: '/var/lib/pvhctl/child-script/3f2a….bin' }
 */
export function programFor(entry: string, cacheDir: string, nodeArgs: string[]): { fd: number; file: string | null } {
  const g = graph(entry);
  const key = createHash('sha256').update(`${g.hash}\0${process.execPath}\0${CACHE_FORM}\0${nodeArgs.join('\0')}`).digest('hex').slice(0, 32);
  const file = join(cacheDir, 'child-script', `${key}.bin`);
  try {
    return { fd: openSync(file, constants.O_RDONLY), file };
  } catch {
    // not built yet for these sources
  }
  const script = bundle(entry).script;
  const program = childProgram(script, codeCacheOf(script, nodeArgs));
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, program, { mode: 0o400 });
    renameSync(tmp, file);
    // Programs of older sources are not needed again.
    for (const old of readdirSync(dirname(file))) if (old !== `${key}.bin` && !old.endsWith('.tmp')) rmSync(join(dirname(file), old), { force: true });
    return { fd: openSync(file, constants.O_RDONLY), file };
  } catch {
    return { fd: readOnlyCopy(program), file: null };
  }
}

const built = new Map<string, number>();

/**
 * The inspection child's program (programFor worker.ts), built, hashed and opened once per
 * process: the sources do not change under a running pvhctl.
 * @example
 * childCode('/var/lib/pvhctl', ['--max-old-space-size=512', '--min-semi-space-size=2', '--no-sparkplug', '--no-maglev', '--no-opt']) // => 23
 */
export function childCode(cacheDir: string, nodeArgs: string[]): number {
  const k = `${cacheDir}\0${nodeArgs.join('\0')}`;
  let fd = built.get(k);
  if (fd === undefined) {
    fd = programFor(fileURLToPath(new URL('./worker.ts', import.meta.url)), cacheDir, nodeArgs).fd;
    built.set(k, fd);
  }
  return fd;
}
