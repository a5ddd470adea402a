/**
 * `pvhctl overview` in words prints each campaign (state, why it paused, wave, counts, next slot,
 * waves, failed and held guests), with guest, host and reason text escaped as everywhere else.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CampaignProgress } from '../fleet/campaign-progress.ts';
import { campaignLines } from './overview.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'pvhctl.js');

test('a campaign in words: state, pause reason, wave, counts, next slot, waves, failed and held guests; customer and disk text escaped', () => {
  const c: CampaignProgress = {
    id: 1, name: 'winter', state: 'paused',
    pauseReason: 'wave 0 (canary): 1 of 1 failed, above its threshold (any failure): web\x1b[31m rolled-back (boot\npanic)',
    wave: { n: 0, kind: 'canary' },
    windows: { xen1: 'Tue-Thu 02:00-05:00 Europe/Berlin' },
    counts: { waiting: 3, notified: 2, chose: 1, running: 0, switched: 0, failed: 1, held: 1, already: 4, skipped: 0 },
    waves: [{ n: 0, kind: 'canary', guests: 1, switched: 0, failed: 1, running: 0, planned: 0 }, { n: 1, kind: 'main', guests: 5, switched: 0, failed: 0, running: 0, planned: 5 }],
    nextSlot: { start: '2026-12-09T01:00:00.000Z', end: '2026-12-09T04:00:00.000Z', hosts: [{ host: 'xen1', guests: 5 }] },
    failed: [{ guestId: 3, guest: 'web\x1b[31m', host: 'xen1', status: 'rolled-back', reason: 'boot\npanic' }],
    held: [{ guestId: 4, guest: 'db\u202egpj.exe', host: 'xen1', path: { path: 'after-reboot', kernel: '/boot/vmlinuz\x07', entry: null }, words: 'after a reboot into /boot/vmlinuz\x07' }],
    startedAt: '2026-12-06T12:00:00.000Z', endsAt: '2027-01-31T12:00:00.000Z',
  };
  assert.deepEqual(campaignLines(c), [
    'campaign winter: paused since 2026-12-06T12:00Z, slots until 2027-01-31T12:00Z',
    '  paused: wave 0 (canary): 1 of 1 failed, above its threshold (any failure): web\\x1b[31m rolled-back (boot\\npanic)',
    '  at wave 0 (canary); next slot 2026-12-09T01:00Z..2026-12-09T04:00Z: 5 on xen1',
    '  guests: 0 switched, 0 switching now, 2 notified and waiting for their slot, 3 not yet notified, 1 failed, 1 held back, 4 already PVH or HVM, 0 skipped; 1 chose their own time',
    '  window xen1: Tue-Thu 02:00-05:00 Europe/Berlin',
    '  wave 0 (canary): 1 guests, 0 switched, 0 switching, 1 failed, 0 to come',
    '  wave 1: 5 guests, 0 switched, 0 switching, 0 failed, 5 to come',
    '  failed xen1/web\\x1b[31m: rolled-back (boot\\npanic)',
    '  held xen1/db\\u202egpj.exe: after a reboot into /boot/vmlinuz\\x07',
  ]);
  // The lists are bounded (src/fleet/campaign-progress.ts GUESTS_LISTED); the rest is counted.
  assert.equal(campaignLines({ ...c, counts: { ...c.counts, held: 80 } }).at(-1), '  and 79 more failed or held: pvhctl campaign show winter');
  assert.deepEqual(campaignLines({ ...c, state: 'done', pauseReason: null, wave: null, nextSlot: null, waves: [], failed: [], held: [], counts: { ...c.counts, failed: 0, held: 0 } }).slice(0, 2), [
    'campaign winter: done since 2026-12-06T12:00Z, slots until 2027-01-31T12:00Z',
    '  no wave left to run; no slot ahead',
  ]);
});

test('pvhctl overview (no --json) prints a paused campaign from a real store, its reason escaped', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-overview-'));
  const run = (...args: string[]) => {
    const r = spawnSync(process.execPath, [BIN, ...args, '--data-dir', dir], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  try {
    run('host', 'add', 'sim1', '--sim', '10:5');
    run('scan');
    assert.match(run('overview'), /\nno campaigns\n$/);
    run('campaign', 'create', 'winter', '--canary', '1', '--window', 'sim1=daily 02:00-05:00 Europe/Berlin');
    run('campaign', 'start', 'winter');
    run('campaign', 'pause', 'winter', '--reason', 'change freeze\x1b[2J');
    const out = run('overview');
    const o = JSON.parse(run('overview', '--json')) as { campaigns: CampaignProgress[] };
    const c = o.campaigns[0]!;
    assert.equal(c.state, 'paused');
    // The same figures as --json, in words.
    assert.ok(out.includes(`\ncampaigns\n${campaignLines(c).join('\n')}\n`), out);
    assert.match(out, /\ncampaign winter: paused since .*\n  paused: paused by .*: change freeze\\x1b\[2J\n  at wave 0 \(canary\); next slot .*: 1 on sim1\n/);
    assert.doesNotMatch(out, /\x1b/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
