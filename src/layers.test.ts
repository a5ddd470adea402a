/**
 * The import graph's rules, read from the import statements of every module under src/:
 *
 *   ways in (src/cli, src/api, src/web, src/shell) → core (src/fleet and what it uses) → store, drivers, readers
 *
 * - a way in never imports another way in; they share meaning through the core;
 * - the core never imports a way in, nor the composition of the servers (src/compose/);
 * - src/compose/ (the API with the web UI on it, the Xen Shell, the metrics listener) is imported
 *   by `pvhctl serve`/`shell` (src/cli) and by tests only;
 * - the simulator (src/drivers/sim) is reached only through the driver interface: only the
 *   driver table (src/drivers/) opens it; no other product module imports it (tests do: it is
 *   the fleet they run against);
 * - product modules do not import test tooling (test/, lab/); `pvhctl lab` and `serve --demo`
 *   (src/cli) load the lab with a dynamic import when they run, and may name its types.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const ROOT = resolve(import.meta.dirname, '..');
const SRC = join(ROOT, 'src');
const WAYS_IN = new Set(['cli', 'api', 'web', 'shell']);

/**
 * Product modules that still break a rule, each with the rule: the list may only shrink (the test
 * also fails when a listed module no longer breaks it, so it is taken off).
 */
const KNOWN: ReadonlyMap<string, string> = new Map([]);

/** Every .ts file under `dir`, as paths relative to the repository (src/web/static is the browser's). */
function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name === 'testdata' || e.name === 'node_modules' || relative(ROOT, p) === 'src/web/static') continue;
      out.push(...sources(p));
    } else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(relative(ROOT, p));
  }
  return out;
}

/**
 * The relative specifiers a module imports: static imports and re-exports (also over several
 * lines), side-effect imports, and dynamic `import('…')`.
 * @example
 * specifiers("import { a } from './a.ts';\nexport * from '../b.ts';\nawait import('./c.ts');") // => ['./a.ts', '../b.ts', './c.ts']
 */
export function specifiers(text: string): string[] {
  return imports(text).map((i) => i.spec);
}

/** An import: its specifier, and whether it loads the module (`static`), only names its types, or loads it when run (`dynamic`). */
type Import = { spec: string; how: 'static' | 'type' | 'dynamic' };

