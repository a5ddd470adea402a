import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSim } from '../drivers/sim/world.ts';
import { openFleet } from '../fleet/fleet.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'pvhctl.js');

test('SIGTERM in the middle of a switch lets it finish: the guest is not left down', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-sigterm-'));
  try {
    const fleet = await openFleet({ dataDir: dir });
    const host = await fleet.store.addHost({
      name: 'slow', transport: 'sim', endpoint: JSON.stringify({ guests: 2, seed: 9, pvOnly: 0, bootMs: 5, shutdownMs: 1500 }), key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 1,
      xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
      // A guest that takes 1.5 s to shut down: the signal arrives while it is going down.
    });
    await fleet.scan(host);
    const [g] = await fleet.store.listGuests();
    await fleet.close();
    const child = spawn(process.execPath, [BIN, 'switch', g!.name, '--to', 'pvh', '--data-dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => {
      err += b.toString();
      if (/shutdown +begin/.test(err) && !child.killed) child.kill('SIGTERM');
    });
    const [code] = await once(child, 'exit');
    assert.equal(code, 0, err);
    assert.match(err, /finishing the switch in flight/);
    const after = await openFleet({ dataDir: dir, recover: false });
    const [op] = await after.store.listOperations({ guestId: g!.id });
    assert.equal(op?.status, 'done', 'the switch did not finish before the process ended');
    await after.close();
    const d = loadSim(join(dir, 'sim', 'slow.json')).state.domains[g!.name];
    assert.equal(d?.state, 'running');
    assert.equal(d?.type, 'pvh');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
