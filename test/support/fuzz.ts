/**
 * Small, seeded mutation fuzzing shared by the parsers' fuzz tests. The case count and seed come
 * from PVHCTL_FUZZ_CASES (a multiplier, default 1) and PVHCTL_FUZZ_SEED, so CI runs a bounded
 * number and a failure can be replayed.
 */
import { rng } from '../../src/util/rng.ts';

export { rng };

export function fuzzSeed(): number {
  const env = process.env.PVHCTL_FUZZ_SEED;
  return env !== undefined ? Number(env) : Math.floor(Math.random() * 2 ** 31);
}

/** `base` cases scaled by PVHCTL_FUZZ_CASES (a multiplier; CI uses the default 1). */
export function fuzzCases(base: number): number {
  const m = Number(process.env.PVHCTL_FUZZ_CASES ?? '1');
  return Math.max(1, Math.round(base * (Number.isFinite(m) && m > 0 ? m : 1)));
}

const INTERESTING32 = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff];

/**
 * A mutated copy of `input`: byte flips, interesting 32-bit values, a truncation or a
 * duplicated block, chosen by `r`; mutations land in [lo, hi) when given.
 */
export function mutate(input: Uint8Array, r: () => number, lo = 0, hi = input.length): Buffer {
  const out = Buffer.from(input);
  const pick = (n: number) => Math.floor(r() * n);
  const at = () => lo + pick(Math.max(1, Math.min(hi, out.length) - lo));
  const n = 1 + pick(6);
  for (let i = 0; i < n; i++) {
    switch (pick(5)) {
      case 0:
        out[at()]! ^= 1 << pick(8);
        break;
      case 1:
        out[at()] = pick(256);
        break;
      case 2: {
        const p = at();
        if (p + 4 <= out.length) out.writeUInt32LE(INTERESTING32[pick(INTERESTING32.length)]!, p);
        break;
      }
      case 3:
        return out.subarray(0, at());
      case 4: {
        const p = at();
        const len = 1 + pick(64);
        out.copy(out, Math.min(out.length - 1, p + len), p, Math.min(out.length, p + len));
        break;
      }
    }
  }
  return out;
}
