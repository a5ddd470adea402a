import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootScript, parseBoot, PROGRESS_CAP } from './guest-boot.ts';

test('parseBoot tells refusal, marker, hang, death and timeout apart', () => {
  const refused = parseBoot('Parsing config from /etc/xen/a.cfg\nxc: error: panic: xg_dom_elfloader.c:63: xc_dom_guest_type: image not capable\n@@RC 1\n@@END timeout vbd=none\n@@CONSOLE\n', 5);
  assert.equal(refused.kind, 'refused');
  assert.match(refused.output, /not capable/);
  const marker = parseBoot('Parsing config\n@@RC 0\n@@END marker vbd=4\n@@CONSOLE\nboot...\nPVHCTL-LAB-MARKER name=a guest_type=PVH disk=a\n', 7);
  assert.equal(marker.kind, 'marker');
  assert.equal(marker.kind === 'marker' && marker.marker.guestType, 'PVH');
  const hang = parseBoot('@@RC 0\n@@END hang vbd=1\n@@CONSOLE\nPVHCTL-LAB-HANG name=h guest_type=PVH\n', 9);
  assert.deepEqual(hang.kind === 'hang' && hang.vbdState, 1);
  assert.equal(parseBoot('@@RC 0\n@@END died vbd=none\n@@CONSOLE\n', 1).kind, 'died');
  assert.equal(parseBoot('@@RC 0\n@@END timeout vbd=3\n@@CONSOLE\n', 1).kind, 'timeout');
  // The marker claimed by the loop but not parseable from the console is a death, not a pass.
  assert.equal(parseBoot('@@RC 0\n@@END marker vbd=4\n@@CONSOLE\nPVHCTL-LAB-MARKER guest_type=PV\n', 1).kind, 'died');
  // Truncated output (connection lost) is never a success.
  assert.equal(parseBoot('Parsing config from x', 1).kind, 'refused');
  assert.equal(parseBoot('@@RC 0\n', 1).kind, 'timeout');
});

test('bootScript accepts only plain guest names and quotes the config path', () => {
  assert.throws(() => bootScript('a;reboot', '/etc/xen/a.cfg', 10), /bad guest name/);
  assert.throws(() => bootScript('', '/x', 10), /bad guest name/);
  const s = bootScript('direct64', "/tmp/it's.cfg", 30);
  assert.ok(s.includes(`xl create '/tmp/it'\\''s.cfg'`));
  assert.match(s, /deadline=\$\(\( \$\(date \+%s\) \+ 30 \)\)/);
});

/**
 * Runs bootScript in a local sh against a stand-in toolstack and a stand-in clock, so that no
 * wall-clock time decides the result: `date +%s` reads a counter that only the stand-in `sleep`
 * advances, and each second it advances appends a line to the guest's console log while fewer
 * than `writes` lines are there, then the marker if asked. Returns the result and the stand-in
 * seconds the wait took.
 */
function runBootScript(waitS: number, writes: number, marker: boolean): { result: ReturnType<typeof parseBoot>; seconds: number } {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-bootscript-'));
  try {
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    const log = join(dir, 'guest-g.log');
    const clock = join(dir, 'clock');
    writeFileSync(clock, '1000\n');
    const grow = `if [ $t -le ${writes} ]; then echo "line $t" >> ${log}; ${marker ? `elif [ $t = ${writes + 1} ]; then echo 'PVHCTL-LAB-MARKER name=g guest_type=PVH disk=g' >> ${log}; ` : ''}fi`;
    writeFileSync(join(bin, 'sleep'), `#!/bin/sh\nc=$(cat ${clock}); n=$((c + $1)); echo $n > ${clock}\nt=$((n - 1000)); ${grow}\n`, { mode: 0o755 });
    writeFileSync(join(bin, 'date'), `#!/bin/sh\ncat ${clock}\n`, { mode: 0o755 });
    writeFileSync(join(bin, 'xl'), '#!/bin/sh\ncase "$1" in\n  domid) echo 7 ;;\nesac\nexit 0\n', { mode: 0o755 });
    writeFileSync(join(bin, 'xenstore-exists'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    writeFileSync(join(bin, 'xenstore-read'), '#!/bin/sh\necho 4\n', { mode: 0o755 });
    const r = spawnSync('sh', ['-c', bootScript('g', '/etc/xen/g.cfg', waitS, dir)], { env: { PATH: `${bin}:/usr/bin:/bin` }, encoding: 'utf8', timeout: 120_000 });
    return { result: parseBoot(r.stdout + r.stderr, 0), seconds: Number.parseInt(readFileSync(clock, 'utf8'), 10) - 1000 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('bootScript waits while the console grows (a slow boot on a loaded host), times out on a silent one, and stops at the cap', () => {
  // 7 s of output, then the marker: more than twice the 3 s bound, reached because the console moved.
  const slow = runBootScript(3, 7, true);
  assert.equal(slow.result.kind, 'marker', JSON.stringify(slow.result));
  assert.equal(slow.seconds, 8);
  // Silent: the bound as given.
  const silent = runBootScript(3, 0, false);
  assert.equal(silent.result.kind, 'timeout');
  assert.equal(silent.seconds, 3);
  // Output that never ends in a marker: stopped at PROGRESS_CAP x the bound, not when the output stops.
  const chatty = runBootScript(2, 60, false);
  assert.equal(chatty.result.kind, 'timeout');
  assert.equal(chatty.seconds, 2 * PROGRESS_CAP);
});
