/**
 * Bounded mutation fuzzing of what pvhctl reads from a host (xl info, xl list, xl list -l,
 * xenstore-ls) and of the config reader and rewrite: every mutated input gives a value or a
 * DriverError / a one-line refusal, never another exception, and the rewrite of anything that
 * parsed parses again as the target type.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DriverError } from '../driver.ts';
import { parseFrontends, parseXlInfo, parseXlList, parseXlListLong } from './parse.ts';
import { readConfigFacts, rewriteConfig } from '../../fleet/xlconfig.ts';
import { fuzzCases, fuzzSeed, mutate, rng } from '../../../test/support/fuzz.ts';

const INFO = 'host : lab\nxen_version : 4.17.5-pre\nxen_caps : xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_64\nvirt_caps : pv hvm hap\n';
const LIST = 'Name ID Mem VCPUs State Time(s)\nDomain-0 0 1024 2 r----- 12.3\nweb 3 256 1 -b---- 1.2\n';
const LONG = JSON.stringify([{ domid: 3, config: { c_info: { type: 'pvh', name: 'web' }, b_info: { 'type.pvh': { pvshim: 'True' } } } }]);
const XS = '/local/domain/3/device/vbd/51712/state = "4"\n/local/domain/3/device/vif/0/state = "4"\n';
const CFG = '# web\nname = "web"\nbuilder = "generic"\nkernel = "/usr/lib/grub-xen/grub-x86_64-xen.bin"\nmemory = 512\ndisk = [ \'phy:/dev/vg0/web,xvda,w\', ]\nvif = [ "bridge=xenbr0" ]\n';

test('xl output parsers and the config rewrite survive mutated input', () => {
  const seed = fuzzSeed();
  const r = rng(seed);
  const cases = fuzzCases(3000);
  const expected = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      if (!(err instanceof DriverError)) throw new Error(`seed ${seed}: ${String(err)}`);
    }
  };
  for (let i = 0; i < cases; i++) {
    const s = (base: string) => mutate(Buffer.from(base), r).toString('latin1');
    expected(() => parseXlInfo(s(INFO)));
    expected(() => parseXlList(s(LIST)));
    expected(() => parseXlListLong(s(LONG)));
    expected(() => parseFrontends(s(XS), 3));
    const cfg = mutate(Buffer.from(CFG), r);
    const facts = readConfigFacts(cfg, 'web.cfg');
    if (!facts.ok) {
      assert.equal(typeof facts.error, 'string', `seed ${seed}`);
      assert.ok(!facts.error.includes('\n') || facts.error.split('\n').length <= 3, `seed ${seed}: ${facts.error}`);
      continue;
    }
    for (const to of ['pvh', 'pvh-shim'] as const) {
      const rw = rewriteConfig(cfg, 'web.cfg', to, { verdict: null, xenCaps: [] });
      if (!rw.ok) continue;
      const again = readConfigFacts(rw.content, 'web.cfg');
      assert.ok(again.ok && again.facts.type === to, `seed ${seed}: rewrite to ${to} gave ${again.ok ? again.facts.type : again.error}`);
    }
  }
});
