/**
 * `pvhctl rehearse GUEST`: test-boot the guest as PVH on copy-on-write snapshots of its disks
 * while it keeps running (src/fleet/rehearse.ts), and report how it went.
 */
import { startRehearsal, rehearsalView, type RehearsalProgress } from '../fleet/rehearse.ts';
import { REHEARSAL_TARGETS, type RehearsalTarget } from '../fleet/types.ts';
import { rehearsalOptions } from '../fleet/rehearse-plan.ts';
import { DEFAULT_VERIFY } from '../fleet/verify.ts';
import { printable } from '../util/escape.ts';
import { parse, UsageError } from './args.ts';
import { COMMON, findGuest, needOne, open, output } from './fleet-common.ts';

export const help = `usage: pvhctl rehearse GUEST [--to pvh|pvh-shim] [--boot-timeout S] [--reserve MIB]
                        [--cow-percent N] [--cow-max GIB] [--force] [--json]

Boots the guest's own disks as PVH in a throwaway domain (pvhctl-rehearse-NAME) while the guest
keeps running: each disk on LVM gets a snapshot LV (CoW area: --cow-percent of the disk, default
rehearse.cow_percent = 10, at least 256 MiB, at most --cow-max GiB, default rehearse.cow_max = 16);
an image file gets a reflink copy. The
domain has the config the real switch would write, with no network interface, its disks on the
snapshots, and is destroyed on reboot or crash; it needs the guest's memory out of the host's free
memory less --reserve MiB (default rehearse.reserve = 1024, pvhctl.conf). It is verified as the switch verifies, and its userland
must come up too (a login prompt on its console, or the guest printing its guest_type), then it is
destroyed and the snapshots removed. Every step is journaled; a crash leaves nothing behind (the
next pvhctl run removes it). A host without the dm snapshot target, a volume group without room, or a disk
that is neither an LV nor a file on a filesystem with reflinks: cannot rehearse, with why.
--force test-boots even a guest whose inspection verdict says its kernel cannot run as PVH (the
guest is not touched; Xen's answer is what the rehearsal finds out), never against host policy.

exit status: 0 it came up; 1 cannot rehearse, or refused (reason on stderr); 2 usage error;
3 it did not come up (the step, the reason and the console's last lines are shown)
`;

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    ...COMMON,
    to: { type: 'string' },
    'boot-timeout': { type: 'string' },
    reserve: { type: 'string' },
    'cow-percent': { type: 'string' },
    'cow-max': { type: 'string' },
    force: { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  const spec = needOne(positionals, 'guest');
  const to = (values.to ?? 'pvh') as RehearsalTarget;
  if (!REHEARSAL_TARGETS.includes(to)) throw new UsageError(`--to ${REHEARSAL_TARGETS.join('|')}`);
  const num = (v: string | undefined, flag: string, max: number): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!/^\d{1,9}(\.\d{1,3})?$/.test(v) || !(n > 0) || n > max) throw new UsageError(`bad ${flag} ${JSON.stringify(v.slice(0, 40))}`);
    return n;
  };
  const boot = num(values['boot-timeout'], '--boot-timeout', 86400);
  const reserve = num(values.reserve, '--reserve', 1024 * 1024);
  const pct = num(values['cow-percent'], '--cow-percent', 100);
  const cowMax = num(values['cow-max'], '--cow-max', 64 * 1024);
  const options = {
    ...rehearsalOptions({
      ...(reserve !== undefined ? { reserveMb: reserve } : {}),
      ...(pct !== undefined ? { cowPercent: pct } : {}),
      ...(cowMax !== undefined ? { cowMaxGib: cowMax } : {}),
    }),
    ...(values.force === true ? { force: true } : {}),
  };
  // Without --boot-timeout, verify.boot_timeout from the settings, as a switch has it.
  const fleet = await open(values['data-dir'], boot === undefined ? {} : { verify: { ...DEFAULT_VERIFY, bootTimeoutMs: boot * 1000, pollMs: 1000 } });
  const onStep: RehearsalProgress = (e) => {
    if (!values.json) process.stderr.write(`  ${e.step.padEnd(17)} ${e.phase}${e.detail && e.phase !== 'begin' ? `  ${printable(e.detail).slice(0, 160)}` : ''}\n`);
  };
  try {
    const guest = await findGuest(fleet, spec);
    const req = await startRehearsal(fleet.ctx, guest, { actor: 'cli', to, options, onStep });
    if (req.kind === 'refused') {
      process.stderr.write(`pvhctl rehearse: ${printable(guest.name)}: ${req.reason}\n`);
      return 1;
    }
    const v = rehearsalView(await req.finished);
    output(values.json, { guest: guest.name, ...v }, (x) => {
      const lines = [`${printable(x.guest)}: ${x.status}${x.status === 'failed' ? ` at ${x.step}` : ''}: ${printable(x.message)}`];
      // The customer's sentence above; the rule and the operators' reason here.
      if (x.status !== 'passed' && x.reason) lines.push(`  reason    ${printable(x.rule ?? '-')}: ${printable(x.reason)}`);
      if (x.status !== 'passed' && x.detail) lines.push(`  detail    ${printable(x.detail)}`);
      if (x.status === 'failed' && x.consoleTail) lines.push('  console (last lines):', ...x.consoleTail.split('\n').map((l) => `    ${printable(l)}`));
      return lines.join('\n') + '\n';
    });
    return v.status === 'passed' ? 0 : v.status === 'failed' ? 3 : 1;
  } finally {
    await fleet.close();
  }
}