function imports(text: string): Import[] {
  const out: Import[] = [];
  for (const m of text.matchAll(/^[ \t]*(import type\b|import|export)\b(?:[^;'"]*?\bfrom)?\s*['"]([^'"\n]+)['"]/gm)) out.push({ spec: m[2]!, how: m[1] === 'import type' ? 'type' : 'static' });
  for (const m of text.matchAll(/\bimport\(\s*['"]([^'"\n]+)['"]\s*\)/g)) out.push({ spec: m[1]!, how: 'dynamic' });
  return out.filter((i) => i.spec.startsWith('.'));
}

/** The area of a repository path: `src/fleet/x.ts` → `fleet`, `src/drivers/sim/x.ts` → `drivers/sim`, `lab/x.ts` → `lab`. */
function area(path: string): string {
  const parts = path.split('/');
  if (parts[0] !== 'src') return parts[0]!;
  if (parts[1] === 'drivers' && parts[2] === 'sim') return 'drivers/sim';
  return parts.length > 2 ? parts[1]! : 'src';
}

/** The rule `from` importing `to` breaks, or null; `how` is how it imports it. */
function broken(from: string, to: string, how: Import['how'] = 'static'): string | null {
  const a = area(from);
  const b = area(to);
  const isTest = from.endsWith('.test.ts');
  if (a === b) return null;
  if (WAYS_IN.has(a) && WAYS_IN.has(b)) return `a way in (src/${a}) imports another (src/${b})`;
  if (!WAYS_IN.has(a) && a !== 'compose' && (WAYS_IN.has(b) || b === 'compose')) return `the core (src/${a}) imports src/${b}`;
  if (b === 'compose' && a !== 'cli' && !isTest) return `src/compose is for src/cli and tests (imported from src/${a})`;
  // The driver table (src/drivers/open.ts) opens it like any other driver.
  if (b === 'drivers/sim' && !isTest && a !== 'drivers') return 'the simulator is reached only through the driver interface';
  const labOnDemand = b === 'lab' && a === 'cli' && how !== 'static';
  if ((b === 'test' || b === 'lab') && !isTest && !labOnDemand) return `product code imports test tooling (${b}/)`;
  return null;
}

/** Every rule broken under src/: `FILE imports TARGET: RULE`. */
function violations(): Map<string, string> {
  const found = new Map<string, string>();
  for (const file of sources(SRC)) {
    for (const { spec, how } of imports(readFileSync(join(ROOT, file), 'utf8'))) {
      const target = relative(ROOT, resolve(ROOT, dirname(file), spec));
      const rule = broken(file, target, how);
      if (rule !== null) found.set(file, [found.get(file), `${file} imports ${target}: ${rule}`].filter(Boolean).join('\n'));
    }
  }
  return found;
}

test('specifiers finds static, multi-line, re-exported, side-effect and dynamic imports, not packages', () => {
  const text = "import {\n  a,\n  b,\n} from '../x/a.ts';\nimport type { T } from './t.ts';\nexport { c } from '../c.ts';\nimport './side.ts';\nimport pino from 'pino';\nconst m = await import('../../lab/lab.ts');\n";
  assert.deepEqual(specifiers(text), ['../x/a.ts', './t.ts', '../c.ts', './side.ts', '../../lab/lab.ts']);
});

test('the rules catch each kind of wrong import', () => {
  assert.match(broken('src/web/summary.ts', 'src/cli/guest.ts')!, /a way in/);
  assert.match(broken('src/shell/backend.ts', 'src/api/server.ts')!, /a way in/);
  assert.match(broken('src/settings/load.ts', 'src/cli/args.ts')!, /the core/);
  assert.match(broken('src/fleet/hosts.ts', 'src/drivers/sim/driver.ts')!, /simulator/);
  assert.match(broken('src/cli/lab.ts', 'lab/lab.ts')!, /test tooling/);
  assert.equal(broken('src/cli/lab.ts', 'lab/lab.ts', 'dynamic'), null);
  assert.match(broken('src/fleet/fleet.ts', 'lab/lab.ts', 'dynamic')!, /test tooling/);
  assert.match(broken('src/api/server.ts', 'src/compose/servers.ts')!, /a way in|compose/);
  assert.equal(broken('src/cli/serve.ts', 'src/compose/servers.ts'), null);
  assert.equal(broken('src/fleet/crash.test.ts', 'src/drivers/sim/world.ts'), null);
  assert.equal(broken('src/drivers/open.ts', 'src/drivers/sim/driver.ts'), null);
  assert.equal(broken('src/shell/backend.ts', 'src/fleet/switch.ts'), null);
});

test('the domain types (src/fleet/types.ts) are a leaf: every layer may import them, they import nothing', () => {
  assert.deepEqual(specifiers(readFileSync(join(SRC, 'fleet', 'types.ts'), 'utf8')), []);
  assert.doesNotMatch(readFileSync(join(SRC, 'fleet', 'types.ts'), 'utf8'), /^import /m);
});

test('ways in call the core and never each other; the simulator and test tooling stay out of the product', () => {
  const found = violations();
  const unknown = [...found].filter(([file]) => !KNOWN.has(file)).map(([, v]) => v);
  assert.deepEqual(unknown, [], `imports that break the layering:\n${unknown.join('\n')}`);
  const fixed = [...KNOWN.keys()].filter((file) => !found.has(file));
  assert.deepEqual(fixed, [], 'listed in KNOWN but no longer breaking a rule: take them off the list');
});
