import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'pvhctl.js');

/** Runs pvhctl with `--data-dir dir` appended. */
const runIn = (dir: string) => (...args: string[]) => {
  const r = spawnSync(process.execPath, [BIN, ...args, '--data-dir', dir], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

test('pvhctl host/scan/guest/switch/rollback on a simulated host: output, --json and exit codes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-cli-'));
  const run = runIn(dir);
  try {
    const dryAdd = run('host', 'add', 'sim1', '--sim', '6:3', '--dry-run', '--json');
    assert.equal(dryAdd.code, 0);
    assert.equal(JSON.parse(dryAdd.out).name, 'sim1');
    assert.equal(JSON.parse(run('host', 'list', '--json').out).length, 0);
    assert.equal(run('host', 'add', 'sim1', '--sim', '6:3').code, 0);
    const dryScan = run('scan', '--dry-run', '--json');
    assert.equal(JSON.parse(dryScan.out).guests, 6);
    assert.equal(JSON.parse(run('guest', 'list', '--json').out).length, 0);
    assert.equal(run('host', 'add', 'sim1', '--sim', '6:3').code, 1);
    assert.equal(run('host', 'add', 'x;y', '--sim', '6').code, 1);
    assert.equal(run('host', 'add', 'sim2').code, 2);
    const scan = run('scan', '--json');
    assert.equal(scan.code, 0, scan.err);
    assert.equal(JSON.parse(scan.out).guests, 6);
    const list = JSON.parse(run('guest', 'list', '--json').out) as { name: string; canBecome: string; type: string; runState: string | null }[];
    assert.equal(list.length, 6);
    // whether each guest runs, as the scan saw it, in --json and in the table's STATE column
    assert.ok(list.every((x) => x.runState === 'running' || x.runState === 'stopped'), JSON.stringify(list.map((x) => x.runState)));
    const rows = run('guest', 'list').out.trim().split('\n');
    assert.match(rows[0]!, /\bSTATE\b/);
    for (const r of rows.slice(1)) assert.match(r, /\s(running|stopped)\s/);
    const g = list.find((x) => x.canBecome === 'pvh')!;
    const shimOnly = list.find((x) => x.canBecome === 'pvh-shim');
    const dry = run('switch', g.name, '--to', 'pvh', '--dry-run', '--json');
    assert.equal(dry.code, 0);
    assert.equal(JSON.parse(dry.out).allowed, true);
    assert.equal(run('switch', g.name).code, 2);
    assert.equal(run('switch', 'no-such-guest', '--to', 'pvh').code, 1);
    const sw = run('switch', g.name, '--to', 'pvh', '--json');
    assert.equal(sw.code, 0, sw.err);
    assert.equal(JSON.parse(sw.out).status, 'done');
    if (shimOnly) {
      const refused = run('switch', shimOnly.name, '--to', 'pvh');
      assert.equal(refused.code, 1);
      assert.match(refused.err, /cannot start in PVH mode/);
    }
    const rb = run('rollback', g.name, '--json');
    assert.equal(rb.code, 0, rb.err);
    assert.equal(JSON.parse(rb.out).status, 'rolled-back');
    // the undo moved the guest from PVH back to PV, and says so
    assert.match(run('guest', 'show', `sim1/${g.name}`).out, /op \d+ {2}rollback pvh → pv {2}rolled-back/);
    const show = JSON.parse(run('guest', 'show', `sim1/${g.name}`, '--json').out);
    assert.equal(show.type, 'pv');
    assert.equal(show.operations.length, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('nothing silently done: scan with no hosts, and a data directory with no store for commands that only read', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-cli-'));
  const run = (d: string, ...args: string[]) => {
    const r = spawnSync(process.execPath, [BIN, ...args, '--data-dir', d], { encoding: 'utf8' });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  try {
    const typo = join(dir, 'no-such-store');
    for (const args of [['guest', 'list'], ['guest', 'show', 'x'], ['host', 'list'], ['host', 'show', 'x'], ['scan'], ['switch', 'x', '--to', 'pvh'], ['rollback', 'x']]) {
      const r = run(typo, ...args);
      assert.equal(r.code, 1, args.join(' '));
      assert.match(r.err, /^pvhctl \w+: no pvhctl data in .*no-such-store/, args.join(' '));
      assert.equal(r.err.split('\n').length, 2, r.err);
      assert.equal(existsSync(typo), false, `${args.join(' ')} created ${typo}`);
    }
    assert.equal(run(dir, 'host', 'add', 'sim1', '--sim', '2', '--dry-run').code, 0); // creates the store, adds nothing
    const scan = run(dir, 'scan');
    assert.equal(scan.code, 1);
    assert.match(scan.err, /no hosts to scan/);
    assert.equal(run(dir, 'guest', 'list', '--json').code, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('pvhctl switch --all: every guest of a host asked for at once, a line per guest that did not switch, the worst exit status', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-cli-all-'));
  const run = runIn(dir);
  try {
    assert.equal(run('host', 'add', 'sim1', '--sim', '8:3').code, 0);
    assert.equal(run('host', 'add', 'sim2', '--sim', '3:4').code, 0);
    assert.equal(run('scan').code, 0);
    const list = JSON.parse(run('guest', 'list', '--json').out) as { name: string; host: string; canBecome: string }[];
    const onSim1 = list.filter((g) => g.host === 'sim1');
    const pvh = onSim1.filter((g) => g.canBecome === 'pvh').length;
    assert.ok(pvh > 0 && pvh < onSim1.length, JSON.stringify(onSim1));
    assert.equal(run('switch', '--all', onSim1[0]!.name, '--to', 'pvh').code, 2);
    assert.equal(run('switch', onSim1[0]!.name, '--host', 'sim1', '--to', 'pvh').code, 2);
    assert.equal(run('switch', '--all', '--host', 'nope', '--to', 'pvh').code, 1);
    const all = run('switch', '--all', '--host', 'sim1', '--to', 'pvh', '--json');
    // The PV-only kernels are refused by their pre-check: exit 1, the worst outcome.
    assert.equal(all.code, 1, all.err);
    const r = JSON.parse(all.out) as { counts: Record<string, number>; results: { guest: string; status: string; reason: string | null }[] };
    assert.deepEqual(r.counts, { done: pvh, refused: onSim1.length - pvh });
    assert.ok(r.results.filter((x) => x.status === 'refused').every((x) => /PVH/.test(x.reason ?? '')), JSON.stringify(r.results));
    const after = JSON.parse(run('guest', 'list', '--json').out) as { name: string; host: string; type: string }[];
    assert.equal(after.filter((g) => g.host === 'sim1' && g.type === 'pvh').length, pvh);
    assert.ok(after.filter((g) => g.host === 'sim2').every((g) => g.type === 'pv'), 'the other host untouched');
    // Again: the switched guests are not asked for twice; the text names each guest that did not switch.
    const again = run('switch', '--all', '--host', 'sim1', '--to', 'pvh');
    assert.equal(again.code, 1);
    assert.equal(again.out.trim().split('\n').length, onSim1.length - pvh + 1, again.out);
    assert.match(again.out, new RegExp(`^${onSim1.length - pvh} refused$`, 'm'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
