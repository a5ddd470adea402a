import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bootScript, parseBoot } from './guest-boot.ts';

test('parseBoot tells refusal, marker, hang, death and timeout apart', () => {
  const refused = parseBoot('Parsing config from /etc/xen/a.cfg\nxc: error: panic: xg_dom_elfloader.c:63: xc_dom_guest_type: image not capable\n@@RC 1\n@@END timeout vbd=none\n@@CONSOLE\n', 5);
  assert.equal(refused.kind, 'refused');
  assert.match(refused.output, /not capable/);
  const marker = parseBoot('Parsing config\n@@RC 0\n@@END marker vbd=4\n@@CONSOLE\nboot...\nPVHCTL-LAB-MARKER name=a guest_type=PVH disk=a\n', 7);
  assert.equal(marker.kind, 'marker');
  assert.equal(marker.kind === 'marker' && marker.marker.guestType, 'PVH');
  const hang = parseBoot('@@RC 0\n@@END hang vbd=1\n@@CONSOLE\nPVHCTL-LAB-HANG name=h guest_type=PVH\n', 9);
  assert.deepEqual(hang.kind === 'hang' && hang.vbdState, 1);
  assert.equal(parseBoot('@@RC 0\n@@END died vbd=none\n@@CONSOLE\n', 1).kind, 'died');
  assert.equal(parseBoot('@@RC 0\n@@END timeout vbd=3\n@@CONSOLE\n', 1).kind, 'timeout');
  // The marker claimed by the loop but not parseable from the console is a death, not a pass.
  assert.equal(parseBoot('@@RC 0\n@@END marker vbd=4\n@@CONSOLE\nPVHCTL-LAB-MARKER guest_type=PV\n', 1).kind, 'died');
  // Truncated output (connection lost) is never a success.
  assert.equal(parseBoot('Parsing config from x', 1).kind, 'refused');
  assert.equal(parseBoot('@@RC 0\n', 1).kind, 'timeout');
});

test('bootScript accepts only plain guest names and quotes the config path', () => {
  assert.throws(() => bootScript('a;reboot', '/etc/xen/a.cfg', 10), /bad guest name/);
  assert.throws(() => bootScript('', '/x', 10), /bad guest name/);
  const s = bootScript('direct64', "/tmp/it's.cfg", 30);
  assert.ok(s.includes(`xl create '/tmp/it'\\''s.cfg'`));
  assert.match(s, /deadline=\$\(\( \$\(date \+%s\) \+ 30 \)\)/);
});
