/**
 * Boots one lab guest in dom0 with the real `xl create` and reports what happened: xl refused it
 * (with xl's own message), it printed the marker (with the guest_type it found), it stopped short
 * of its disk (the hang guest as PVH), or it died or timed out. The waiting runs inside dom0 in one
 * bounded shell loop, so a boot costs one SSH round trip.
 */
import { findMarker, HANG_MARKER, type Marker } from './guests.ts';
import { labExec, type LabEndpoint } from './lab.ts';

export type GuestBootResult =
  | { kind: 'refused'; output: string; ms: number }
  | { kind: 'marker'; marker: Marker; output: string; ms: number }
  | { kind: 'hang'; vbdState: number | null; output: string; ms: number }
  | { kind: 'died'; output: string; console: string; ms: number }
  | { kind: 'timeout'; output: string; console: string; ms: number };

const NAME_RE = /^[a-z][a-z0-9_-]{0,31}$/;

/** Shell-quotes one argument for dom0's sh. */
function sq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** How much longer than `waitS` a boot may take in all while its console keeps growing. */
export const PROGRESS_CAP = 4;

/**
 * The remote script: destroy any old instance, `xl create`, then wait for a marker line or the
 * domain's end, for at most `waitS` seconds of a silent console: each time the console log grows
 * the wait starts again, up to PROGRESS_CAP x `waitS` in all. A guest on a loaded host is slow but
 * its console moves (PV GRUB redraws its progress as it reads the kernel: 1 B/s was seen at load
 * 13, when a fixed 180 s bound failed a whole-suite run); a hung one is silent. Prints `@@RC`,
 * `@@END` and the console between markers. `logDir` is xenconsoled's (a test runs it elsewhere).
 */
export function bootScript(name: string, cfgPath: string, waitS: number, logDir = '/var/log/xen/console'): string {
  if (!NAME_RE.test(name)) throw new Error(`bad guest name '${name}'`);
  const log = `${logDir}/guest-${name}.log`;
  return [
    // Every xl call is bounded: a wedged toolstack must not hold the test past its own limit.
    `timeout -s KILL 60 xl destroy ${name} >/dev/null 2>&1; rm -f ${log}`,
    `timeout -s KILL 120 xl create ${sq(cfgPath)} 2>&1; rc=$?; echo "@@RC $rc"`,
    // A wall-clock deadline: under TCG one loop turn takes far longer than its sleep. Each turn
    // is cheap (grep, xenstore-exists): running `xl` every turn kept dom0's vCPUs busy.
    `end=timeout; now=$(date +%s); deadline=$(( now + ${waitS} )); cap=$(( now + ${PROGRESS_CAP * waitS} )); seen=0`,
    `domid=$(xl domid ${name} 2>/dev/null)`,
    `if [ $rc = 0 ] && [ -n "$domid" ]; then while [ $(date +%s) -lt $deadline ]; do`,
    `  if grep -q 'PVHCTL-LAB-MARKER ' ${log} 2>/dev/null; then end=marker; break; fi`,
    `  size=0; [ -f ${log} ] && size=$(wc -c < ${log})`,
    `  if [ "$size" != "$seen" ]; then seen=$size; deadline=$(( $(date +%s) + ${waitS} )); [ $deadline -gt $cap ] && deadline=$cap; fi`,
    `  if grep -q '${HANG_MARKER} ' ${log} 2>/dev/null; then sleep 5; end=hang; break; fi`,
    `  xenstore-exists /local/domain/$domid || { end=died; break; }`,
    `  sleep 1; done; elif [ $rc = 0 ]; then end=died; fi`,
    `state=$(xenstore-read /local/domain/$domid/device/vbd/51712/state 2>/dev/null)`,
    `echo "@@END $end vbd=\${state:-none}"`,
    `echo "@@CONSOLE"; tail -c 16384 ${log} 2>/dev/null; true`,
  ].join('\n');
}

/** Parses the remote script's output. */
export function parseBoot(out: string, ms: number): GuestBootResult {
  const rcAt = out.indexOf('@@RC ');
  const output = rcAt < 0 ? out : out.slice(0, rcAt);
  const rc = rcAt < 0 ? -1 : Number.parseInt(out.slice(rcAt + 5, rcAt + 12), 10);
  const end = /@@END (\w+) vbd=(\S+)/.exec(out);
  const cAt = out.indexOf('@@CONSOLE\n');
  const console = cAt < 0 ? '' : out.slice(cAt + 10);
  if (rc !== 0) return { kind: 'refused', output, ms };
  const vbd = end?.[2] === undefined || end[2] === 'none' ? null : Number.parseInt(end[2], 10);
  switch (end?.[1]) {
    case 'marker': {
      const marker = findMarker(console);
      return marker === null ? { kind: 'died', output, console, ms } : { kind: 'marker', marker, output, ms };
    }
    case 'hang':
      return { kind: 'hang', vbdState: Number.isNaN(vbd) ? null : vbd, output, ms };
    case 'died':
      return { kind: 'died', output, console, ms };
    default:
      return { kind: 'timeout', output, console, ms };
  }
}

/**
 * Creates guest `name` from the config at `cfgPath` in dom0 and waits for its verdict.
 * @example
 * await bootGuest(lab, 'direct64', '/etc/xen/direct64.cfg') // => { kind: 'marker', marker: { guestType: 'PV', ... }, ms: 9100, ... }
 */
export async function bootGuest(lab: LabEndpoint, name: string, cfgPath: string, waitS = 90): Promise<GuestBootResult> {
  const t0 = Date.now();
  // The remote steps are each bounded (60 s destroy, 120 s create, the wait, 5 s); add slack for SSH.
  const r = await labExec(lab, bootScript(name, cfgPath, waitS), (PROGRESS_CAP * waitS + 215) * 1000);
  return parseBoot(r.stdout + r.stderr, Date.now() - t0);
}

/** Destroys a guest (no error when it is not running). */
export async function destroyGuest(lab: LabEndpoint, name: string): Promise<void> {
  if (!NAME_RE.test(name)) throw new Error(`bad guest name '${name}'`);
  await labExec(lab, `timeout -s KILL 60 xl destroy ${name} >/dev/null 2>&1; true`, 90_000);
}
