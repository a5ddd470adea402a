/**
 * A JIT stress for the lab's dom0, run by the .deb's own Node 24 through lab/jit.ts (which copies
 * this file to /tmp/jit-probe.ts): it does, many times a second, what V8 did when the installed
 * pvhctl died there with `Check failed: it->second.Size() > offset` (a GC walking a stack of
 * JIT frames and looking each return address up among the code allocations it registered):
 *
 *   /usr/lib/pvhctl/runtime/bin/node --expose-gc --allow-natives-syntax /tmp/jit-probe.ts SECONDS [WORKERS]
 *
 * Each round compiles fresh functions (new source, so new code), JavaScript tiered up by force to
 * Sparkplug, Maglev and Turbofan and WebAssembly tiered up by V8 itself, deoptimises some, calls
 * them as a chain whose deepest call runs a GC (a full one every fourth round) with every link's
 * frame on the stack, then drops them, so their code is freed and its addresses reused by the next
 * round. WORKERS threads (default 1) do the same beside the main thread, so that both of dom0's
 * vCPUs write and run code of one process. Every result is checked against a plain reference
 * computation: exit 3 when compiled code returned a wrong value (a miscompile or stale code), 0
 * otherwise; a crash is the signal the shell sees.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

/** What one thread did. */
type Tally = { rounds: number; functions: number; gcs: number; wrong: number; firstWrong: string };

/** One link of the chain: computes its own value, then calls the next link. */
export type Link = (n: number, next: () => number) => number;

/**
 * The value a link with this seed must compute, by the same recurrence in plain code.
 * @example
 * reference(7, 2) // => 7 * 31 + (0 ^ 7) = 224, then 224 * 31 + (1 ^ 7) = 6950
 */
export function reference(seed: number, n: number): number {
  let s = seed;
  for (let k = 0; k < n; k++) s = (Math.imul(s, 31) + (k ^ seed)) | 0;
  return s;
}

/**
 * A new function for this seed: its source is unique, so V8 compiles new bytecode and new machine
 * code for it rather than sharing an earlier round's.
 * @example
 * link(7)(2, () => 1) // => 6951 (reference(7, 2) + 1)
 */
export function link(seed: number): Link {
  return new Function('n', 'next', `let s = ${seed}; for (let k = 0; k < n; k++) s = (Math.imul(s, 31) + (k ^ ${seed})) | 0; return (s + next()) | 0;`) as Link;
}

/** The part of the WebAssembly global used here (the project's TypeScript libs do not declare it). */
const Wasm = (globalThis as unknown as {
  WebAssembly: { Module: new (bytes: Uint8Array) => object; Instance: new (module: object, imports: object) => { exports: Record<string, unknown> } };
}).WebAssembly;

/**
 * `n` as a signed LEB128, the encoding of a WebAssembly i32.const immediate.
 * @example
 * sleb(-1) // => [0x7f]
 * sleb(64) // => [0xc0, 0x00]
 */
export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    const done = (n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

/**
 * The same link as WebAssembly: `(func (export "f") (param i32) (result i32))` importing `m.next`.
 * The seed is in the code, so each module is new to V8 (no native-module cache hit) and is
 * compiled by Liftoff, then by Turbofan in the background once hot (dynamic tiering), and its code
 * is freed when the module is dropped: the code churn of nodejs/node#64500's Node 24 crashes in
 * the same V8 code registry.
 * @example
 * wasmLink(7)(2, () => 1) // => 6951, as link(7)
 */
export function wasmLink(seed: number): Link {
  const c = sleb(seed);
  const body = [
    0x01, 0x02, 0x7f, // locals: s, k (i32)
    0x41, ...c, 0x21, 0x01, // s = seed
    0x41, 0x00, 0x21, 0x02, // k = 0
    0x02, 0x40, 0x03, 0x40, // block, loop
    0x20, 0x02, 0x20, 0x00, 0x4e, 0x0d, 0x01, // if k >= n: break
    0x20, 0x01, 0x41, 0x1f, 0x6c, // s * 31
    0x20, 0x02, 0x41, ...c, 0x73, 0x6a, 0x21, 0x01, // + (k ^ seed), into s
    0x20, 0x02, 0x41, 0x01, 0x6a, 0x21, 0x02, // k++
    0x0c, 0x00, 0x0b, 0x0b, // continue; end loop, end block
    0x20, 0x01, 0x10, 0x00, 0x6a, 0x0b, // s + next()
  ];
  const bytes = new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    0x01, 0x0a, 0x02, 0x60, 0x00, 0x01, 0x7f, 0x60, 0x01, 0x7f, 0x01, 0x7f, // types: () -> i32, (i32) -> i32
    0x02, 0x0a, 0x01, 0x01, 0x6d, 0x04, 0x6e, 0x65, 0x78, 0x74, 0x00, 0x00, // import m.next: type 0
    0x03, 0x02, 0x01, 0x01, // one function of type 1
    0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x01, // export "f": function 1
    0x0a, body.length + 2, 0x01, body.length, ...body,
  ]);
  let next = () => 0;
  const { exports } = new Wasm.Instance(new Wasm.Module(bytes), { m: { next: () => next() } });
  const f = exports.f as (n: number) => number;
  return (n, then) => {
    next = then;
    return f(n);
  };
}

