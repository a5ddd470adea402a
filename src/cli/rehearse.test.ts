import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'pvhctl.js');

test('pvhctl rehearse on a simulated host: it came up (0), it did not (3, with the console), cannot (1); guest show keeps the result per kernel', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-cli-rehearse-'));
  const runEnv = (env: Record<string, string>, ...args: string[]) => {
    const r = spawnSync(process.execPath, [BIN, ...args, '--data-dir', dir], { encoding: 'utf8', env: { ...process.env, ...env } });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  const run = (...args: string[]) => runEnv({}, ...args);
  try {
    assert.equal(run('host', 'add', 'sim1', '--sim', '8:3').code, 0);
    assert.equal(run('scan').code, 0);
    const list = JSON.parse(run('guest', 'list', '--json').out) as { name: string; canBecome: string }[];
    const [good, bad] = list.filter((x) => x.canBecome === 'pvh');
    const ok = run('rehearse', good!.name, '--boot-timeout', '20');
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.out, /: passed: Your server was test-booted in PVH mode on a copy of its disk on \d{4}-\d\d-\d\d: it came up\./);
    assert.match(ok.err, /snapshot +begin/);
    const show = run('guest', 'show', good!.name);
    assert.match(show.out, /rehearsal 6\.1\.0-26-amd64 pvh +passed +Your server was test-booted/);
    // A kernel panic as PVH on the copy: exit 3, the step and the console's last lines.
    const simFile = join(dir, 'sim', 'sim1.json');
    const state = JSON.parse(readFileSync(simFile, 'utf8'));
    state.guests[bad!.name].faults.push({ kind: 'panic', onType: 'pvh', count: 1 });
    writeFileSync(simFile, JSON.stringify(state));
    const fail = run('rehearse', bad!.name, '--boot-timeout', '20');
    assert.equal(fail.code, 3, fail.err);
    assert.match(fail.out, /failed at verify: Your server was test-booted .*: it did not come up/);
    assert.match(fail.out, /console \(last lines\):\n(?:.*\n){0,20} *Kernel panic - not syncing/);
    const json = JSON.parse(run('guest', 'show', bad!.name, '--json').out);
    assert.equal(json.rehearsals[0].status, 'failed');
    assert.equal(json.type, 'pv');
    // No room for a CoW area: cannot rehearse, exit 1, nothing made.
    state.guests[bad!.name].faults = [];
    const now = JSON.parse(readFileSync(simFile, 'utf8'));
    now.vgs.vg0.freeExtents = 3;
    writeFileSync(simFile, JSON.stringify(now));
    const cannot = run('rehearse', good!.name);
    assert.equal(cannot.code, 1);
    assert.match(cannot.out, /cannot-rehearse: Your server could not be test-booted in PVH mode on .*: its host has no room for a copy of its disks right now\. /);
    assert.match(cannot.out, /\n {2}reason {4}vg-full: volume group vg0 has 3 free extents/);
    assert.equal(run('rehearse', good!.name, '--cow-percent', '0').code, 2);
    assert.equal(run('rehearse').code, 2);
    // pvhctl.conf's rehearse and verify sections (here through their environment variables), the flags over them.
    const roomy = JSON.parse(readFileSync(simFile, 'utf8'));
    roomy.vgs.vg0.freeExtents = 2000;
    writeFileSync(simFile, JSON.stringify(roomy));
    const lv = roomy.volumes[`/dev/vg0/${good!.name}`];
    const whole = run('rehearse', good!.name, '--json');
    assert.equal(whole.code, 0, whole.out);
    const full = runEnv({ PVHCTL_REHEARSE_COW_PERCENT: '100' }, 'rehearse', good!.name);
    assert.equal(full.code, 1, full.out);
    assert.match(full.out, new RegExp(`vg-full: volume group vg0 has 2000 free extents .* the snapshots need ${lv.sizeBytes / roomy.vgs.vg0.extentBytes} `));
    assert.equal(runEnv({ PVHCTL_REHEARSE_COW_PERCENT: '100' }, 'rehearse', good!.name, '--cow-percent', '10').code, 0);
    const slow = JSON.parse(readFileSync(simFile, 'utf8'));
    slow.guests[good!.name].faults.push({ kind: 'no-getty', onType: 'pvh', count: 1 });
    writeFileSync(simFile, JSON.stringify(slow));
    const noLogin = runEnv({ PVHCTL_BOOT_TIMEOUT: '1' }, 'rehearse', good!.name);
    assert.equal(noLogin.code, 3, noLogin.out);
    assert.match(noLogin.out, /did not reach a login prompt on its console within 1 s/);
    const after = JSON.parse(readFileSync(simFile, 'utf8'));
    assert.deepEqual(Object.keys(after.domains).filter((n: string) => n.startsWith('pvhctl-rehearse-')), []);
    assert.deepEqual(Object.keys(after.volumes).filter((n: string) => n.includes('pvhctl-rehearse-')), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
