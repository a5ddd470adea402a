/**
 * One lab boot for every lab suite of a run. `npm test` (scripts/test.sh) starts the lab once in
 * the test runner's global setup (test/support/lab-global.ts), which passes its endpoint to the
 * suites through PVHCTL_LAB_ENDPOINT; each suite attaches to it, and dom0 is put back as it was
 * booted first (no guests running, /etc/xen as built). A suite run on its own
 * (`node --test lab/lab.test.ts`) boots and stops a lab of its own instead.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Fleet } from '../../src/fleet/fleet.ts';
import { alive, collectLogs, disconnect, labExec, startLab, stopLab, waitForToolstack, type LabEndpoint } from '../../lab/lab.ts';
import { findMarker } from '../../lab/guests.ts';

/** The variable that holds the path of the shared lab's endpoint.json. */
export const SHARED_LAB_ENV = 'PVHCTL_LAB_ENDPOINT';

/** Where dom0 keeps /etc/xen as built (dom0's /run is a tmpfs: gone with the lab). */
const PRISTINE = '/run/pvhctl-pristine';

/**
 * The dom0 script that puts dom0 back as booted: every guest destroyed, /etc/xen as it was when
 * the first suite attached (the copy is made then). Each xl call is bounded.
 */
export const RESET_SCRIPT = [
  `for d in $(xl list | awk 'NR > 2 { print $1 }'); do timeout -s KILL 60 xl destroy "$d"; done`,
  `if [ -d ${PRISTINE}/xen ]; then rm -rf /etc/xen && cp -a ${PRISTINE}/xen /etc/xen; else mkdir -p ${PRISTINE} && cp -a /etc/xen ${PRISTINE}/xen; fi`,
  `n=$(xl list | awk 'NR > 2' | wc -l); echo "guests left: $n"; [ "$n" = 0 ]`,
].join('\n');

/**
 * The dom0 script that removes whatever a failed rehearsal test left: rehearsal domains, their
 * snapshot LVs (and LVs named `alsoLv`, a test's own), their config files.
 */
export function rehearsalCleanupScript(vg: string, alsoLv?: string): string {
  return [
    `for d in $(xl list | awk '{ print $1 }' | grep '^pvhctl-rehearse-'); do xl destroy "$d"; done`,
    `for lv in $(lvs --noheadings -o lv_name ${vg} | grep -e pvhctl-rehearse-${alsoLv === undefined ? '' : ` -e ${alsoLv}`}); do lvremove -f "${vg}/$lv"; done`,
    'rm -f /etc/xen/.pvhctl-rehearse-*; true',
  ].join('\n');
}

/** Adds the lab's dom0 to a fleet as host 'lab' (SSH, its pinned host key, /etc/xen) and scans it. */
export async function addLabHost(fleet: Fleet, lab: LabEndpoint): Promise<void> {
  const host = await fleet.store.addHost({
    name: 'lab', transport: 'ssh', endpoint: `root@127.0.0.1:${lab.port}`, key_path: lab.keyPath, host_key: lab.hostKey, config_dir: '/etc/xen',
    role: 'pv-pvh', max_parallel: 1, xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
  });
  await fleet.scan(host);
}

/** A lab a suite uses: shared (started by the global setup) or its own. */
export type AttachedLab = { lab: LabEndpoint; shared: boolean; startMs: number; release(): Promise<void> };

/** Puts dom0 back as booted (see RESET_SCRIPT); throws with dom0's output when it cannot. */
export async function resetLab(lab: LabEndpoint): Promise<void> {
  const r = await labExec(lab, RESET_SCRIPT, 300_000);
  if (r.code !== 0) throw new Error(`could not put the lab's dom0 back as booted: ${r.stdout}${r.stderr}`);
}

/**
 * The lab for one suite: the shared one, reset, when the run has one, else a lab of its own,
 * booted and waited for (release() then collects its logs into RUNDIR/logs and stops it).
 * @example
 * const { lab, release } = await attachLab(); // ... after(() => release())
 */
export async function attachLab(log: (l: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<AttachedLab> {
  const t0 = Date.now();
  const shared = process.env[SHARED_LAB_ENV];
  if (shared !== undefined && shared !== '') {
    const lab = JSON.parse(readFileSync(shared, 'utf8')) as LabEndpoint;
    if (!alive(lab.pid)) throw new Error(`the run's shared lab (QEMU pid ${lab.pid}, ${lab.runDir}) is gone; see its serial.log`);
    await resetLab(lab);
    log(`lab: attached to the run's lab (QEMU pid ${lab.pid}, logs in ${lab.runDir}), reset in ${Date.now() - t0} ms`);
    // release() closes this process's SSH connection to the shared lab (kept open with keepalives,
    // it would hold the suite's process alive after its last test).
    return { lab, shared: true, startMs: Date.now() - t0, release: () => disconnect(lab) };
  }
  const lab = await startLab({ log });
  await waitForToolstack(lab);
  await resetLab(lab);
  return {
    lab,
    shared: false,
    startMs: Date.now() - t0,
    release: async () => {
      await collectLogs(lab, join(lab.runDir, 'logs')).catch(() => []);
      await stopLab(lab);
    },
  };
}

/** A guest's console log in dom0 as xenconsoled has written it so far ('' before its first boot). */
export async function guestConsole(lab: LabEndpoint, name: string): Promise<string> {
  return (await labExec(lab, `cat /var/log/xen/console/guest-${name}.log 2>/dev/null; true`)).stdout;
}

/**
 * The marker a guest printed in its console log after `before` (the log as it was before a
 * switch), waiting up to `waitMs` for it: verification passes once the disk frontend connects, a
 * little before init prints it. Null when none came.
 * @example
 * await markerAfter(lab, 'direct64', logBefore) // => { guestType: 'PVH', ... }
 */
export async function markerAfter(lab: LabEndpoint, name: string, before: string, waitMs = 120_000): Promise<ReturnType<typeof findMarker>> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const now = await guestConsole(lab, name);
    const m = findMarker(now.startsWith(before) ? now.slice(before.length) : now);
    if (m !== null || Date.now() > deadline) return m;
    await new Promise((r) => setTimeout(r, 3000));
  }
}
