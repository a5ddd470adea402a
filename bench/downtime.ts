/**
 * Downtime benchmark on the Xen lab (real Xen 4.17 under QEMU, reached over SSH with the xl
 * driver): what a customer's server is down for when pvhctl switches it from PV to PVH, against
 * the floor of doing the same by hand in dom0, both in one run on the same lab boot; and what a
 * PVH boot that fails costs the customer without a rehearsal (shutdown, the failed boot, the
 * rollback, the PV boot) and with one first (nothing: the guest keeps running).
 *
 *   flock /tmp/pvhctl-lab.lock node bench/downtime.ts [ROUNDS [GUEST...]]   (default 2 rounds of
 *   direct64, pvgrub64 and deb12-amd64; 0 rounds measures only the failed boot with and without a
 *   rehearsal)
 *
 * Downtime is measured from the start of the shutdown to the sign of life the switch's
 * verification waits for (the guest's disk frontend Connected in xenstore):
 * - pvhctl: from its journal (`shutdown` begun to `verify` done), as `switchDowntimes` computes it
 *   for the customer's estimate; every step is an SSH round trip from this host.
 * - by hand: one shell script inside dom0 (no SSH per step, timestamps from dom0's clock):
 *   `xl shutdown` and the old domain gone from xenstore, the config edited beforehand with sed (lab/guests.ts pvhEditScript) put in
 *   place, `xl create`, then xenstore polled until the disk frontend is Connected.
 * Both also give the time until the guest's own userland reported PVH on its console (the marker
 * guests' initramfs, the Debian system's systemd unit): for a guest booted by GRUB, the disk
 * frontend is connected by GRUB itself, long before the system is up. By hand it is read in the
 * same dom0 script; for pvhctl, by a dom0 watcher started when the switch returns, its answer
 * timed on this host's clock as the journal is (within one SSH round trip).
 * A PVH boot that dies for the emulator's reason (lab/retries.ts) is retried and said.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labExec, startLab, stopLab, waitForToolstack, type LabEndpoint } from '../lab/lab.ts';
import { bootGuest } from '../lab/guest-boot.ts';
import { DEBIAN_GUESTS, labDebianGuests, pvhEditScript } from '../lab/guests.ts';
import { PVH_ATTEMPTS, SWITCH_BOOT_DIED } from '../lab/retries.ts';
import { resetLab } from '../test/support/lab.ts';
import { openFleet, type Fleet } from '../src/fleet/fleet.ts';
import { startSwitch } from '../src/fleet/switch.ts';
import { operatorRefusalWords } from '../src/fleet/reasons.ts';
import { startRehearsal } from '../src/fleet/rehearse.ts';
import type { Operation } from '../src/store/schema.ts';
import type { Rehearsal } from '../src/store/rehearsals.ts';

const ROUNDS = Number(process.argv[2] ?? 2);
const KNOWN = ['direct64', 'pvgrub64', ...labDebianGuests().map((g) => g.name)];
const GUESTS = process.argv.length > 3 ? process.argv.slice(3) : KNOWN;
for (const g of GUESTS) if (!KNOWN.includes(g)) throw new Error(`bench/downtime.ts: no guest '${g.slice(0, 40)}' to measure (${KNOWN.join(', ')})`);
if (!Number.isInteger(ROUNDS) || ROUNDS < 0 || ROUNDS > 20) throw new Error('bench/downtime.ts: ROUNDS is a whole number from 0 to 20');
/** Bounds per guest, in s: a systemd system booted through PV GRUB under nested TCG takes minutes. */
const bounds = (name: string) => (DEBIAN_GUESTS.some((g) => g.name === name) ? { boot: 900, shutdown: 300 } : { boot: 240, shutdown: 120 });
const secs = (ms: number) => (ms / 1000).toFixed(1);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const log = (l: string) => process.stderr.write(`${l}\n`);

async function dom0(lab: LabEndpoint, command: string, timeoutMs = 300_000): Promise<string> {
  const r = await labExec(lab, command, timeoutMs);
  if (r.code !== 0) throw new Error(`dom0: ${command.split('\n')[0]}: exit ${r.code}: ${r.stderr}${r.stdout}`.slice(0, 800));
  return r.stdout;
}

