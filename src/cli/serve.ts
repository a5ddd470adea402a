/**
 * `pvhctl serve`: the REST API on the data directory. With no configuration it starts on the
 * embedded SQLite store, creates an operator token on first start (DATA_DIR/operator-token) and
 * finishes any operation a previous crash left unfinished before it listens.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { buildServer, fleetMetrics, serveMetrics, startFleetShell, type ShellServer } from '../compose/servers.ts';
import { eventBus } from '../fleet/events.ts';
import { metricsOverview } from '../fleet/overview-input.ts';
import { parse, UsageError } from './args.ts';
import { COMMON, open } from './fleet-common.ts';
import { flag, loadSettings, SettingsError } from '../settings/load.ts';
import { numberOf, textOf } from '../settings/resolve.ts';
import { campaignDefaults } from '../settings/campaign.ts';
import { setUpDemo } from './serve-demo.ts';
import { SHELL_LIMIT_OPTIONS, shellLimits } from './shell-limits.ts';
import { startCampaignTicker } from '../fleet/campaign.ts';
import { realClock } from '../fleet/campaign-rules.ts';
import { notifierFor } from './campaign.ts';

export const help = `usage: pvhctl serve [--listen ADDRESS] [--port PORT] [--data-dir DIR] [--sim GUESTS] [--demo] [--shell-port PORT]
                   [--metrics-listen ADDRESS:PORT] [--tls-cert FILE --tls-key FILE]

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
With --tls-cert and --tls-key (PEM files; api.tls_cert and api.tls_key in pvhctl.conf(5)) the API
serves HTTPS only. Defaults for --listen, --port and --data-dir come from the settings file.

exit status: 0 stopped by SIGINT/SIGTERM; 1 could not start; 2 usage error
`;

/** The certificate and key, both or neither; read before anything starts. */
function tlsFiles(cert: string | null, key: string | null): { cert: Buffer; key: Buffer } | null {
  if (cert === null && key === null) return null;
  if (cert === null || key === null) throw new SettingsError('api.tls_cert and api.tls_key go together: set both or neither');
  const read = (path: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new SettingsError(`${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
    }
  };
  return { cert: read(cert), key: read(key) };
}

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
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
  });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  // --port 0 (any free port, for tests) is a flag only; the settings hold real ports.
  const anyPort = values.port === '0';
  const settings = loadSettings({
    'store.data_dir': flag('--data-dir', values['data-dir']),
    'api.listen': flag('--listen', values.listen),
    'api.port': flag('--port', anyPort ? undefined : values.port),
    'api.tls_cert': flag('--tls-cert', values['tls-cert']),
    'api.tls_key': flag('--tls-key', values['tls-key']),
  });
  const port = anyPort ? 0 : numberOf(settings, 'api.port');
  const listen = textOf(settings, 'api.listen')!;
  const shellPort = values['shell-port'] === undefined ? null : Number(values['shell-port']);
  if (shellPort !== null && (!Number.isInteger(shellPort) || shellPort < 0 || shellPort > 65535)) throw new UsageError('--shell-port 0..65535');
  const limits = shellLimits(values);
  const metricsAt = values['metrics-listen'] === undefined ? null : /^\[?([0-9A-Za-z.:-]+?)\]?:([0-9]{1,5})$/.exec(values['metrics-listen']);
  if (metricsAt === null && values['metrics-listen'] !== undefined) throw new UsageError('--metrics-listen ADDRESS:PORT');
  if (metricsAt !== null && Number(metricsAt[2]) > 65535) throw new UsageError('--metrics-listen: port 0..65535');
  const https = tlsFiles(textOf(settings, 'api.tls_cert'), textOf(settings, 'api.tls_key'));
  const logger = pino({ name: 'pvhctl' });
  const bus = eventBus();
  const dir = textOf(settings, 'store.data_dir')!;
  const fleet = await open(dir, { onEvent: (e) => bus.emit(e) });
  let mail: ReturnType<typeof notifierFor>;
  try {
    mail = notifierFor(fleet.store, settings);
  } catch (err) {
    await fleet.close();
    throw err;
  }
  logger.info(`campaign mail: ${mail.mail}`);
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
  const metrics = fleetMetrics(fleet.store, bus.emitter, { overview: metricsOverview(fleet.store) });
  const app = await buildServer(fleet, { logger, bus, metrics, https, campaignDefaults: campaignDefaults(settings) });
  const metricsServer = metricsAt === null ? null : await serveMetrics(metrics, metricsAt[1]!, Number(metricsAt[2]));
  if (metricsServer !== null) logger.info({ address: `${metricsServer.address}/metrics` }, 'metrics serving (no token)');
  const address = await app.listen({ host: listen, port });
  logger.info({ address, dataDir: dir, store: fleet.store.path }, 'pvhctl serving');
  logger.info(`try: curl -H "Authorization: Bearer $(cat ${tokenFile})" ${address}/v1/guests  (API: ${address}/openapi.json)`);
  let shell: ShellServer | null = null;
  if (shellPort !== null) {
    shell = await startFleetShell(fleet, bus, { dataDir: dir, port: shellPort, address: listen, ...limits, log: (line) => logger.info(line) });
    logger.info({ port: shell.port, hostKey: shell.hostKeyPublic }, 'Xen Shell serving');
  }
  // The campaigns' tick (src/fleet/campaign.ts), beside any `pvhctl worker` or `campaign run`.
  const ticker = startCampaignTicker(fleet.ctx, { clock: realClock, notifier: mail.notifier, everyMs: 30_000, log: (line) => logger.info(line) });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    // Started by `pvhctl demo` in a process group of its own: Ctrl-C reaches the demo, which passes
    // one SIGINT on; if the demo dies even by SIGKILL, its end of this pipe closes, and the server
    // stops as on SIGINT (the lab stopped, its logs kept).
    if (process.env.PVHCTL_STOP_ON_STDIN_EOF === '1') process.stdin.once('close', resolve).resume();
  });
  if (process.env.PVHCTL_STOP_ON_STDIN_EOF === '1') process.stdin.destroy();
  // Stop taking requests, let the operations this process runs finish (a guest is never left down
  // by a restart), then close. A second signal exits at once; recovery finishes them later.
  logger.info('stopping: no new requests; finishing the operations in flight');
  process.once('SIGTERM', () => process.exit(143));
  process.once('SIGINT', () => process.exit(130));
  await ticker.stop();
  await shell?.close();
  await metricsServer?.close();
  await Promise.all([app.close(), fleet.ctx.leases.idle()]);
  await fleet.close();
  await stopDemo();
  logger.info('stopped');
  return 0;
}
