import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { domainName } from '../driver.ts';
import { simDriver } from './driver.ts';
import { makeSimHost } from './fleet.ts';
import { loadSim } from './world.ts';

// A simulated host kept in a file is what several worker processes drive (bench/fleet.ts,
// src/fleet/workers.test.ts): every xl call takes its lock, so a call must cost no more than it needs.

test('a call that only reads does not write the host file again; one that changes it does', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-sim-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'sim1.json');
  const h = makeSimHost({ name: 'sim1', guests: 2, seed: 3, bootMs: 0, shutdownMs: 0 }, file);
  const d = simDriver(h);
  const name = domainName(Object.keys(h.state.guests)[0]!);
  // Each save counts a generation in FILE.lock, which tells the other processes to read the file again.
  const generation = () => {
    const db = new DatabaseSync(`${file}.lock`, { readOnly: true });
    try {
      return (db.prepare('SELECT n FROM gen').get() as { n: number }).n;
    } finally {
      db.close();
    }
  };
  return (async () => {
    await d.domain(name);
    const before = generation();
    for (let i = 0; i < 5; i++) assert.notEqual(await d.domain(name), null);
    await d.listDomains();
    assert.equal(generation(), before);
    await d.destroy(name);
    assert.equal(generation(), before + 1);
    assert.equal(loadSim(file).state.domains[name], undefined, 'the change is saved for the other processes');
  })();
});

test('waiting for a shutdown asks the host again when the shutdown is due, not every poll interval', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-sim-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const h = makeSimHost({ name: 'sim1', guests: 1, seed: 3, bootMs: 0, shutdownMs: 300 }, join(dir, 'sim1.json'));
  const d = simDriver(h, { pollMs: 2 });
  const name = domainName(Object.keys(h.state.guests)[0]!);
  const calls = h.state.calls;
  assert.equal(await d.shutdown(name, 60_000), 'stopped');
  // Start it, look once when it is due (and once more if the timer fired a little early).
  assert.ok(h.state.calls - calls <= 4, `${h.state.calls - calls} calls to wait for one 300 ms shutdown`);
});
