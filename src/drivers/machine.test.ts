/**
 * A `--local` host belongs to the machine it was added on: `host add --local` records it, and a
 * process on another machine (one PostgreSQL store, several machines) refuses to drive it, in
 * words, without running its own xl; a worker there hands the job back (src/fleet/queue.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { domainName } from './driver.ts';
import { machineOf, thisMachine } from './machine.ts';
import { openDriver } from './open.ts';
import { openFleet } from '../fleet/fleet.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'pvhctl.js');

test('machineOf: machine-id(5) when it is 32 hex digits, else the host name', () => {
  assert.equal(machineOf('3d1219c7c4c5404aaa1f6d2a48adfda4\n', 'xen1'), 'machine-id:3d1219c7c4c5404aaa1f6d2a48adfda4');
  assert.equal(machineOf(null, 'xen1'), 'hostname:xen1');
  assert.equal(machineOf('uninitialized\n', 'xen1'), 'hostname:xen1');
  assert.equal(machineOf('', 'xen1'), 'hostname:xen1');
});

test('a local host of another machine: every driver call is refused in words, nothing run here', async () => {
  const d = openDriver({ name: 'xen-a', transport: 'local', endpoint: null, key_path: null, host_key: null, machine: 'hostname:dom0-a' }, { simDir: null });
  for (const call of [() => d.domain(domainName('web1')), () => d.listDomains(), () => d.info(), () => d.create(join('/etc/xen', 'web1.cfg') as never)]) {
    await assert.rejects(call(), (err: Error) => err.message === `host xen-a is the local xl of machine hostname:dom0-a, not of this one (${thisMachine()}): run pvhctl there, or add the host with --ssh`);
  }
});

test('pvhctl host add --local records this machine with the host', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-machine-'));
  try {
    const r = spawnSync(process.execPath, [BIN, 'host', 'add', 'here', '--local', '--data-dir', dir], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const fleet = await openFleet({ dataDir: dir, recover: false });
    try {
      assert.equal((await fleet.store.getHost('here'))?.machine, thisMachine());
    } finally {
      await fleet.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
