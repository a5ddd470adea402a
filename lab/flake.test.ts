import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tally, tripleFaults } from './flake.ts';

test('tripleFaults finds each triple fault Xen logged, with the RIP of the dump that follows', () => {
  const log = [
    '(XEN) [   52.123456] d5v0 Triple fault - invoking HVM shutdown action 1',
    '(XEN) [   52.123500] *** Dumping Dom5 vcpu#0 state: ***',
    '(XEN) [   52.123600] ----[ Xen-4.17.6-pre  x86_64  debug=n  Not tainted ]----',
    '(XEN) [   52.123700] CPU:    1',
    '(XEN) [   52.123800] RIP:    0010:[<ffffffff81a3c2d5>]',
    '(XEN) [   90.000000] d9v0 Triple fault - invoking HVM shutdown action 1',
    'unrelated',
  ].join('\n');
  assert.deepEqual(tripleFaults(log), [
    { domain: 'd5v0', rip: '0010:[<ffffffff81a3c2d5>]' },
    { domain: 'd9v0', rip: null },
  ]);
  assert.deepEqual(tripleFaults('no faults\r\n'), []);
});

test('tally counts marker, died and other boots, overall and per guest', () => {
  const t = tally([
    { guest: 'direct64', kind: 'marker' },
    { guest: 'pvgrub64', kind: 'died' },
    { guest: 'direct64', kind: 'timeout' },
    { guest: 'pvgrub64', kind: 'marker' },
  ]);
  assert.deepEqual(t, { boots: 4, marker: 2, died: 1, other: 1, byGuest: { direct64: { boots: 2, died: 0 }, pvgrub64: { boots: 2, died: 1 } } });
});
