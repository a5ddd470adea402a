/**
 * `pvhctl shell`: the customers' Xen Shell over SSH, and the keys they log in with.
 *
 *   pvhctl shell [--port N] [--listen ADDR] [--data-dir DIR]      serve until stopped
 *   pvhctl shell key add CUSTOMER FILE|-                          register a public key
 *   pvhctl shell key list [CUSTOMER] [--json]
 *   pvhctl shell key remove CUSTOMER FINGERPRINT
 */
import { readFileSync } from 'node:fs';
import { customerKeys, CUSTOMER, parsePublicKey } from '../store/customer-keys.ts';
import { startFleetShell } from '../compose/servers.ts';
import { eventBus } from '../fleet/events.ts';
import { printable } from '../util/escape.ts';
import { parse, UsageError } from './args.ts';
import { dataDir, open } from './fleet-common.ts';
import { SHELL_LIMIT_HELP, SHELL_LIMIT_OPTIONS, shellLimits } from './shell-limits.ts';
import { flag, loadSettings } from '../settings/load.ts';
import { numberOf, textOf } from '../settings/resolve.ts';

const HELP = `usage: pvhctl shell [--port N] [--listen ADDR] [--data-dir DIR] [--login-grace-time S] [--max-startups S:R:F] [--per-source-max-startups N]
       pvhctl shell key add CUSTOMER FILE|-
       pvhctl shell key list [CUSTOMER] [--json]
       pvhctl shell key remove CUSTOMER FINGERPRINT

Serves the customers' Xen Shell over SSH (default 127.0.0.1:2222). Customers log in as
CUSTOMER (or CUSTOMER+SERVER) with a key registered by 'pvhctl shell key add'.
The host key is made on first start in DATA_DIR/shell/.

${SHELL_LIMIT_HELP}`;

const MAX_KEY_FILE = 64 * 1024;

async function keyCommand(args: string[], dir: string, json: boolean): Promise<number> {
  const [verb, ...rest] = args;
  const fleet = await open(dir);
  try {
    const keys = customerKeys(fleet.store);
    if (verb === 'add') {
      if (rest.length !== 2) throw new UsageError('key add: expected CUSTOMER and a public key FILE (or - for standard input)');
      const [customer, file] = rest as [string, string];
      if (!CUSTOMER.test(customer)) throw new UsageError(`invalid customer name ${JSON.stringify(printable(customer.slice(0, 80)))}`);
      const text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
      if (text.length > MAX_KEY_FILE) throw new Error(`${file}: too large for a public key file`);
      const lines = text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
      let failed = 0;
      for (const [i, line] of lines.entries()) {
        const k = parsePublicKey(line);
        if (!k.ok) {
          process.stderr.write(`pvhctl shell: ${file}:${i + 1}: ${k.error}\n`);
          failed++;
          continue;
        }
        const row = await keys.add(customer, k.key);
        await fleet.store.audit('operator', 'shell.key-add', customer, row.fingerprint);
        process.stdout.write(json ? `${JSON.stringify(row)}\n` : `${customer} ${row.fingerprint} ${printable(row.comment ?? '')}\n`);
      }
      if (lines.length === 0) {
        process.stderr.write(`pvhctl shell: ${file}: no key found\n`);
        return 1;
      }
      return failed > 0 ? 1 : 0;
    }
    if (verb === 'list') {
      if (rest.length > 1) throw new UsageError('key list: at most one CUSTOMER');
      const rows = await keys.list(rest[0]);
      for (const r of rows) process.stdout.write(json ? `${JSON.stringify(r)}\n` : `${r.owner} ${r.algo} ${r.fingerprint} ${printable(r.comment ?? '')}\n`);
      return 0;
    }
    if (verb === 'remove') {
      if (rest.length !== 2) throw new UsageError('key remove: expected CUSTOMER and FINGERPRINT');
      const n = await keys.remove(rest[0]!, rest[1]!);
      if (n === 0) {
        process.stderr.write(`pvhctl shell: ${printable(rest[0]!)} has no key ${printable(rest[1]!)}\n`);
        return 1;
      }
      await fleet.store.audit('operator', 'shell.key-remove', rest[0]!, rest[1]!);
      return 0;
    }
    throw new UsageError('key: expected add, list or remove');
  } finally {
    await fleet.close();
  }
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    port: { type: 'string' },
    listen: { type: 'string' },
    'data-dir': { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
    ...SHELL_LIMIT_OPTIONS,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const limits = shellLimits(values);
  const settings = loadSettings({
    'store.data_dir': flag('--data-dir', values['data-dir']),
    'shell.listen': flag('--listen', values.listen),
    'shell.port': flag('--port', values.port === '0' ? undefined : values.port),
  });
  const dir = textOf(settings, 'store.data_dir')!;
  if (positionals[0] === 'key') return keyCommand(positionals.slice(1), dir, values.json === true);
  if (positionals.length > 0) throw new UsageError(`unexpected ${JSON.stringify(positionals[0])}; see 'pvhctl shell --help'`);
  // --port 0 (any free port, for tests) is a flag only; the settings hold real ports.
  const port = values.port === '0' ? 0 : numberOf(settings, 'shell.port');
  const listen = textOf(settings, 'shell.listen')!;

  const hub = eventBus();
  const fleet = await open(dir, { onEvent: hub.emit });
  const server = await startFleetShell(fleet, hub, {
    dataDir: dir,
    port,
    address: listen,
    ...limits,
    log: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(`pvhctl shell: listening on ${listen}:${server.port} (host key ${server.hostKeyPublic})\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await server.close();
  await fleet.close();
  return 0;
}
