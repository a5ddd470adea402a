/**
 * `pvhctl owner set-email|list`: the contact address of each guest owner (guests.owner), where
 * campaign mail (src/notify/) goes.
 */
import { printable } from '../util/escape.ts';
import { parseAddress, parseOwner } from '../notify/address.ts';
import { mailStore } from '../notify/mail-store.ts';
import { parse, subcommand, UsageError } from './args.ts';
import { COMMON, open, output, table } from './fleet-common.ts';

export const help = `usage: pvhctl owner set-email OWNER ADDRESS
       pvhctl owner list [--limit N] [--json]

'set-email' records where mail about OWNER's guests goes (campaign notices, reminders and
results): one address like alice@example.com, no display name; it replaces an earlier one.
'list' shows every owner that has guests or an address, with the address (or -) and the number
of guests; owners without an address get no mail.

exit status: 0 done; 1 failed; 2 usage error (an invalid owner name or address)
`;

/** `owner list` shows at most this many owners unless --limit says otherwise. */
const DEFAULT_LIMIT = 1000;
const MAX_LIMIT = 100_000;

export async function run(args: string[]): Promise<number> {
  const { sub, rest } = subcommand(args);
  const { values, positionals } = parse(rest, { ...COMMON, limit: { type: 'string' } });
  if (values.help || sub === undefined) {
    process.stdout.write(help);
    return values.help ? 0 : 2;
  }
  if (sub === 'set-email') {
    if (positionals.length !== 2) throw new UsageError('give OWNER and ADDRESS');
    const owner = parseOwner(positionals[0]!);
    if (!owner.ok) throw new UsageError(owner.error);
    const address = parseAddress(positionals[1]!);
    if (!address.ok) throw new UsageError(`"${printable(positionals[1]!.slice(0, 80))}": ${address.error}`);
    const fleet = await open(values['data-dir'], { recover: false });
    try {
      await mailStore(fleet.store).setContact(owner.owner, address.address);
      await fleet.store.audit('cli', 'owner-set-email', owner.owner, address.address);
      output(values.json, { owner: owner.owner, email: address.address }, (o) => `${printable(o.owner)}: ${o.email}\n`);
      return 0;
    } finally {
      await fleet.close();
    }
  }
  if (sub === 'list') {
    const limit = values.limit === undefined ? DEFAULT_LIMIT : Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw new UsageError(`--limit is a whole number 1..${MAX_LIMIT}`);
    const fleet = await open(values['data-dir'], { recover: false }, 'needs-store');
    try {
      const rows = await mailStore(fleet.store).owners(limit);
      output(values.json, rows, (rs) => table(['OWNER', 'EMAIL', 'GUESTS'], rs.map((r) => [printable(r.owner), r.email ?? '-', String(r.guests)])));
      return 0;
    } finally {
      await fleet.close();
    }
  }
  throw new UsageError(`unknown subcommand '${sub}'`);
}