/** dom0 as booted, then `name` started from its PV config (the state a customer's guest is in before a switch). */
async function runningAsPv(lab: LabEndpoint, name: string): Promise<void> {
  await resetLab(lab);
  for (let i = 1; ; i++) {
    const b = await bootGuest(lab, name, `/etc/xen/${name}.cfg`, bounds(name).boot);
    if (b.kind === 'marker') return;
    if (i >= 2) throw new Error(`${name} did not boot as PV: ${b.kind}`);
    log(`  retry: ${name}'s PV boot ended '${b.kind}'`);
  }
}

/** The dom0 shell lines that wait for a fresh `guest_type=PVH` marker in NAME's console log past byte $seen, bounded by $end. */
function waitMarker(name: string): string[] {
  return [
    `while [ $(date +%s) -lt $end ] && ! tail -c +$((seen + 1)) /var/log/xen/console/guest-${name}.log 2>/dev/null | grep -q 'PVHCTL-LAB-MARKER .*guest_type=PVH'; do`,
    '  sleep 0.2 2>/dev/null || sleep 1',
    'done',
  ];
}

/** The size of a guest's console log in dom0 now: what a later boot's output comes after. */
async function consoleSize(lab: LabEndpoint, name: string): Promise<number> {
  return Number((await dom0(lab, `wc -c < /var/log/xen/console/guest-${name}.log 2>/dev/null || echo 0`)).trim());
}

/**
 * The switch by hand, timed inside dom0 in ms: shutdown (waiting for the domain to go), the edited
 * config put in place, create, and the disk frontend Connected (XenbusState 4); then on until the
 * guest's userland reported PVH on its console (`userland`, null when it did not within the bound).
 */
async function byHand(lab: LabEndpoint, name: string): Promise<{ ms: number; userland: number | null } | { failed: string }> {
  const b = bounds(name);
  const seen = await consoleSize(lab, name);
  await dom0(lab, `${pvhEditScript(name)} >/dev/null`);
  // /proc/uptime: dom0's clock in centiseconds, with no dependence on the date command's features.
  const out = await dom0(lab, [
    'now() { read u _ < /proc/uptime; echo "${u%.*}${u#*.}0"; }',
    // Waiting as cheaply as pvhctl does: xenstore, not `xl` in a loop (each xl call is costly in
    // dom0 and slows the guest's own shutdown). The name is free once the old domain's xenstore
    // directory is gone (xl shutdown -w returns before the xl process that created the domain
    // has destroyed it, and until then xl create says the name exists).
    `seen=${seen}; old=$(xl domid ${name}); t0=$(now); timeout -s KILL ${b.shutdown} xl shutdown ${name} 2>&1`,
    `i=0; while xenstore-exists /local/domain/$old 2>/dev/null && [ $i -lt ${b.shutdown * 5} ]; do sleep 0.2 2>/dev/null || sleep 1; i=$((i + 1)); done`,
    `cp /etc/xen/${name}-pvh.cfg /etc/xen/${name}.cfg.new && mv /etc/xen/${name}.cfg.new /etc/xen/${name}.cfg`,
    `timeout -s KILL 120 xl create /etc/xen/${name}.cfg 2>&1 || { echo "@@FAILED xl create"; exit 0; }`,
    `domid=$(xl domid ${name}); end=$(( $(date +%s) + ${b.boot} ))`,
    'while [ $(date +%s) -lt $end ]; do',
    '  s=$(xenstore-read /local/domain/$domid/device/vbd/51712/state 2>/dev/null)',
    '  if [ "$s" = 4 ]; then',
    '    t1=$(now); echo "@@MS $(( t1 - t0 ))"',
    ...waitMarker(name).map((l) => `    ${l}`),
    '    [ $(date +%s) -lt $end ] && { t2=$(now); echo "@@USERLAND $(( t2 - t0 ))"; }',
    '    exit 0',
    '  fi',
    `  xenstore-exists /local/domain/$domid || { echo "@@FAILED the domain went away"; tail -c 2000 /var/log/xen/console/guest-${name}.log; exit 0; }`,
    '  sleep 0.2 2>/dev/null || sleep 1',
    `done; echo "@@FAILED no Connected disk frontend in ${b.boot} s"`,
  ].join('\n'), (b.shutdown + 2 * b.boot + 60) * 1000);
  const m = /@@MS (\d+)/.exec(out);
  const u = /@@USERLAND (\d+)/.exec(out);
  return m === null ? { failed: out.slice(-1500) } : { ms: Number(m[1]), userland: u === null ? null : Number(u[1]) };
}

