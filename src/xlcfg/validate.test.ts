import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseXlConfig } from './parser.ts';
import { guestType, modelOf, readXlNumber } from './model.ts';
import { validateConfig, type Finding } from './validate.ts';

function findings(text: string): Finding[] {
  const r = parseXlConfig(text, 'g.cfg');
  assert.ok(r.ok);
  return validateConfig(r.config).findings;
}

test('guest type: prefix matching in the order hvm, pv, pvh; builder; contradictions', () => {
  assert.deepEqual(guestType(undefined, undefined), { ok: true, type: 'pv', from: 'default' });
  assert.deepEqual(guestType('', undefined), { ok: true, type: 'hvm', from: 'type' });
  assert.deepEqual(guestType('h', undefined), { ok: true, type: 'hvm', from: 'type' });
  assert.deepEqual(guestType('p', undefined), { ok: true, type: 'pv', from: 'type' });
  assert.deepEqual(guestType('pvh', undefined), { ok: true, type: 'pvh', from: 'type' });
  assert.deepEqual(guestType('PVH', undefined), { ok: false, error: 'Invalid domain type PVH.' });
  assert.deepEqual(guestType(undefined, 'generic'), { ok: true, type: 'pv', from: 'builder' });
  assert.deepEqual(guestType(undefined, 'linux'), { ok: false, error: 'Invalid domain type linux.' });
  assert.deepEqual(guestType('pvh', 'generic'), { ok: false, error: 'Contradicting "builder" and "type" options specified.' });
  assert.deepEqual(guestType('hvm', 'hvm'), { ok: true, type: 'hvm', from: 'type' });
});

test('numbers are read as strtol base 0; += on a number is refused', () => {
  const n = (value: string, op: '=' | '+=' = '=') => readXlNumber({ key: 'memory', op, value, line: 1, number: true });
  assert.deepEqual(n('1024'), { ok: true, value: 1024 });
  assert.deepEqual(n('0x400'), { ok: true, value: 1024 });
  assert.deepEqual(n('0512'), { ok: true, value: 330 });
  assert.equal(n('1e3').ok, false);
  assert.equal(n('512', '+=').ok, false);
});

test('PV: nothing to boot and PVH-only keys are errors; HVM keys are ignored; cmdline warns', () => {
  const f = findings('name = "a"\npvshim = 1\nserial = "pty"\n');
  assert.ok(f.some((x) => x.severity === 'error' && /needs one of kernel, bootloader or firmware/.test(x.message)));
  assert.ok(f.some((x) => x.severity === 'error' && x.key === 'pvshim'));
  assert.ok(f.some((x) => x.severity === 'ignored' && x.key === 'serial'));
  assert.ok(findings('name = "a"\nkernel = "/k"\ncmdline = "x"\nroot = "/dev/xvda1"\n').some((x) => x.severity === 'warning' && x.key === 'cmdline'));
  assert.ok(findings('kernel = "/k"\n').some((x) => x.message === 'Domain name must be specified.'));
});

test('PVH: pci is an error, e820_host and top-level vnc are ignored, memory < maxmem warns of PoD', () => {
  const f = findings('name = "a"\ntype = "pvh"\nkernel = "/k"\npci = [ "01:00.0" ]\ne820_host = 1\nvnc = 1\nmemory = 512\nmaxmem = 1024\n');
  assert.deepEqual(f.map((x) => `${x.severity}:${x.key}`).sort(), ['error:pci', 'ignored:e820_host', 'ignored:vnc', 'warning:memory']);
  assert.ok(findings('name = "a"\ntype = "pvh"\nfirmware = "pvgrub64"\n').some((x) => x.severity === 'error' && x.key === 'firmware'));
  assert.ok(!findings('name = "a"\ntype = "pvh"\npvshim = 1\nfirmware = "pvgrub64"\n').some((x) => x.severity === 'error'));
});

test('bad disk specs and type errors are errors', () => {
  assert.ok(findings('name = "a"\nkernel = "/k"\ndisk = [ "/dev/vg/a,xvda,w" ]\n').some((x) => x.key === 'disk' && /unknown value for format/.test(x.message)));
  assert.ok(findings('name = "a"\ntype = "PVH"\n').some((x) => x.key === 'type'));
});

test('vif and vfb entries are split into their options', () => {
  const r = parseXlConfig('name = "a"\nvif = [ "bridge=xenbr0, mac=00:16:3e:00:00:01,ip=10.0.0.2 10.0.0.3", "" ]\nvfb = [ "vnc=1,vnclisten=0.0.0.0" ]\n', 'g.cfg');
  assert.ok(r.ok);
  const m = modelOf(r.config);
  assert.equal(m.vifs[0]!.options.get('mac'), '00:16:3e:00:00:01');
  assert.equal(m.vifs[0]!.options.get('ip'), '10.0.0.2 10.0.0.3');
  assert.equal(m.vifs[1]!.options.size, 0);
  assert.equal(m.vfbs[0]!.options.get('vnclisten'), '0.0.0.0');
});
