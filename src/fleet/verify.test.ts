import { test } from 'node:test';
import assert from 'node:assert/strict';
import { consoleCause } from './verify.ts';

test("a dead boot's console gives its cause in one clean line, not the raw tail", () => {
  // The PV shim's own panic, as xenconsoled logs it (CR LF, a blank (XEN) line, then the countdown).
  const shim = [
    '(XEN) [    0.912345] Dom0 has maximum 1 VCPUs',
    '(XEN) [    0.923456] ',
    '(XEN) [    0.934567] ****************************************',
    '(XEN) [    0.934567] Panic on CPU 0:',
    '(XEN) [    0.934567] Could not set up DOM0 guest OS',
    '(XEN) [    0.934567] ****************************************',
    '(XEN) [    0.934567] ',
    '(XEN) [    0.934567] Crash in five seconds...',
  ].join('\r\n');
  assert.equal(consoleCause(shim), 'Xen panic: Could not set up DOM0 guest OS');
  // the tail the issue quoted: what was shown before
  assert.doesNotMatch(consoleCause('(XEN)  \r\n\r(XEN) Crash in five seconds...\r\n'), /\r|\(XEN\)/);
  assert.equal(consoleCause('[    1.2] Freeing unused kernel memory\n[    1.3] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n[    1.3] ---[ end Kernel panic ]---\n'), 'Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)');
  assert.equal(consoleCause('(XEN) d5v0 Triple fault - invoking HVM shutdown action\r\n(XEN) \r\n'), 'd5v0 Triple fault - invoking HVM shutdown action');
  assert.equal(consoleCause('xc_dom_guest_type: image not capable of booting inside a HVM container\n'), 'xc_dom_guest_type: image not capable of booting inside a HVM container');
  assert.equal(consoleCause('\x1b[1;31merror: not a PVH kernel.\x1b[0m\r\n'), 'error: not a PVH kernel.');
  assert.equal(consoleCause('booting\r\nsomething odd\r\n'), 'booting | something odd');
  assert.equal(consoleCause(''), 'nothing on the console');
  assert.ok(consoleCause(`Kernel panic - not syncing: ${'x'.repeat(5000)}`).length <= 300);
});