/** Waits in dom0 for the guest's userland to report PVH past console byte `seen`; this host's clock when it did, or null. */
async function userlandAt(lab: LabEndpoint, name: string, seen: number): Promise<number | null> {
  const out = await dom0(lab, [`seen=${seen}; end=$(( $(date +%s) + ${bounds(name).boot} ))`, ...waitMarker(name), '[ $(date +%s) -lt $end ] && echo "@@SEEN"; true'].join('\n'), (bounds(name).boot + 60) * 1000);
  return out.includes('@@SEEN') ? Date.now() : null;
}

/** ms from the journal's `shutdown` begun to its last row (the verify of the boot that counted), and when it began (ms since the epoch). */
async function journalDowntime(fleet: Fleet, op: Operation): Promise<{ ms: number; from: number }> {
  const rows = await fleet.store.journalOf(op.id);
  const from = rows.find((r) => r.step === 'shutdown' && r.phase === 'begin');
  // The boot that counted: the switch's verify, or after a failed boot the rollback's.
  const to = rows.filter((r) => (r.step === 'verify' || r.step === 'rollback-verify') && r.phase === 'done').at(-1);
  if (!from || !to) throw new Error(`operation ${op.id} has no shutdown/verify in its journal`);
  return { ms: Date.parse(to.at) - Date.parse(from.at), from: Date.parse(from.at) };
}

