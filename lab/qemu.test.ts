import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkQemuVersion, qemuArgs } from './lab.ts';

test('only Debian 12 QEMU 7.2 is accepted', () => {
  assert.equal(checkQemuVersion('QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)'), null);
  assert.match(checkQemuVersion('QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-1~bpo12+1)') ?? '', /not Debian 12's 7\.2/);
  assert.match(checkQemuVersion('garbage') ?? '', /cannot read/);
});

test('the QEMU command line: TCG, SVM with NPT, loopback-only SSH forward, Xen with dom0 as modules', () => {
  const args = qemuArgs(
    { xen: '/b/xen', vmlinuz: '/b/vmlinuz', initrd: '/b/dom0.cpio.gz' },
    { port: 40123, overlay: '/r/data.qcow2', serialLog: '/r/serial.log', pidFile: '/r/qemu.pid', memoryMiB: 3072 },
  );
  const at = (flag: string) => args[args.indexOf(flag) + 1];
  assert.equal(at('-cpu'), 'qemu64,+svm,+npt');
  assert.match(at('-accel') ?? '', /^tcg/);
  assert.match(at('-netdev') ?? '', /hostfwd=tcp:127\.0\.0\.1:40123-10\.0\.2\.15:22/);
  assert.equal(at('-kernel'), '/b/xen');
  assert.match(at('-append') ?? '', /dom0_mem=1024M/);
  assert.equal(at('-initrd'), '/b/vmlinuz console=hvc0 earlyprintk=xen rdinit=/init,/b/dom0.cpio.gz');
  assert.throws(() => qemuArgs({ xen: '/x', vmlinuz: '/a,b', initrd: '/i' }, { port: 1, overlay: '/o', serialLog: '/s', pidFile: '/p', memoryMiB: 3072 }), /comma/);
});

test('an experiment may choose another -cpu or -accel (lab/flake.ts); nothing that could add an option', () => {
  const b = { xen: '/b/xen', vmlinuz: '/b/vmlinuz', initrd: '/b/i' };
  const o = { port: 1, overlay: '/o', serialLog: '/s', pidFile: '/p', memoryMiB: 3072 };
  const args = qemuArgs(b, { ...o, cpu: 'qemu64,+svm,+npt,-x2apic', accel: 'tcg,thread=single' });
  assert.equal(args[args.indexOf('-cpu') + 1], 'qemu64,+svm,+npt,-x2apic');
  assert.equal(args[args.indexOf('-accel') + 1], 'tcg,thread=single');
  for (const bad of ['qemu64 -S', '', '-cpu', 'a\nb']) assert.throws(() => qemuArgs(b, { ...o, cpu: bad }), /bad QEMU/);
});

test('an experiment may choose the emulated CPUs and dom0 memory (lab/jit.ts); bounded', () => {
  const b = { xen: '/b/xen', vmlinuz: '/b/vmlinuz', initrd: '/b/i' };
  const o = { port: 1, overlay: '/o', serialLog: '/s', pidFile: '/p', memoryMiB: 3072 };
  const dflt = qemuArgs(b, o);
  assert.equal(dflt[dflt.indexOf('-smp') + 1], '2');
  const args = qemuArgs(b, { ...o, smp: 1, dom0MemMiB: 2048 });
  assert.equal(args[args.indexOf('-smp') + 1], '1');
  assert.match(args[args.indexOf('-append') + 1] ?? '', / dom0_mem=2048M,max:2048M$/);
  for (const bad of [{ smp: 0 }, { smp: 1.5 }, { dom0MemMiB: 3072 }, { dom0MemMiB: 100 }]) assert.throws(() => qemuArgs(b, { ...o, ...bad }), /bad/);
});
