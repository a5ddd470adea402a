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
 * child's tests instead of changing meaning. Built once per source version and kept in the data
 * directory (only this process's user writes there; children get the text, not the file).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import module from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('..', import.meta.url));

/**
 * What a child runs (`node -e`): the script on its stdin, compiled and run as a classic script.
 * Reading fd 0 with readFileSync needs no stream; the script's name shows in its stack traces.
 */
export const CHILD_LOADER = "new (require('node:vm').Script)(require('node:fs').readFileSync(0, 'utf8'), { filename: 'pvhctl-inspect-child.js' }).runInThisContext();";

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
  const exported: string[] = [];
  let code = strip(text)
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

let built: string | null = null;

/**
 * The child's script (bundle of worker.ts), from `cacheDir` when built before for these sources,
 * else built and kept there (best effort: an unwritable directory only costs the build each run).
 * @example
 * childScript('/var/lib/pvhctl') // => 'const __mods = [];\n...'
 */
export function childScript(cacheDir: string): string {
  if (built !== null) return built;
  const entry = fileURLToPath(new URL('./worker.ts', import.meta.url));
  const g = graph(entry);
  const file = join(cacheDir, 'child-script', `${g.hash}.mjs`);
  try {
    built = readFileSync(file, 'utf8');
    return built;
  } catch {
    // not built yet for these sources
  }
  built = bundle(entry).script;
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, built, { mode: 0o600 });
    renameSync(tmp, file);
    // Scripts of older sources are not needed again.
    for (const old of readdirSync(dirname(file))) if (old.endsWith('.mjs') && old !== `${g.hash}.mjs`) rmSync(join(dirname(file), old), { force: true });
  } catch {
    // kept for this run only
  }
  return built;
}
