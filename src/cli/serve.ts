/**
 * `pvhctl serve`: the REST API on the data directory. With no configuration it starts on the
 * embedded SQLite store, creates an operator token on first start (DATA_DIR/operator-token) and
 * finishes any operation a previous crash left unfinished before it listens.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { buildServer, eventBus } from '../api/server.ts';
import { startFleetShell, type ShellServer } from '../shell/server.ts';
import { parse, UsageError } from './args.ts';
import { COMMON, dataDir, open } from './fleet-common.ts';

export const help = `usage: pvhctl serve [--listen ADDRESS] [--port PORT] [--data-dir DIR] [--sim GUESTS] [--shell-port PORT]

Serves the API (default 127.0.0.1:8080): /v1/hosts, /v1/guests, /v1/guests/{id}/check|switch|rollback,
/v1/operations/{id} and /v1/operations/{id}/events (server-sent events), /openapi.json, /metrics.
Logs are JSON lines (pino) on stdout. On first start an operator token is written to
DATA_DIR/operator-token (mode 0600); 'pvhctl token add' makes more. --sim GUESTS adds and scans a
simulated host with that many guests when the store has no host yet (a first look without Xen).
The web UI is at / . --shell-port also serves the customers' Xen Shell over SSH on that port, on
the same fleet (one event bus, one per-host limit); see 'pvhctl shell --help'.

exit status: 0 stopped by SIGINT/SIGTERM; 1 could not start; 2 usage error
`;

export async function run(args: string[]): Promise<number> {
  const { values } = parse(args, { ...COMMON, listen: { type: 'string' }, port: { type: 'string' }, sim: { type: 'string' }, 'shell-port': { type: 'string' } });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  const port = Number(values.port ?? process.env.PVHCTL_PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('--port 0..65535');
  const shellPort = values['shell-port'] === undefined ? null : Number(values['shell-port']);
  if (shellPort !== null && (!Number.isInteger(shellPort) || shellPort < 0 || shellPort > 65535)) throw new UsageError('--shell-port 0..65535');
  const logger = pino({ name: 'pvhctl' });
  const bus = eventBus();
  const dir = dataDir(values['data-dir']);
  const fleet = await open(dir, { onEvent: (e) => bus.emit(e) });
  const tokenFile = join(dir, 'operator-token');
  if (!existsSync(tokenFile)) {
    writeFileSync(tokenFile, `${await fleet.store.addToken('operator', null)}\n`, { mode: 0o600 });
    logger.info({ tokenFile }, 'created an operator token');
  }
  if (values.sim !== undefined && (await fleet.store.listHosts()).length === 0) {
    // A first look without a Xen host: a simulated one, scanned, so the API has guests to show.
    const n = Number(values.sim);
    if (!Number.isInteger(n) || n < 1 || n > 10000) throw new UsageError('--sim 1..10000');
    const host = await fleet.store.addHost({
      name: 'sim', transport: 'sim', endpoint: null, key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 2,
      sim_spec: JSON.stringify({ guests: n, seed: 1, bootMs: 2000, shutdownMs: 1000 }), xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
    });
    const scan = await fleet.scan(host);
    logger.info({ host: 'sim', guests: scan.guests }, 'added and scanned a simulated host');
  }
  const app = await buildServer(fleet, { logger, bus });
  const address = await app.listen({ host: values.listen ?? '127.0.0.1', port });
  logger.info({ address, dataDir: dir, store: fleet.store.path }, 'pvhctl serving');
  let shell: ShellServer | null = null;
  if (shellPort !== null) {
    shell = await startFleetShell(fleet, bus, { dataDir: dir, port: shellPort, address: values.listen ?? '127.0.0.1', log: (line) => logger.info(line) });
    logger.info({ port: shell.port, hostKey: shell.hostKeyPublic }, 'Xen Shell serving');
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await shell?.close();
  await app.close();
  await fleet.close();
  return 0;
}