async function switchOnce(fleet: Fleet, name: string, to: 'pvh', force: boolean): Promise<Operation> {
  const g = (await fleet.store.getGuest(name))[0]!;
  const r = await startSwitch(fleet.ctx, g, to, { force, actor: 'bench' });
  if (r.kind !== 'started') throw new Error(`${name}: switch refused: ${operatorRefusalWords(r.refusal)}`);
  return r.finished;
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const lab = await startLab({ log });
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-bench-downtime-'));
  let fleet: Fleet | undefined;
  const retries: string[] = [];
  try {
    await waitForToolstack(lab);
    await resetLab(lab);
    const longest = Math.max(...GUESTS.map((g) => bounds(g).boot), 240);
    fleet = await openFleet({ dataDir: dir, verify: { bootTimeoutMs: longest * 1000, pollMs: 500 }, shutdownTimeoutMs: Math.max(...GUESTS.map((g) => bounds(g).shutdown), 120) * 1000 });
    const host = await fleet.store.addHost({
      name: 'lab', transport: 'ssh', endpoint: `root@127.0.0.1:${lab.port}`, key_path: lab.keyPath, host_key: lab.hostKey, config_dir: '/etc/xen',
      role: 'pv-pvh', max_parallel: 1, xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
    });
    await fleet.scan(host);

    type Row = { guest: string; pvhctl: number[]; hand: number[]; pvhctlUserland: (number | null)[]; handUserland: (number | null)[] };
    const rows: Row[] = [];
    for (const name of ROUNDS === 0 ? [] : GUESTS) {
      const row: Row = { guest: name, pvhctl: [], hand: [], pvhctlUserland: [], handUserland: [] };
      for (let round = 1; round <= ROUNDS; round++) {
        // Alternate which goes first, so that neither always gets the lab warm.
        for (const who of round % 2 === 1 ? (['hand', 'pvhctl'] as const) : (['pvhctl', 'hand'] as const)) {
          for (let attempt = 1; ; attempt++) {
            await runningAsPv(lab, name);
            if (who === 'hand') {
              await fleet.scan(host);
              const r = await byHand(lab, name);
              if ('ms' in r) {
                row.hand.push(r.ms);
                row.handUserland.push(r.userland);
                break;
              }
              log(`  ${name} by hand: ${r.failed}`);
            } else {
              await fleet.scan(host);
              const seen = await consoleSize(lab, name);
              const op = await switchOnce(fleet, name, 'pvh', false);
              if (op.status === 'done') {
                const { ms, from } = await journalDowntime(fleet, op);
                row.pvhctl.push(ms);
                const at = await userlandAt(lab, name, seen);
                row.pvhctlUserland.push(at === null ? null : at - from);
                break;
              }
              if (!SWITCH_BOOT_DIED.test(op.reason ?? '')) throw new Error(`${name}: switch ${op.status}: ${op.reason} (${op.detail})`);
            }
            retries.push(`${name} ${who} round ${round}: the PVH boot died (the lab's emulator flake)`);
            if (attempt >= PVH_ATTEMPTS) throw new Error(`${name}: the PVH boot died ${attempt} times (${who})`);
          }
          const u = (who === 'hand' ? row.handUserland : row.pvhctlUserland).at(-1);
          log(`  ${name} round ${round} ${who}: ${secs((who === 'hand' ? row.hand : row.pvhctl).at(-1)!)} s, userland ${u == null ? 'not seen' : `${secs(u)} s`}`);
        }
      }
      rows.push(row);
    }

    // A PVH boot that fails (nopvh: its kernel has no PVH entry, switched with --force).
    await runningAsPv(lab, 'nopvh');
    await fleet.scan(host);
    const failed = await switchOnce(fleet, 'nopvh', 'pvh', true);
    if (failed.status !== 'rolled-back') throw new Error(`nopvh: expected a rollback, got ${failed.status}: ${failed.reason}`);
    const failedDown = (await journalDowntime(fleet, failed)).ms;
    await runningAsPv(lab, 'nopvh');
    await fleet.scan(host);
    const domidBefore = (await dom0(lab, 'xl domid nopvh')).trim();
    const g = (await fleet.store.getGuest('nopvh'))[0]!;
    const req = await startRehearsal(fleet.ctx, g, { actor: 'bench', options: { force: true } });
    if (req.kind !== 'started') throw new Error(`nopvh: rehearsal refused: ${req.reason}`);
    const tr = Date.now();
    const rehearsal: Rehearsal = await req.finished;
    const rehearsalMs = Date.now() - tr;
    const domidAfter = (await dom0(lab, 'xl domid nopvh')).trim();
    if (rehearsal.status !== 'failed') throw new Error(`nopvh: expected the rehearsal to fail, got ${rehearsal.status}: ${rehearsal.reason}`);

    const out: string[] = [];
    out.push(`downtime on the Xen lab, ${ROUNDS} round(s) per guest (${new Date().toISOString().slice(0, 10)}, load ${(await import('node:os')).loadavg()[0]!.toFixed(1)}):`);
    out.push('to the disk frontend Connected (what the switch verifies):');
    out.push('guest        pvhctl (s, each)        by hand (s, each)       median ratio');
    for (const r of rows.filter((r) => r.pvhctl.length > 0 && r.hand.length > 0)) {
      out.push(`${r.guest.padEnd(12)} ${r.pvhctl.map(secs).join(', ').padEnd(23)} ${r.hand.map(secs).join(', ').padEnd(23)} ${(median(r.pvhctl) / median(r.hand)).toFixed(2)}x`);
    }
    out.push('to its userland reporting PVH on its console (- : not seen within the bound):');
    const us = (xs: (number | null)[]) => xs.map((x) => (x === null ? '-' : secs(x))).join(', ');
    for (const r of rows.filter((r) => r.pvhctl.length > 0 && r.hand.length > 0)) {
      out.push(`${r.guest.padEnd(12)} ${us(r.pvhctlUserland).padEnd(23)} ${us(r.handUserland)}`);
    }
    out.push(`failed PVH boot (nopvh, --force), no rehearsal: down ${secs(failedDown)} s (shutdown, the failed PVH boot, the rollback, the PV boot)`);
    out.push(`failed PVH boot, rehearsed first: down 0 s (domid ${domidBefore} before and ${domidAfter} after; the rehearsal took ${secs(rehearsalMs)} s and failed at '${rehearsal.step}': ${rehearsal.reason})`);
    out.push(`retries (emulator flake): ${retries.length === 0 ? 'none' : retries.join('; ')}`);
    out.push(`whole run ${secs(Date.now() - t0)} s including the lab's boot`);
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    await fleet?.close();
    await stopLab(lab);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
