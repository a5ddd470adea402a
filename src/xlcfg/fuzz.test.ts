/**
 * Fuzzing the xl config parser (bounded, seeded; PVHCTL_FUZZ_SEED replays): random bytes, grammar-
 * generated configs and their mutations never make it throw or hang, and everything it accepts
 * prints back exactly and survives an edit round trip.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseXlConfig } from './parser.ts';
import { printXlConfig, removeSetting, setSetting } from './printer.ts';
import { generateConfig, mutateConfig, rng } from './gen.ts';

const SEED = Number(process.env.PVHCTL_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const CASES = Number(process.env.PVHCTL_FUZZ_CASES ?? 5000);

test(`parser fuzz: no throw, print(parse(x)) == x, edits stay readable (seed ${SEED}, ${CASES} cases)`, () => {
  const r = rng(SEED);
  let accepted = 0;
  for (let k = 0; k < CASES; k++) {
    let text: string;
    const kind = r();
    if (kind < 0.2) {
      const bytes = Buffer.alloc(Math.floor(r() * 200));
      for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(r() * 256);
      text = bytes.toString('latin1');
    } else if (kind < 0.5) {
      text = generateConfig(r);
    } else {
      text = mutateConfig(r, generateConfig(r), true);
    }
    let result;
    try {
      result = parseXlConfig(text, 'fuzz.cfg');
    } catch (err) {
      assert.fail(`seed ${SEED} case ${k}: parser threw ${(err as Error).message} on ${JSON.stringify(text)}`);
    }
    if (!result.ok) {
      assert.ok(result.error.line >= 1 && result.error.col >= 1, `seed ${SEED} case ${k}: bad error position`);
      continue;
    }
    accepted++;
    assert.equal(printXlConfig(result.config), text, `seed ${SEED} case ${k}: print(parse(x)) != x`);
    // Edits either succeed (and re-parse) or refuse with a reason; they never throw.
    const set = setSetting(result.config, 'type', 'pvh', { after: ['builder'] });
    if (set.ok) assert.ok(parseXlConfig(printXlConfig(set.config), 'f').ok);
    const rm = removeSetting(result.config, 'memory');
    if (rm.ok) assert.ok(parseXlConfig(printXlConfig(rm.config), 'f').ok);
  }
  assert.ok(accepted > CASES / 10, `seed ${SEED}: only ${accepted} of ${CASES} inputs parsed`);
});
