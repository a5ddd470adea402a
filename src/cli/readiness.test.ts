import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'pvhctl.js');

test('pvhctl readiness on a simulated fleet: per host and totals, in words and as JSON; --host narrows; bad input is refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-readiness-'));
  const run = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args, '--data-dir', dir], { encoding: 'utf8' });
  const ok = (...args: string[]) => {
    const r = run(...args);
    assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  try {
    ok('host', 'add', 'sim1', '--sim', '12:3');
    ok('host', 'add', 'hvm1', '--sim', '3:5', '--role', 'hvm-dedicated');
    ok('scan');
    const guests = JSON.parse(ok('guest', 'list', '--json')) as { host: string; type: string }[];
    const r = JSON.parse(ok('readiness', '--json'));
    assert.equal(r.totals.guests, guests.length);
    assert.equal(r.totals.pvLeft, guests.filter((g) => g.type === 'pv').length);
    const sim1 = r.hosts.find((h: { host: string }) => h.host === 'sim1');
    assert.equal(sim1.withoutPv.kind, 'not-ready');
    assert.match(sim1.words.withoutPv, /^no: 12 guests are PV: sim1-g\d+ /);
    const text = ok('readiness');
    assert.match(text, /^sim1 {2}pv-pvh {2}12 guests, 12 PV/m);
    assert.match(text, /^fleet: 2 hosts, 15 guests; 15 PV left/m);
    assert.deepEqual(JSON.parse(ok('readiness', '--host', 'hvm1', '--json')).hosts.map((h: { host: string }) => h.host), ['hvm1']);
    const unknown = run('readiness', '--host', 'nope');
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /no host named "nope"/);
    assert.equal(run('readiness', 'extra').status, 2);

    // pvhctl overview: a switch this week shows in the weekly series and the per-host counts.
    const one = (JSON.parse(ok('guest', 'list', '--json')) as { name: string; host: string; canBecome: string }[]).find((g) => g.host === 'sim1' && g.canBecome === 'pvh')!;
    assert.equal(JSON.parse(ok('switch', one.name, '--to', 'pvh', '--json')).status, 'done');
    const o = JSON.parse(ok('overview', '--weeks', '3', '--json'));
    assert.deepEqual(o.weeks.map((w: { pvLeft: number; offPv: number }) => [w.pvLeft, w.offPv]), [[15, 0], [15, 0], [14, 1]]);
    assert.deepEqual(o.hosts.map((h: { host: string; byType: { pvh: number } }) => [h.host, h.byType.pvh]), [['hvm1', 0], ['sim1', 1]]);
    assert.deepEqual(o.campaigns, []);
    assert.match(ok('overview'), /^14 PV guests left of 15 \(0 32-bit\); 1 moved off PV/);
    assert.equal(run('overview', '--weeks', '0').status, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