type TierUp = (f: Link, tier: 'sparkplug' | 'maglev' | 'turbofan') => void;

/**
 * A function that tiers `f` up to `tier`. Its %-natives parse only with --allow-natives-syntax on
 * the command line, so it is made when a stress starts, not when this module loads.
 */
function tierUpper(): TierUp {
  return new Function('f', 'tier', `
    %PrepareFunctionForOptimization(f);
    for (let i = 0; i < 3; i++) f(8, () => 0);
    if (tier === 'maglev') %OptimizeMaglevOnNextCall(f);
    else if (tier === 'turbofan') %OptimizeFunctionOnNextCall(f);
    else %CompileBaseline(f);
    f(8, () => 0);
  `) as TierUp;
}

const TIERS = ['sparkplug', 'maglev', 'turbofan'] as const;
const CHAIN = 12;

/** Runs rounds until `deadline` (ms since the epoch); returns what it did. */
function stress(deadline: number, thread: number): Tally {
  const gc = (globalThis as { gc?: (o?: { type: 'major' | 'minor' }) => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc --allow-natives-syntax');
  const tierUp = tierUpper();
  const t: Tally = { rounds: 0, functions: 0, gcs: 0, wrong: 0, firstWrong: '' };
  for (let round = 0; Date.now() < deadline; round++) {
    const seeds = Array.from({ length: CHAIN }, (_, i) => ((thread + 1) * 1_000_003 + round * CHAIN + i) | 0);
    // Every fourth link is WebAssembly; the others are JavaScript, tiered up by force.
    const links = seeds.map((seed, i) => (i % 4 === 3 ? wasmLink(seed) : link(seed)));
    links.forEach((f, i) => i % 4 !== 3 && tierUp(f, TIERS[i % TIERS.length]!));
    // A double where the optimised code expects a small integer deoptimises it: its code is
    // thrown away while others stay, which leaves holes in the code pages for later rounds.
    if (round % 3 === 0) links[round % CHAIN]!(8.5, () => 0);
    const n = 40 + (round % 7);
    const chain = (i: number): number => {
      if (i === CHAIN) {
        gc({ type: round % 4 === 0 ? 'major' : 'minor' });
        t.gcs++;
        return 0;
      }
      return links[i]!(n, () => chain(i + 1));
    };
    const got = chain(0);
    const want = seeds.reduce((sum, s) => (sum + reference(s, n)) | 0, 0);
    if (got !== want) {
      t.wrong++;
      if (t.firstWrong === '') t.firstWrong = `thread ${thread} round ${round}: got ${got}, want ${want}`;
    }
    t.rounds++;
    t.functions += CHAIN;
  }
  return t;
}

if (isMainThread && import.meta.main) {
  const seconds = Number(process.argv[2] ?? '60');
  const workers = Number(process.argv[3] ?? '1');
  if (!(seconds > 0 && seconds <= 3600) || !Number.isInteger(workers) || workers < 0 || workers > 8) {
    process.stderr.write('usage: node --expose-gc --allow-natives-syntax jit-probe.ts SECONDS(1-3600) [WORKERS(0-8)]\n');
    process.exit(2);
  }
  const deadline = Date.now() + seconds * 1000;
  const others = Array.from({ length: workers }, (_, i) => new Promise<Tally>((resolve, reject) => {
    // V8 flags are per process: the workers have --expose-gc and --allow-natives-syntax too.
    const w = new Worker(new URL(import.meta.url), { workerData: { deadline, thread: i + 1 } });
    w.once('message', resolve);
    w.once('error', reject);
  }));
  const all = [stress(deadline, 0), ...(await Promise.all(others))];
  const sum = (k: 'rounds' | 'functions' | 'gcs' | 'wrong') => all.reduce((s, t) => s + t[k], 0);
  process.stdout.write(`threads ${all.length} rounds ${sum('rounds')} functions ${sum('functions')} gcs ${sum('gcs')} wrong ${sum('wrong')}\n`);
  const wrong = all.find((t) => t.firstWrong !== '');
  if (wrong !== undefined) process.stderr.write(`wrong result: ${wrong.firstWrong}\n`);
  process.exitCode = wrong === undefined ? 0 : 3;
} else if (!isMainThread) {
  const { deadline, thread } = workerData as { deadline: number; thread: number };
  parentPort!.postMessage(stress(deadline, thread));
}
