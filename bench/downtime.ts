/**
 * Downtime benchmark on the Xen lab (real Xen 4.17 under QEMU, reached over SSH with the xl
 * driver): what a customer's server is down for when pvhctl switches it from PV to PVH, against
 * the floor of doing the same by hand in dom0, both in one run on the same lab boot; and what a
 * PVH boot that fails costs the customer without a rehearsal (shutdown, the failed boot, the
 * rollback, the PV boot) and with one first (nothing: the guest keeps running).
 *
 *   flock /tmp/pvhctl-lab.lock node bench/downtime.ts [ROUNDS]   (default 2 rounds per guest;
 *   0 measures only the failed boot with and without a rehearsal)
 *
 * Downtime is measured from the start of the shutdown to the sign of life the switch's
 * verification waits for (the guest's disk frontend Connected in xenstore):
 * - pvhctl: from its journal (`shutdown` begun to `verify` done), as `switchDowntimes` computes it
 *   for the customer's estimate; every step is an SSH round trip from this host.
 * - by hand: one shell script inside dom0 (no SSH per step, timestamps from dom0's clock):
 *   `xl shutdown` and the old domain gone from xenstore, the config edited beforehand with sed (lab/guests.ts pvhEditScript) put in
 *   place, `xl create`, then xenstore polled until the disk frontend is Connected.
 * A PVH boot that dies for the emulator's reason (lab/retries.ts) is retried and said.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labExec, startLab, stopLab, waitForToolstack, type LabEndpoint } from '../lab/lab.ts';
import { bootGuest } from '../lab/guest-boot.ts';
import { pvhEditScript } from '../lab/guests.ts';
import { PVH_ATTEMPTS, SWITCH_BOOT_DIED } from '../lab/retries.ts';
import { resetLab } from '../test/support/lab.ts';
import { openFleet, type Fleet } from '../src/fleet/fleet.ts';
import { startSwitch } from '../src/fleet/switch.ts';
import { operatorRefusalWords } from '../src/fleet/reasons.ts';
import { startRehearsal } from '../src/fleet/rehearse.ts';
import type { Operation } from '../src/store/schema.ts';
import type { Rehearsal } from '../src/store/rehearsals.ts';

const ROUNDS = Number(process.argv[2] ?? 2);
const GUESTS = ['direct64', 'pvgrub64'] as const;
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
    const b = await bootGuest(lab, name, `/etc/xen/${name}.cfg`, 180);
    if (b.kind === 'marker') return;
    if (i >= 2) throw new Error(`${name} did not boot as PV: ${b.kind}`);
    log(`  retry: ${name}'s PV boot ended '${b.kind}'`);
  }
}

/**
 * The switch by hand, timed inside dom0 in ms: shutdown (waiting for the domain to go), the edited
 * config put in place, create, and the disk frontend Connected (XenbusState 4). -1 when the PVH
 * boot died before its frontend connected.
 */
async function byHand(lab: LabEndpoint, name: string): Promise<{ ms: number } | { failed: string }> {
  await dom0(lab, `${pvhEditScript(name)} >/dev/null`);
  // /proc/uptime: dom0's clock in centiseconds, with no dependence on the date command's features.
  const out = await dom0(lab, [
    'now() { read u _ < /proc/uptime; echo "${u%.*}${u#*.}0"; }',
    // Waiting as cheaply as pvhctl does: xenstore, not `xl` in a loop (each xl call is costly in
    // dom0 and slows the guest's own shutdown). The name is free once the old domain's xenstore
    // directory is gone (xl shutdown -w returns before the xl process that created the domain
    // has destroyed it, and until then xl create says the name exists).
    `old=$(xl domid ${name}); t0=$(now); timeout -s KILL 120 xl shutdown ${name} 2>&1`,
    'i=0; while xenstore-exists /local/domain/$old 2>/dev/null && [ $i -lt 600 ]; do sleep 0.2 2>/dev/null || sleep 1; i=$((i + 1)); done',
    `cp /etc/xen/${name}-pvh.cfg /etc/xen/${name}.cfg.new && mv /etc/xen/${name}.cfg.new /etc/xen/${name}.cfg`,
    `timeout -s KILL 120 xl create /etc/xen/${name}.cfg 2>&1 || { echo "@@FAILED xl create"; exit 0; }`,
    `domid=$(xl domid ${name}); end=$(( $(date +%s) + 240 ))`,
    'while [ $(date +%s) -lt $end ]; do',
    '  s=$(xenstore-read /local/domain/$domid/device/vbd/51712/state 2>/dev/null)',
    '  if [ "$s" = 4 ]; then t1=$(now); echo "@@MS $(( t1 - t0 ))"; exit 0; fi',
    `  xenstore-exists /local/domain/$domid || { echo "@@FAILED the domain went away"; tail -c 2000 /var/log/xen/console/guest-${name}.log; exit 0; }`,
    '  sleep 0.2 2>/dev/null || sleep 1',
    'done; echo "@@FAILED no Connected disk frontend in 240 s"',
  ].join('\n'));
  const m = /@@MS (\d+)/.exec(out);
  return m === null ? { failed: out.slice(-1500) } : { ms: Number(m[1]) };
}

