import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Notice } from '../fleet/notice.ts';
import type { GuestPath } from '../fleet/planner.ts';
import { rng } from '../util/rng.ts';
import { composeMail, customerSteps, distroFamily, slotWords, type ComposeInput } from './compose.ts';

const slot = { start: new Date('2026-12-08T01:00:00Z'), end: new Date('2026-12-08T04:00:00Z'), timeZone: 'Europe/Berlin' };
const notice = (over: Partial<Notice> = {}): Notice => ({
  kind: 'notice', campaignId: 1, campaignName: 'Winter move', guestId: 7, guestName: 'web1', owner: 'alice', host: 'xen1',
  slot, path: { path: 'pvh-now' }, distro: 'debian', ...over,
});
const input = (n: Notice): ComposeInput => ({ notice: n, downtime: { seconds: 50, basis: 'measured', switches: 3 }, link: 'https://pvh.example.com/g/7?exp=1&sig=abc', linkExpires: new Date('2027-01-07T00:00:00Z') });

test('the slot is shown in the host time zone, across a day boundary too', () => {
  assert.equal(slotWords(slot), 'Tuesday 8 December 2026 between 02:00 and 05:00 (Europe/Berlin time)');
  assert.equal(slotWords({ ...slot, timeZone: 'America/New_York' }), 'Monday 7 December 2026 between 20:00 and 23:00 (America/New_York time)');
  assert.equal(slotWords({ ...slot, end: new Date('2026-12-08T23:30:00Z') }), 'Tuesday 8 December 2026 at 02:00 to Wednesday 9 December 2026 at 00:30 (Europe/Berlin time)');
  assert.match(slotWords({ ...slot, timeZone: 'Not/AZone' }), /between 01:00 and 04:00 \(UTC time\)$/);
});

test('a notice says when, what happens, how long the server is down, and links its page', () => {
  const m = composeMail(input(notice()));
  assert.equal(m.subject, 'Planned maintenance of your server "web1"');
  assert.match(m.text, /Tuesday 8 December 2026 between 02:00 and 05:00 \(Europe\/Berlin time\)/);
  assert.match(m.text, /switched to PVH mode in its maintenance window/);
  assert.match(m.text, /down for about 50 seconds/);
  assert.match(m.text, /put back as it was automatically/);
  assert.match(m.text, /https:\/\/pvh\.example\.com\/g\/7\?exp=1&sig=abc/);
  assert.match(m.html, /<a href="https:\/\/pvh\.example\.com\/g\/7\?exp=1&amp;sig=abc">/);
  assert.equal(composeMail(input(notice({ kind: 'reminder' }))).subject, 'Reminder: maintenance of your server "web1" tomorrow');
});

