/**
 * `pvhctl token add --operator | --customer OWNER`: create an API token; the secret is printed
 * once and only its sha256 is stored.
 */
import { parse, subcommand, UsageError } from './args.ts';
import { COMMON, open, output } from './fleet-common.ts';

export const help = `usage: pvhctl token add (--operator | --customer OWNER) [--json]

Operator tokens see and do everything; a customer token sees and acts only on the guests whose
owner is OWNER (view, check, switch, roll back). The token is printed once.

exit status: 0 created; 1 failed; 2 usage error
`;

export async function run(args: string[]): Promise<number> {
  const { sub, rest } = subcommand(args);
  const { values } = parse(rest, { ...COMMON, operator: { type: 'boolean' }, customer: { type: 'string' } });
  if (values.help || sub === undefined) {
    process.stdout.write(help);
    return values.help ? 0 : 2;
  }
  if (sub !== 'add') throw new UsageError(`unknown subcommand '${sub}'`);
  if ((values.operator === true) === (values.customer !== undefined)) throw new UsageError('give one of --operator, --customer OWNER');
  const fleet = await open(values['data-dir'], { recover: false });
  try {
    const role = values.operator ? 'operator' : 'customer';
    const token = await fleet.store.addToken(role, values.customer ?? null);
    await fleet.store.audit('cli', 'token-add', values.customer ?? 'operator', role);
    output(values.json, { role, owner: values.customer ?? null, token }, (t) => `${t.token}\n`);
    return 0;
  } finally {
    await fleet.close();
  }
}
