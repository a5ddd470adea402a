/**
 * `pvhctl host add|list|show|set-time-zone`: the hosts pvhctl manages, how it reaches them, and the
 * time zone their maintenance windows are read in.
 */
import { thisMachine } from '../drivers/machine.ts';
import { flag, loadSettings } from '../settings/load.ts';
import { numberOf } from '../settings/resolve.ts';
import { domainName, hostPath } from '../drivers/driver.ts';
import { parseEndpoint } from '../drivers/xl/ssh.ts';
import type { Host, HostRole } from '../store/schema.ts';
import { parseTimeZone } from '../fleet/windows.ts';
import { printable } from '../util/escape.ts';
import { parse, subcommand, UsageError } from './args.ts';
import { COMMON, needOne, open, output, table } from './fleet-common.ts';

export const help = `usage: pvhctl host add NAME (--ssh USER@ADDRESS[:PORT] --key FILE [--host-key 'TYPE BASE64'] | --local | --sim GUESTS[:SEED])
                      [--role pv-pvh|hvm-dedicated] [--max-parallel N] [--config-dir DIR] [--dry-run]
       pvhctl host list [--json]
       pvhctl host show NAME [--json]
       pvhctl host set-time-zone NAME ZONE

Adds a host reached over SSH (xl in its dom0), this machine's own xl (--local: only pvhctl on
this machine drives it; this machine's /etc/machine-id is kept with it), or a simulated host with GUESTS guests (--sim). --max-parallel bounds how many of its guests switch at once
(default 2). --host-key pins dom0's SSH host key (as in known_hosts); without it the first key
seen is recorded and pinned. set-time-zone sets the IANA time zone (Europe/Berlin; UTC by default)
in which a campaign window without a zone is read for this host; a campaign keeps the zone its
windows had when it was created. All take --data-dir DIR (default $PVHCTL_DATA_DIR or /var/lib/pvhctl).

exit status: 0 done; 1 failed (one line on stderr); 2 usage error
`;

const describe = (h: Host) => ({
  name: h.name,
  transport: h.transport,
  endpoint: h.endpoint,
  role: h.role,
  maxParallel: h.max_parallel,
  timeZone: h.time_zone,
  configDir: h.config_dir,
  xenVersion: h.xen_version,
  xenCaps: h.xen_caps?.split(' ') ?? null,
  virtCaps: h.virt_caps?.split(' ') ?? null,
  lastSeen: h.last_seen,
});

