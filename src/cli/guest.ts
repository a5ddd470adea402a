/**
 * `pvhctl guest list|show`: the guests pvhctl knows, their type, verdict and switch history.
 */
import { describeGuest, describeGuests } from '../fleet/guests.ts';
import { nextWords } from '../fleet/words.ts';
import { printable } from '../util/escape.ts';
import { parse, subcommand, UsageError } from './args.ts';
import { COMMON, findGuest, needOne, open, output, table } from './fleet-common.ts';

export const help = `usage: pvhctl guest list [--host HOST] [--owner OWNER] [--attention] [--json]
       pvhctl guest show GUEST [--json]

GUEST is NAME, or HOST/NAME when several hosts have a guest of that name. 'list' shows each
guest's type, what it can become (the last scan's verdict) and whether it needs attention;
'show' adds its config versions, switch operations with their journal, and the newest
rehearsal (test boot as PVH on snapshots) per kernel.

exit status: 0 done; 1 failed (one line on stderr); 2 usage error
`;

export async function run(args: string[]): Promise<number> {
  const { sub, rest } = subcommand(args);
  const { values, positionals } = parse(rest, { ...COMMON, host: { type: 'string' }, owner: { type: 'string' }, attention: { type: 'boolean' } });
  if (values.help || sub === undefined) {
    process.stdout.write(help);
    return values.help ? 0 : 2;
  }
  if (sub !== 'list' && sub !== 'show') throw new UsageError(`unknown subcommand '${sub}'`);
  const fleet = await open(values['data-dir'], { recover: false }, 'needs-store');
  try {
    if (sub === 'list') {
      let hostId: number | undefined;
      if (values.host !== undefined) {
        const h = await fleet.store.getHost(values.host);
        if (h === undefined) throw new Error(`no host named ${JSON.stringify(values.host)}`);
        hostId = h.id;
      }
      const guests = await fleet.store.listGuests({
        ...(hostId !== undefined ? { hostId } : {}),
        ...(values.owner !== undefined ? { owner: values.owner } : {}),
        ...(values.attention ? { health: 'needs-attention' as const } : {}),
      });
      const rows = await describeGuests(fleet, guests);
      output(values.json, rows, (rs) =>
        table(['GUEST', 'HOST', 'OWNER', 'TYPE', 'STATE', 'CAN BECOME', 'HEALTH'], rs.map((r) => [printable(r.name), printable(r.host ?? '-'), printable(r.owner ?? '-'), r.type, r.runState ?? '?', r.canBecome, r.health])) +
        rs.filter((r) => r.attention).map((r) => `! ${printable(r.name)}: ${printable(r.attention!)}\n`).join(''),
      );
      return 0;
    }
    const g = await findGuest(fleet, needOne(positionals, 'guest'));
    const base = await describeGuest(fleet, g);
    const versions = await fleet.store.listConfigVersions(g.id);
    const ops = await fleet.store.listOperations({ guestId: g.id, limit: 20 });
    const operations = await Promise.all(ops.map(async (o) => ({ ...o, journal: await fleet.store.journalOf(o.id) })));
    const value = { ...base, configVersions: versions, operations };
    output(values.json, value, (v) => {
      const p = printable;
      const lines = [
        `${p(v.host ?? '?')}/${p(v.name)}  owner ${p(v.owner ?? '-')}  ${v.type}  ${v.runState ?? 'state unknown'}  ${v.health}`,
        ...(v.runStateAt !== null ? [`  state     ${v.runState ?? 'unknown'} as of ${v.runStateAt}`] : []),
        `  config    ${p(v.configPath)}`,
        `  verdict   PV ${v.verdict?.pv.capable ? 'yes' : 'no'} (${p(v.verdict?.pv.reason ?? '-')}); PVH ${v.verdict?.pvh.capable ? 'yes' : 'no'} (${p(v.verdict?.pvh.reason ?? '-')})`,
        // The disk inspection's own verdict (src/guest/verdict.ts), with every reason it gave.
        ...(v.verdict?.inspection ? [`  inspected ${v.verdict.inspection.verdict}: ${p(v.verdict.inspection.reasons.join('; '))}`] : []),
        `  can become ${v.canBecome}${v.next !== null ? `; next: ${p(nextWords(v.next))}` : ''}`,
        ...(v.attention ? [`  ATTENTION ${p(v.attention)}`] : []),
        `  versions  ${v.configVersions.map((c) => `#${c.id} ${c.reason} ${c.sha256.slice(0, 12)}`).join(', ') || '-'}`,
        // A rollback records the switch it undoes (from_type → to_type) and moves the guest the other way.
        ...v.operations.map((o) => `  op ${o.id}  ${o.kind}${o.kind === 'rollback' ? ` ${o.to_type} → ${o.from_type}` : o.kind === 'switch' ? ` ${o.from_type} → ${o.to_type}` : ''}  ${o.status}  ${p(o.reason ?? '')}`),
        ...v.rehearsals.map((r) => `  rehearsal ${p(r.kernel)} ${p(r.to)}  ${r.status}${r.status === 'failed' ? ` at ${r.step}` : ''}  ${p(r.message)}`),
      ];
      return lines.join('\n') + '\n';
    });
    return 0;
  } finally {
    await fleet.close();
  }
}
