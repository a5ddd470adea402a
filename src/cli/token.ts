/**
 * `pvhctl token add|list|revoke`: API tokens for operators and customers. The secret is printed
 * once and only its sha256 is stored; a token may expire, and can be revoked (kept, refused).
 */
import { printable } from '../util/escape.ts';
import { parseLifetime, tokenState } from '../store/tokens.ts';
import { parse, subcommand, UsageError } from './args.ts';
import { COMMON, needOne, open, output, table } from './fleet-common.ts';

export const help = `usage: pvhctl token add (--operator | --customer OWNER) [--expires 30d|12h|90m] [--json]
       pvhctl token list [--json]
       pvhctl token revoke ID

Operator tokens see and do everything; a customer token sees and acts only on the guests whose
owner is OWNER (view, check, switch, roll back). The token is printed once. With --expires, the
API and the web UI refuse it after that time; 'revoke' makes them refuse it from now on. 'list'
shows each token's id, role, owner and state (valid, expired, revoked), never the secret.

exit status: 0 done; 1 failed (no such token, or already revoked); 2 usage error
`;

export async function run(args: string[]): Promise<number> {
  const { sub, rest } = subcommand(args);
  const { values, positionals } = parse(rest, { ...COMMON, operator: { type: 'boolean' }, customer: { type: 'string' }, expires: { type: 'string' } });
  if (values.help || sub === undefined) {
    process.stdout.write(help);
    return values.help ? 0 : 2;
  }
  if (sub === 'add') return add(values);
  if (sub === 'list') return list(values);
  if (sub === 'revoke') return revoke(values, needOne(positionals, 'token id'));
  throw new UsageError(`unknown subcommand '${sub}'`);
}

type Values = { 'data-dir'?: string | undefined; json?: boolean | undefined; operator?: boolean | undefined; customer?: string | undefined; expires?: string | undefined };

async function add(values: Values): Promise<number> {
  if ((values.operator === true) === (values.customer !== undefined)) throw new UsageError('give one of --operator, --customer OWNER');
  let expiresAt: string | null = null;
  if (values.expires !== undefined) {
    const ms = parseLifetime(values.expires);
    if (ms === null) throw new UsageError('--expires is a number of days, hours or minutes: 30d, 12h, 90m');
    expiresAt = new Date(Date.now() + ms).toISOString();
  }
  const fleet = await open(values['data-dir'], { recover: false });
  try {
    const role = values.operator ? 'operator' : 'customer';
    const token = await fleet.store.addToken(role, values.customer ?? null, expiresAt);
    await fleet.store.audit('cli', 'token-add', values.customer ?? 'operator', expiresAt === null ? role : `${role}, expires ${expiresAt}`);
    output(values.json, { role, owner: values.customer ?? null, expiresAt, token }, (t) => `${t.token}\n`);
    return 0;
  } finally {
    await fleet.close();
  }
}

async function list(values: Values): Promise<number> {
  const fleet = await open(values['data-dir'], { recover: false }, 'needs-store');
  try {
    const at = new Date();
    const rows = (await fleet.store.listTokens()).map((t) => ({
      id: t.id,
      role: t.role,
      owner: t.owner,
      createdAt: t.created_at,
      expiresAt: t.expires_at,
      revokedAt: t.revoked_at,
      state: tokenState(t, at).kind,
    }));
    output(values.json, rows, (rs) =>
      table(['ID', 'ROLE', 'OWNER', 'STATE', 'CREATED', 'EXPIRES'], rs.map((r) => [String(r.id), r.role, printable(r.owner ?? '-'), r.state, r.createdAt, r.expiresAt ?? 'never'])),
    );
    return 0;
  } finally {
    await fleet.close();
  }
}

async function revoke(values: Values, idText: string): Promise<number> {
  if (!/^[1-9][0-9]{0,8}$/.test(idText)) throw new UsageError(`a token id is a number (see 'pvhctl token list'), not ${JSON.stringify(idText)}`);
  const fleet = await open(values['data-dir'], { recover: false }, 'needs-store');
  try {
    if (!(await fleet.store.revokeToken(Number(idText)))) throw new Error(`no valid token with id ${idText} (see 'pvhctl token list')`);
    await fleet.store.audit('cli', 'token-revoke', idText);
    output(values.json, { id: Number(idText), revoked: true }, () => `revoked token ${idText}\n`);
    return 0;
  } finally {
    await fleet.close();
  }
}