export async function run(args: string[]): Promise<number> {
  const { sub, rest } = subcommand(args);
  const { values, positionals } = parse(rest, {
    ...COMMON,
    ssh: { type: 'string' },
    key: { type: 'string' },
    local: { type: 'boolean' },
    sim: { type: 'string' },
    role: { type: 'string' },
    'max-parallel': { type: 'string' },
    'config-dir': { type: 'string' },
    'host-key': { type: 'string' },
    'dry-run': { type: 'boolean' },
  });
  if (values.help || sub === undefined) {
    process.stdout.write(help);
    return values.help ? 0 : 2;
  }
  if (sub !== 'add' && sub !== 'list' && sub !== 'show' && sub !== 'set-time-zone') throw new UsageError(`unknown subcommand '${sub}'`);
  // Checked before the store opens: a bad zone writes nothing.
  let zone: string | null = null;
  if (sub === 'set-time-zone') {
    if (positionals.length !== 2) throw new UsageError('set-time-zone takes a host name and a time zone');
    const tz = parseTimeZone(positionals[1]!);
    if (!tz.ok) throw new Error(`time zone ${tz.error}`);
    zone = tz.zone;
  }
  const fleet = await open(values['data-dir'], { recover: false }, sub === 'add' ? 'creates' : 'needs-store');
  try {
    if (sub === 'list') {
      const hosts = (await fleet.store.listHosts()).map(describe);
      output(values.json, hosts, (hs) =>
        table(['HOST', 'TRANSPORT', 'ROLE', 'XEN', 'PVH', '32-BIT PV', 'PARALLEL', 'TIME ZONE'], hs.map((h) => [
          printable(h.name), h.transport, h.role, h.xenVersion ?? '-',
          h.virtCaps === null ? '?' : h.virtCaps.includes('hvm') ? 'yes' : 'no',
          h.xenCaps === null ? '?' : h.xenCaps.includes('xen-3.0-x86_32p') ? 'yes' : 'no',
          String(h.maxParallel),
          h.timeZone,
        ])),
      );
      return 0;
    }
    if (sub === 'set-time-zone') {
      const name = positionals[0]!;
      const h = await fleet.store.getHost(name);
      if (h === undefined) throw new Error(`no host named ${JSON.stringify(name.slice(0, 64))}`);
      await fleet.store.updateHost(h.id, { time_zone: zone! });
      await fleet.store.audit('cli', 'host-time-zone', name, `${h.time_zone} -> ${zone}`);
      output(values.json, describe((await fleet.store.getHost(name))!), (v) => `host ${printable(v.name)}: time zone ${v.timeZone} (was ${h.time_zone})\n`);
      return 0;
    }
    const name = needOne(positionals, 'host name');
    if (sub === 'show') {
      const h = await fleet.store.getHost(name);
      if (h === undefined) throw new Error(`no host named ${JSON.stringify(name)}`);
      const guests = await fleet.store.listGuests({ hostId: h.id });
      const value = { ...describe(h), guests: guests.length };
      output(values.json, value, (v) => Object.entries(v).map(([k, x]) => `${k.padEnd(11)} ${Array.isArray(x) ? x.join(' ') : printable(String(x ?? '-'))}`).join('\n') + '\n');
      return 0;
    }
    domainName(name); // host names follow the same safe pattern
    const ways = [values.ssh !== undefined, values.local === true, values.sim !== undefined].filter(Boolean).length;
    if (ways !== 1) throw new UsageError('give exactly one of --ssh, --local, --sim');
    if (values.ssh !== undefined && values.key === undefined) throw new UsageError('--ssh needs --key FILE');
    const role = (values.role ?? 'pv-pvh') as HostRole;
    if (role !== 'pv-pvh' && role !== 'hvm-dedicated') throw new UsageError('--role is pv-pvh or hvm-dedicated');
    const maxParallel = numberOf(loadSettings({ 'limits.max_parallel': flag('--max-parallel', values['max-parallel']) }), 'limits.max_parallel');
    let simSpec: string | null = null;
    if (values.sim !== undefined) {
      const m = /^(\d{1,5})(?::(\d{1,9}))?$/.exec(values.sim);
      if (!m) throw new UsageError('--sim GUESTS[:SEED]');
      simSpec = JSON.stringify({ guests: Number(m[1]), seed: Number(m[2] ?? 1) });
    }
    if (await fleet.store.getHost(name)) throw new Error(`host ${JSON.stringify(name)} already exists`);
    const row = {
      name,
      transport: values.ssh !== undefined ? 'ssh' : values.local ? 'local' : 'sim',
      endpoint: values.ssh !== undefined ? (parseEndpoint(values.ssh), values.ssh) : simSpec,
      key_path: values.key ?? null,
      host_key: values['host-key'] ?? null,
      config_dir: hostPath(values['config-dir'] ?? '/etc/xen'),
      role,
      max_parallel: maxParallel,
      xen_version: null,
      xen_caps: null,
      virt_caps: null,
      last_seen: null,
      // This machine's xl: only processes on this machine may drive it (src/drivers/open.ts).
      machine: values.local ? thisMachine() : null,
    } as const;
    if (values['dry-run']) {
      output(values.json, row, (r) => `would add host ${printable(r.name)} (${r.transport}${r.endpoint ? ` ${printable(r.endpoint)}` : ''}, ${r.role}, ${r.max_parallel} at a time)\n`);
      return 0;
    }
    const h = await fleet.store.addHost(row);
    await fleet.store.audit('cli', 'host-add', name, h.transport);
    output(values.json, describe(h), (v) => `added host ${printable(v.name)} (${v.transport}); run 'pvhctl scan ${printable(v.name)}' to import its guests\n`);
    return 0;
  } finally {
    await fleet.close();
  }
}
