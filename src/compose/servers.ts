/**
 * The composition root of pvhctl's long-running servers: the REST API (src/api/) with the web UI
 * (src/web/) on it, the metrics listener, and the customers' Xen Shell over SSH (src/shell/).
 * The ways in never import each other; `pvhctl serve` and `pvhctl shell` (src/cli/) put them
 * together here, on one fleet and one event bus (src/fleet/events.ts).
 */
import type { FastifyInstance } from 'fastify';
import type { Fleet } from '../fleet/fleet.ts';
import { buildApi, type ServerOptions } from '../api/server.ts';
import { isPublicWebPath, registerWeb } from '../web/routes.ts';

export { fleetMetrics, serveMetrics } from '../api/metrics.ts';
export { startFleetShell, type ShellServer } from '../shell/server.ts';
export { DEFAULT_ADMISSION, DEFAULT_LOGIN_GRACE_MS, parseMaxStartups, type AdmissionLimits } from '../shell/admission.ts';

/**
 * The API server with the web UI on it (not yet listening): what `pvhctl serve` listens with.
 * @example
 * const bus = eventBus();
 * const fleet = await openFleet({ dataDir, onEvent: bus.emit });
 * const app = await buildServer(fleet, { logger: pino(), bus });
 * await app.listen({ port: 8080, host: '127.0.0.1' })
 */
export function buildServer(fleet: Fleet, opts: Omit<ServerOptions, 'isPublicPath' | 'extend'>): Promise<FastifyInstance> {
  return buildApi(fleet, { ...opts, isPublicPath: isPublicWebPath, extend: (app) => registerWeb(app, fleet) });
}