/** ms from the journal's `shutdown` begun to its last row (the verify of the boot that counted). */
async function journalDowntime(fleet: Fleet, op: Operation): Promise<number> {
  const rows = await fleet.store.journalOf(op.id);
  const from = rows.find((r) => r.step === 'shutdown' && r.phase === 'begin');
  // The boot that counted: the switch's verify, or after a failed boot the rollback's.
  const to = rows.filter((r) => (r.step === 'verify' || r.step === 'rollback-verify') && r.phase === 'done').at(-1);
  if (!from || !to) throw new Error(`operation ${op.id} has no shutdown/verify in its journal`);
  return Date.parse(to.at) - Date.parse(from.at);
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
    fleet = await openFleet({ dataDir: dir, verify: { bootTimeoutMs: 240_000, pollMs: 500 }, shutdownTimeoutMs: 120_000 });
    const host = await fleet.store.addHost({
      name: 'lab', transport: 'ssh', endpoint: `root@127.0.0.1:${lab.port}`, key_path: lab.keyPath, host_key: lab.hostKey, config_dir: '/etc/xen',
      role: 'pv-pvh', max_parallel: 1, xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
    });
    await fleet.scan(host);

    const rows: { guest: string; pvhctl: number[]; hand: number[] }[] = [];
    for (const name of GUESTS) {
      const row = { guest: name, pvhctl: [] as number[], hand: [] as number[] };
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
                break;
              }
              log(`  ${name} by hand: ${r.failed}`);
            } else {
              await fleet.scan(host);
              const op = await switchOnce(fleet, name, 'pvh', false);
              if (op.status === 'done') {
                row.pvhctl.push(await journalDowntime(fleet, op));
                break;
              }
              if (!SWITCH_BOOT_DIED.test(op.reason ?? '')) throw new Error(`${name}: switch ${op.status}: ${op.reason} (${op.detail})`);
            }
            retries.push(`${name} ${who} round ${round}: the PVH boot died (the lab's emulator flake)`);
            if (attempt >= PVH_ATTEMPTS) throw new Error(`${name}: the PVH boot died ${attempt} times (${who})`);
          }
          log(`  ${name} round ${round} ${who}: ${secs((who === 'hand' ? row.hand : row.pvhctl).at(-1)!)} s`);
        }
      }
      rows.push(row);
    }

    // A PVH boot that fails (nopvh: its kernel has no PVH entry, switched with --force).
    await runningAsPv(lab, 'nopvh');
    await fleet.scan(host);
    const failed = await switchOnce(fleet, 'nopvh', 'pvh', true);
    if (failed.status !== 'rolled-back') throw new Error(`nopvh: expected a rollback, got ${failed.status}: ${failed.reason}`);
    const failedDown = await journalDowntime(fleet, failed);
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
    out.push('guest      pvhctl (s, each)        by hand (s, each)       median ratio');
    for (const r of rows.filter((r) => r.pvhctl.length > 0)) {
      out.push(`${r.guest.padEnd(10)} ${r.pvhctl.map(secs).join(', ').padEnd(23)} ${r.hand.map(secs).join(', ').padEnd(23)} ${(median(r.pvhctl) / median(r.hand)).toFixed(2)}x`);
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
