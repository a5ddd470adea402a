/**
 * Discovery and inspection of one host: read `xl info` (version, xen_caps, virt_caps), the running
 * domains (`xl list -l`) and the configs in the host's config directory; record each guest, keep
 * its config as a version when it changed, and store its inspection verdict.
 */
import { createHash } from 'node:crypto';
import { domainName, hostPath, PVHCTL_FILE } from '../drivers/driver.ts';
import type { Host } from '../store/schema.ts';
import type { FleetContext } from './switch.ts';
import { MAX_CONFIG } from '../xlcfg/facts.ts';
import type { InspectGuest } from './seams.ts';
import { encodeVerdict } from './stored-verdict.ts';
import { runningType } from './verify.ts';

/** `errors`: configs that could not be read; `warnings`: running domains with no config found, symbolic links skipped. */
export type ScanResult = { host: string; guests: number; added: number; inspected: number; errors: string[]; warnings: string[] };

/** Files in a config directory that are not guest configs. */
const NOT_A_GUEST = /\.(conf|sh|orig|bak|dpkg-[a-z]+|swp)$|~$|\/\.[^/]*$|\/(xlexample\.[^/]*|cpupool|README[^/]*)$/;

/**
 * Scans a host. A guest seen for the first time gets the owner its host records, if it does
 * (driver.guestOwner: the simulator's fleet).
 * @example
 * await scanHost(ctx, host, inspector) // => { host: 'xen1', guests: 4, added: 4, inspected: 4, errors: [] }
 */
export async function scanHost(
  ctx: FleetContext,
  host: Host,
  inspect: InspectGuest,
  opts: { onGuest?: (name: string) => void; dryRun?: boolean } = {},
): Promise<ScanResult> {
  const driver = ctx.driverFor(host);
  const result: ScanResult = { host: host.name, guests: 0, added: 0, inspected: 0, errors: [], warnings: [] };
  const seen = new Set<string>();
  const info = await driver.info();
  if (!opts.dryRun) await ctx.store.updateHost(host.id, {
    xen_version: info.xenVersion,
    xen_caps: info.xenCaps.join(' '),
    virt_caps: info.virtCaps.join(' '),
    last_seen: new Date().toISOString(),
  });
  const domains = new Map((await driver.listDomains()).map((d) => [d.name, d]));
  const existing = new Map((await ctx.store.listGuests({ hostId: host.id })).map((g) => [g.name, g]));
  const listing = await driver.listConfigs(hostPath(host.config_dir));
  // Named, never read: a link's target could be any file on the host.
  for (const s of listing.skipped) result.warnings.push(`${s.path}: skipped, a symbolic link (configs must be regular files)`);
  for (const path of listing.files) {
    if (NOT_A_GUEST.test(path) || PVHCTL_FILE.test(path)) continue;
    try {
      const content = await driver.readFile(path, MAX_CONFIG);
      const read = ctx.readFacts(content, path);
      if (!read.ok) throw new Error(read.error);
      const f = read.facts;
      if (f.name === null) throw new Error(`${path}: no name`);
      const name = domainName(f.name);
      const d = domains.get(name);
      seen.add(name);
      const before = existing.get(name);
      // A guest in the middle of a switch keeps the type the switch records.
      if (before?.health === 'switching') continue;
      const verdict = await inspect({ hostName: host.name, guestName: name, configPath: path, facts: f });
      const sha = createHash('sha256').update(content).digest('hex');
      const owner = before?.owner ?? (await driver.guestOwner?.(name)) ?? null;
      if (!opts.dryRun) await ctx.store.tx(async (t) => {
        const g = await ctx.store.upsertGuest(
          {
            name,
            host_id: host.id,
            owner,
            config_path: path,
            current_type: d ? runningType(d) : f.type,
            arch: verdict.arch,
            verdict: encodeVerdict(verdict),
            verdict_at: new Date().toISOString(),
            attention: null,
          },
          t,
        );
        const at = new Date().toISOString();
        await ctx.store.updateGuest(g.id, { arch: verdict.arch, verdict: encodeVerdict(verdict), verdict_at: at, run_state: d ? 'running' : 'stopped', run_state_at: at }, t);
        const last = await t.selectFrom('config_versions').select('sha256').where('guest_id', '=', g.id).orderBy('id', 'desc').limit(1).executeTakeFirst();
        if (last?.sha256 !== sha) await ctx.store.keepConfig(g.id, content, 'discovered', null, t);
      });
      result.guests++;
      if (before === undefined) result.added++;
      if (verdict.source !== 'unknown') result.inspected++;
      opts.onGuest?.(name);
    } catch (err) {
      result.errors.push(`${path}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  for (const name of domains.keys()) {
    // Started by hand or from another directory: pvhctl cannot switch what it has no config for.
    if (!seen.has(name)) result.warnings.push(`domain ${name} runs but has no config in ${host.config_dir}`);
  }
  if (!opts.dryRun) await ctx.store.audit('pvhctl', 'scan', host.name, `${result.guests} guests, ${result.errors.length} errors`);
  return result;
}