test('results: switched, rolled back with why, not started', () => {
  const r = (outcome: Notice['outcome']) => composeMail(input(notice({ kind: 'result', outcome })));
  assert.equal(r({ kind: 'switched', to: 'pvh' }).subject, 'Your server "web1" now runs in PVH mode');
  assert.match(r({ kind: 'switched', to: 'pvh-shim' }).text, /switched to PVH \(with the PV shim\) mode and runs again/);
  const rb = r({ kind: 'rolled-back', to: 'pvh', reason: "the server's kernel has no PVH support" });
  assert.equal(rb.subject, 'Your server "web1" was put back as it was');
  assert.match(rb.text, /did not work: the server's kernel has no PVH support\. Your server was put back as it was/);
  assert.match(r({ kind: 'not-started', reason: 'the window closed' }).text, /did not take place: the window closed\. Your server was not touched/);
});

test('a customer who must act first gets steps for their distribution', () => {
  const upgrade: GuestPath = { path: 'after-kernel-upgrade', install: 'linux-image-amd64 from Debian 10 or later (apt-get install linux-image-amd64)' };
  const reboot: GuestPath = { path: 'after-reboot', kernel: '/boot/vmlinuz-5.14.0-427.el9.x86_64', entry: 'Rocky Linux (5.14.0-427.el9.x86_64)' };
  assert.match(customerSteps(upgrade, 'ubuntu')[1]!, /apt-get update/);
  assert.match(customerSteps(upgrade, 'rocky')[1]!, /dnf \(yum on EL7/);
  assert.match(customerSteps({ path: 'after-kernel-upgrade', install: 'linux-virt (apk add linux-virt)' }, 'alpine')[1]!, /apk add linux-virt/);
  assert.match(customerSteps(reboot, 'rocky')[1]!, /grubby --set-default \/boot\/vmlinuz-5\.14\.0-427\.el9\.x86_64/);
  assert.match(customerSteps({ ...reboot, entry: 'Debian GNU/Linux' }, 'debian')[1]!, /GRUB_DEFAULT="Debian GNU\/Linux"/);
  assert.match(customerSteps({ ...reboot, entry: null }, 'debian')[1]!, /run update-grub/);
  assert.match(customerSteps(reboot, null)[1]!, /default entry of the server's boot menu/);
  assert.deepEqual(customerSteps({ path: 'pvh-now' }, 'debian'), []);
  // The first step is the fleet's own sentence (src/fleet/words.ts), said once in the mail.
  const m = composeMail(input(notice({ path: upgrade })));
  assert.equal(m.text.split('To run in PVH mode without the shim, install linux-image-amd64').length, 2);
  assert.match(m.text, /Before Tuesday 8 December 2026 at 02:00 \(Europe\/Berlin time\), please do this/);
  assert.equal(distroFamily('almalinux'), 'rhel');
});

/** Strings a customer may name a guest, or put on its disk. */
const HOSTILE = ['\r\nBcc: evil@example.com', '<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', '\u202egnp.exe', '\x1b[31m', '{kernel}', '&amp;', "'", '\u2028\u2029', '\0', 'é'.repeat(300)];

test('fuzz: hostile names never reach a header or the HTML unescaped (bounded run)', () => {
  const r = rng(14);
  const pick = () => Array.from({ length: 1 + Math.floor(r() * 4) }, () => HOSTILE[Math.floor(r() * HOSTILE.length)]! + String.fromCharCode(Math.floor(r() * 0x3000))).join('');
  const outcomes: Notice['outcome'][] = [{ kind: 'switched', to: 'pvh' }, { kind: 'rolled-back', to: 'pvh', reason: pick() }, { kind: 'not-started', reason: pick() }];
  for (let i = 0; i < 2000; i++) {
    const paths: GuestPath[] = [{ path: 'pvh-now' }, { path: 'after-reboot', kernel: pick(), entry: r() < 0.5 ? null : pick() }, { path: 'after-kernel-upgrade', install: pick() }, { path: 'blocked', why: { code: 'inspection-blocked', reasons: [pick()] } }];
    const n = notice({
      kind: (['notice', 'reminder', 'result'] as const)[i % 3]!, guestName: pick(), owner: pick(), host: pick(), campaignName: pick(),
      path: paths[Math.floor(r() * paths.length)]!, distro: r() < 0.3 ? pick() : 'debian', outcome: outcomes[Math.floor(r() * 3)]!,
      slot: { ...slot, timeZone: r() < 0.2 ? pick() : slot.timeZone },
    });
    const m = composeMail(input(n));
    assert.doesNotMatch(m.subject, /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202e]/, `subject ${JSON.stringify(m.subject)}`);
    assert.ok(m.subject.length <= 160);
    assert.doesNotMatch(m.text, /[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202e]/, 'text: no control except newline');
    // The only tags are ours: <p>, <a href> and the document's own.
    for (const tag of m.html.match(/<[^>]*>/g) ?? []) assert.match(tag, /^<(\/?(p|html|body)|!doctype html|a href="https:\/\/pvh\.example\.com\/g\/7\?exp=1&amp;sig=abc"|\/a)>$/, tag);
    assert.ok(m.text.length < 20_000);
  }
});
