/**
 * Measures how often a 64-bit PVH boot dies in the lab (QEMU's nested-SVM flake): boots the lab
 * once, then boots direct64 and pvgrub64 as PVH by turns, one at a time, and counts the boots
 * that printed their marker, the ones that died (and of those, the ones Xen logged as a triple
 * fault, with the guest's RIP), and the rest. Run it under the lab lock, as every lab user:
 *
 *   flock /tmp/pvhctl-lab.lock node lab/flake.ts --boots 50 [--cpu MODEL] [--accel ACCEL] [--max-minutes M]
 *
 * The summary goes to stdout; every boot's result to RUNDIR/flake.jsonl and the lab's logs to
 * RUNDIR/logs (RUNDIR is printed).
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { bootGuest, destroyGuest, type GuestBootResult } from './guest-boot.ts';
import { pvhEditScript } from './guests.ts';
import { collectLogs, labExec, startLab, stopLab, waitForToolstack } from './lab.ts';

/** One Xen-logged triple fault of a guest vCPU with the RIP Xen printed for it. */
export type TripleFault = { domain: string; rip: string | null };

/**
 * The triple faults in a Xen console log (the lab's serial.log, or `xl dmesg`), in order. Xen's
 * hvm_triple_fault() prints `dNvM Triple fault - invoking HVM shutdown action`, and the register
 * dump that follows it (when there is one) names RIP.
 * @example
 * tripleFaults('(XEN) d5v0 Triple fault - invoking HVM shutdown action 1\n(XEN) RIP:    0010:[<ffffffff81000123>]\n')
 * // => [{ domain: 'd5v0', rip: '0010:[<ffffffff81000123>]' }]
 */
export function tripleFaults(log: string): TripleFault[] {
  const lines = log.split(/\r?\n/);
  const out: TripleFault[] = [];
  lines.forEach((l, i) => {
    const m = /\b(d\d+v\d+) Triple fault\b/.exec(l);
    if (m === null) return;
    let rip: string | null = null;
    for (const next of lines.slice(i + 1, i + 12)) {
      const r = /RIP:\s*([0-9a-f]{4}:\[<[0-9a-f]+>\])/.exec(next);
      if (r !== null) {
        rip = r[1]!;
        break;
      }
      if (/Triple fault/.test(next)) break;
    }
    out.push({ domain: m[1]!, rip });
  });
  return out;
}

/** The counts a flake run reports. */
export type FlakeTally = { boots: number; marker: number; died: number; other: number; byGuest: Record<string, { boots: number; died: number }> };

/**
 * Tallies boot results per guest.
 * @example
 * tally([{ guest: 'a', kind: 'marker' }, { guest: 'a', kind: 'died' }])
 * // => { boots: 2, marker: 1, died: 1, other: 0, byGuest: { a: { boots: 2, died: 1 } } }
 */
export function tally(results: readonly { guest: string; kind: GuestBootResult['kind'] }[]): FlakeTally {
  const t: FlakeTally = { boots: 0, marker: 0, died: 0, other: 0, byGuest: {} };
  for (const r of results) {
    t.boots++;
    const g = (t.byGuest[r.guest] ??= { boots: 0, died: 0 });
    g.boots++;
    if (r.kind === 'marker') t.marker++;
    else if (r.kind === 'died') {
      t.died++;
      g.died++;
    } else t.other++;
  }
  return t;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { boots: { type: 'string', default: '50' }, cpu: { type: 'string' }, accel: { type: 'string' }, 'max-minutes': { type: 'string', default: '60' } },
  });
  const boots = Number(values.boots);
  const maxMs = Number(values['max-minutes']) * 60_000;
  if (!Number.isInteger(boots) || boots < 1 || boots > 1000) throw new Error(`--boots takes 1 to 1000, not '${values.boots}'`);
  if (!(maxMs > 0)) throw new Error(`--max-minutes takes minutes, not '${values['max-minutes']}'`);
  const log = (l: string) => process.stderr.write(l + '\n');
  const t0 = Date.now();
  const lab = await startLab({ log, cpu: values.cpu, accel: values.accel });
  try {
    await waitForToolstack(lab);
    log(`lab up after ${Math.round((Date.now() - t0) / 1000)} s`);
    const guests = ['direct64', 'pvgrub64'];
    for (const g of guests) {
      const r = await labExec(lab, pvhEditScript(g));
      if (r.code !== 0) throw new Error(`${g}: ${r.stderr}`);
    }
    const results: { guest: string; kind: GuestBootResult['kind']; ms: number }[] = [];
    const out = join(lab.runDir, 'flake.jsonl');
    const start = Date.now();
    for (let i = 0; i < boots && Date.now() - start < maxMs; i++) {
      const guest = guests[i % guests.length]!;
      const r = await bootGuest(lab, guest, `/etc/xen/${guest}-pvh.cfg`, 300);
      await destroyGuest(lab, guest);
      const ok = r.kind === 'marker' && r.marker.guestType === 'PVH';
      const kind = r.kind === 'marker' && !ok ? 'died' : r.kind;
      results.push({ guest, kind, ms: r.ms });
      appendFileSync(out, JSON.stringify({ i, guest, kind, ms: r.ms, at: new Date().toISOString() }) + '\n');
      log(`boot ${i + 1}: ${guest} PVH ${kind} in ${r.ms} ms`);
    }
    await collectLogs(lab, join(lab.runDir, 'logs'));
    const faults = tripleFaults(readFileSync(lab.serialLog, 'utf8'));
    const t = tally(results);
    const pct = (n: number, d: number) => (d === 0 ? '-' : `${((100 * n) / d).toFixed(1)}%`);
    const lines = [
      `lab flake run: -cpu ${values.cpu ?? 'default'} -accel ${values.accel ?? 'default'}, ${Math.round((Date.now() - start) / 60_000)} min of boots`,
      `PVH boots: ${t.boots}; marker ${t.marker}; died ${t.died} (${pct(t.died, t.boots)}); timeout or other ${t.other}`,
      ...Object.entries(t.byGuest).map(([g, b]) => `  ${g}: ${b.died} of ${b.boots} died`),
      `triple faults in serial.log: ${faults.length}`,
      ...faults.map((f) => `  ${f.domain} RIP ${f.rip ?? '(no register dump)'}`),
      `logs: ${lab.runDir}`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    await stopLab(lab);
  }
}

if (import.meta.main) {
  main().catch((err) => {
    process.stderr.write(`lab/flake.ts: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
