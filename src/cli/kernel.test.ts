/** `pvhctl kernel` as a user runs it: output, --json fields, exit codes, escaping. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { kernel } from '../../test/fixtures/kernels.ts';

const bin = new URL('../../bin/pvhctl.js', import.meta.url).pathname;
const pvhctl = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

test('pvhctl kernel --json: one object per file with the documented fields; exit 1 when one fails', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-cli-'));
  const evil = join(dir, 'evil\x1b[31mname');
  writeFileSync(evil, 'garbage');
  const amd64 = (await kernel('amd64')).vmlinuz;
  const pae = (await kernel('686-pae')).vmlinuz;
  const r = pvhctl('kernel', '--json', amd64, evil, pae);
  assert.equal(r.status, 1);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 3);
  for (const o of lines) for (const f of ['file', 'format', 'compression', 'version', 'arch', 'notes', 'pv', 'pvh', 'error']) assert.ok(f in o, f);
  assert.deepEqual([lines[0].pv.capable, lines[0].pv.abi, lines[0].pvh.capable, lines[0].error], [true, 'xen-3.0-x86_64', true, null]);
  assert.deepEqual([lines[2].pv.capable, lines[2].pvh.capable, lines[2].arch], [false, true, 'x86_32p']);
  assert.match(lines[1].error, /^not a kernel image/);
  assert.equal(lines[1].pv, null);
  // the one-line error on stderr names the file, with its escape character made visible
  assert.equal(r.stderr.split('\n').filter(Boolean).length, 1);
  assert.match(r.stderr, /^pvhctl kernel: .*evil\\x1b\[31mname: not a kernel image/);
});

test('pvhctl kernel text report names the verdicts and Xen\'s messages', async () => {
  const r = pvhctl('kernel', (await kernel('686')).vmlinuz);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /PV {8}no {2}xen-3\.0-x86_32: The kernel was built without Xen support/);
  assert.match(r.stdout, /Xen says: ERROR: Will only load images/);
});

test('usage errors exit 2', () => {
  assert.equal(pvhctl('kernel').status, 2);
  assert.equal(pvhctl('kernel', '--bogus', 'x').status, 2);
  assert.equal(pvhctl('kernel', '--jobs', '0', 'x').status, 2);
  assert.equal(pvhctl('no-such-command').status, 2);
  assert.equal(pvhctl('kernel', '--help').status, 0);
});
