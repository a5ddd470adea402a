/**
 * `pvhctl serve`: the REST API on the data directory. With no configuration it starts on the
 * embedded SQLite store, creates an operator token on first start (DATA_DIR/operator-token) and
 * finishes any operation a previous crash left unfinished before it listens.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { fleetMetrics, serveMetrics } from '../api/metrics.ts';
import { buildServer, eventBus } from '../api/server.ts';
import { startFleetShell, type ShellServer } from '../shell/server.ts';
import { parse, UsageError } from './args.ts';
import { COMMON, dataDir, open } from './fleet-common.ts';
import { setUpDemo } from './serve-demo.ts';
import { SHELL_LIMIT_OPTIONS, shellLimits } from './shell-limits.ts';

export const help = `usage: pvhctl serve [--listen ADDRESS] [--port PORT] [--data-dir DIR] [--sim GUESTS] [--demo] [--shell-port PORT]
                   [--metrics-listen ADDRESS:PORT]

Serves the API (default 127.0.0.1:8080): /v1/hosts, /v1/guests, /v1/guests/{id}/check|switch|rollback,
/v1/operations/{id} and /v1/operations/{id}/events (server-sent events), /openapi.json, /metrics
(operator token only; --metrics-listen also serves /metrics without a token on ADDRESS:PORT, for
a Prometheus on a management network).
Logs are JSON lines (pino) on stdout. On first start an operator token is written to
DATA_DIR/operator-token (mode 0600); 'pvhctl token add' makes more. --sim GUESTS adds and scans a
simulated host with that many guests (a first look without Xen). --demo boots the Xen lab (lab/,
where QEMU is installed), starts its PV guests, adds it as host 'lab' and scans it, then serves;
without QEMU it falls back to --sim 50. The lab stops with the server.
The web UI is at / . --shell-port also serves the customers' Xen Shell over SSH on that port, on
the same fleet (one event bus, one per-host limit), with the Xen Shell's connection limits
(--login-grace-time, --max-startups, --per-source-max-startups); see 'pvhctl shell --help'.

exit status: 0 stopped by SIGINT/SIGTERM; 1 could not start; 2 usage error
`;

export async function run(args: string[]): Promise<number> {
  const { values } = parse(args, {
    ...COMMON,
    listen: { type: 'string' },
    port: { type: 'string' },
    sim: { type: 'string' },
    demo: { type: 'boolean' },
    'shell-port': { type: 'string' },
    'metrics-listen': { type: 'string' },
    ...SHELL_LIMIT_OPTIONS,
  });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  const port = Number(values.port ?? process.env.PVHCTL_PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('--port 0..65535');
  const shellPort = values['shell-port'] === undefined ? null : Number(values['shell-port']);
  if (shellPort !== null && (!Number.isInteger(shellPort) || shellPort < 0 || shellPort > 65535)) throw new UsageError('--shell-port 0..65535');
  const limits = shellLimits(values);
  const metricsAt = values['metrics-listen'] === undefined ? null : /^\[?([0-9A-Za-z.:-]+?)\]?:([0-9]{1,5})$/.exec(values['metrics-listen']);
  if (metricsAt === null && values['metrics-listen'] !== undefined) throw new UsageError('--metrics-listen ADDRESS:PORT');
  if (metricsAt !== null && Number(metricsAt[2]) > 65535) throw new UsageError('--metrics-listen: port 0..65535');
  const logger = pino({ name: 'pvhctl' });
  const bus = eventBus();
  const dir = dataDir(values['data-dir']);
  const fleet = await open(dir, { onEvent: (e) => bus.emit(e) });
  const tokenFile = join(dir, 'operator-token');
  if (!existsSync(tokenFile)) {
    writeFileSync(tokenFile, `${await fleet.store.addToken('operator', null)}\n`, { mode: 0o600 });
    logger.info({ tokenFile }, 'created an operator token');
  }
  let stopDemo = async () => {};
  if (values.demo || values.sim !== undefined) {
    const n = Number(values.sim ?? 50);
    if (!Number.isInteger(n) || n < 1 || n > 10000) throw new UsageError('--sim 1..10000');
    stopDemo = await setUpDemo(fleet, logger, { sim: n, lab: values.demo === true, logDir: join(dir, 'lab-logs') });
  }
  const metrics = fleetMetrics(fleet.store, bus.emitter);
  const app = await buildServer(fleet, { logger, bus, metrics });
  const metricsServer = metricsAt === null ? null : await serveMetrics(metrics, metricsAt[1]!, Number(metricsAt[2]));
  if (metricsServer !== null) logger.info({ address: `${metricsServer.address}/metrics` }, 'metrics serving (no token)');
  const address = await app.listen({ host: values.listen ?? '127.0.0.1', port });
  logger.info({ address, dataDir: dir, store: fleet.store.path }, 'pvhctl serving');
  logger.info(`try: curl -H "Authorization: Bearer $(cat ${tokenFile})" ${address}/v1/guests  (API: ${address}/openapi.json)`);
  let shell: ShellServer | null = null;
  if (shellPort !== null) {
    shell = await startFleetShell(fleet, bus, { dataDir: dir, port: shellPort, address: values.listen ?? '127.0.0.1', ...limits, log: (line) => logger.info(line) });
    logger.info({ port: shell.port, hostKey: shell.hostKeyPublic }, 'Xen Shell serving');
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  // Stop taking requests, let the operations this process runs finish (a guest is never left down
  // by a restart), then close. A second signal exits at once; recovery finishes them later.
  logger.info('stopping: no new requests; finishing the operations in flight');
  process.once('SIGTERM', () => process.exit(143));
  process.once('SIGINT', () => process.exit(130));
  await shell?.close();
  await metricsServer?.close();
  await Promise.all([app.close(), fleet.ctx.leases.idle()]);
  await fleet.close();
  await stopDemo();
  return 0;
}
