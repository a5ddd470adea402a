/**
 * The REST API (fastify): hosts, guests, scans, switches and rollbacks, operation progress as
 * server-sent events, an OpenAPI document at /openapi.json, Prometheus metrics at /metrics.
 * Operator tokens see and do everything; customer tokens see and act only on their own guests.
 */
import { EventEmitter } from 'node:events';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { documentRoute, OPENAPI_LICENSE, OPENAPI_SERVERS } from './openapi.ts';
import swagger from '@fastify/swagger';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from 'pino';
import type { Fleet } from '../fleet/fleet.ts';
import { precheck, startRollback, startSwitch, type OperationEvent } from '../fleet/switch.ts';
import type { TargetType } from '../fleet/seams.ts';
import type { Guest, Operation, Token } from '../store/schema.ts';
import { describeGuest, describeGuests } from '../cli/guest.ts';
import { isPublicWebPath, registerWeb } from '../web/routes.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Token | null;
  }
}

/** Fans operation events out to SSE subscribers and metrics. Give it to openFleet's onEvent. */
export type EventBus = { emit(e: OperationEvent): void; on(opId: number, fn: (e: OperationEvent) => void): () => void };

export function eventBus(): EventBus & { emitter: EventEmitter } {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  return {
    emitter,
    emit: (e) => {
      emitter.emit(`op:${e.operationId}`, e);
      emitter.emit('any', e);
    },
    on(opId, fn) {
      emitter.on(`op:${opId}`, fn);
      return () => emitter.off(`op:${opId}`, fn);
    },
  };
}

const FINAL = new Set<Operation['status']>(['done', 'refused', 'rolled-back', 'needs-attention']);

const errorSchema = { type: 'object', properties: { error: { type: 'string' } } } as const;
const opSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' }, guest_id: { type: 'integer' }, kind: { type: 'string' }, from_type: { type: 'string' }, to_type: { type: 'string' },
    status: { type: 'string', enum: ['pending', 'running', 'done', 'refused', 'rolled-back', 'needs-attention'] },
    step: { type: 'string' }, reason: { type: ['string', 'null'] }, created_at: { type: 'string' }, updated_at: { type: 'string' },
  },
} as const;
const guestSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' }, name: { type: 'string' }, host: { type: ['string', 'null'] }, owner: { type: ['string', 'null'] },
    type: { type: 'string', enum: ['pv', 'pvh', 'pvh-shim', 'hvm'] }, arch: { type: ['string', 'null'] },
    canBecome: { type: 'string' }, health: { type: 'string' }, attention: { type: ['string', 'null'] },
    verdictAt: { type: ['string', 'null'] },
    verdict: { type: ['object', 'null'], additionalProperties: true },
  },
} as const;
const hostSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' }, name: { type: 'string' }, transport: { type: 'string' }, role: { type: 'string' },
    xen_version: { type: ['string', 'null'] }, xen_caps: { type: ['string', 'null'] }, virt_caps: { type: ['string', 'null'] }, max_parallel: { type: 'integer' },
  },
} as const;
const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'integer', minimum: 1 } } } as const;
const security = [{ bearer: [] }];

export type ServerOptions = {
  logger: Logger;
  bus: EventBus & { emitter: EventEmitter };
  /** PEM certificate and key: serve HTTPS only (api.tls_cert and api.tls_key in the settings). */
  https?: { cert: Buffer; key: Buffer } | null;
};

/**
 * Builds the API over an open fleet (not yet listening).
 * @example
 * const app = await buildServer(fleet, { logger: pino(), bus });
 * await app.listen({ port: 8080, host: '127.0.0.1' })
 */
export async function buildServer(fleet: Fleet, opts: ServerOptions): Promise<FastifyInstance> {
  const base = { loggerInstance: opts.logger as unknown as FastifyBaseLogger, bodyLimit: 64 * 1024 };
  // Two calls, not one with `https: null`: Fastify's types pick the server kind from the options.
  const app = (opts.https ? Fastify({ ...base, https: opts.https }) : Fastify(base)) as unknown as FastifyInstance;
  const store = fleet.store;

  // Metrics: counts and durations only; no per-guest labels (cardinality stays bounded).
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'pvhctl_process_' });
  new Gauge({
    name: 'pvhctl_guests',
    help: 'Guests by type and health',
    labelNames: ['type', 'health'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const c of await store.countGuests()) this.set({ type: c.type, health: c.health }, c.n);
    },
  });
  new Gauge({
    name: 'pvhctl_hosts',
    help: 'Hosts under management',
    registers: [registry],
    async collect() {
      this.set((await store.listHosts()).length);
    },
  });
  const opsTotal = new Counter({ name: 'pvhctl_operations_total', help: 'Finished operations by kind and outcome', labelNames: ['kind', 'status'], registers: [registry] });
  const opSeconds = new Histogram({ name: 'pvhctl_operation_seconds', help: 'Duration of finished operations', labelNames: ['status'], buckets: [1, 5, 15, 30, 60, 120, 300, 600], registers: [registry] });
  opts.bus.emitter.on('any', (e: OperationEvent) => {
    if (e.status === undefined || !FINAL.has(e.status)) return;
    void store.getOperation(e.operationId).then((op) => {
      if (!op) return;
      opsTotal.inc({ kind: op.kind, status: op.status });
      opSeconds.observe({ status: op.status }, (Date.now() - Date.parse(op.created_at)) / 1000);
    });
  });

  await app.register(swagger, {
    openapi: {
      info: { title: 'pvhctl', version: '0.1.0', description: "Move a Xen fleet's guests from PV to PVH, verified, with automatic rollback.", license: OPENAPI_LICENSE },
      servers: OPENAPI_SERVERS,
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });

  // operationId and the 2xx/4xx responses of every documented route (src/api/openapi.ts).
  app.addHook('onRoute', documentRoute);
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (req, reply) => {
    const path = req.url.split('?')[0];
    if (path === '/openapi.json' || path === '/metrics' || path === '/healthz' || isPublicWebPath(path ?? '')) return;
    const m = /^Bearer (\S{8,200})$/.exec(req.headers.authorization ?? '');
    const tok = m ? await store.tokenFor(m[1]!) : undefined;
    if (tok === undefined) return reply.code(401).send({ error: 'a valid bearer token is required' });
    req.principal = tok;
  });
  const operatorOnly = async (req: FastifyRequest, reply: FastifyReply) => {
    if (req.principal?.role !== 'operator') return reply.code(403).send({ error: 'operators only' });
  };
  /** The guest if this principal may see it; customers get 404 for others' guests (no probing). */
  const visibleGuest = async (req: FastifyRequest, id: number): Promise<Guest | null> => {
    const g = await store.getGuestById(id);
    if (g === undefined) return null;
    if (req.principal?.role === 'customer' && g.owner !== req.principal.owner) return null;
    return g;
  };

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get('/healthz', { schema: { hide: true } }, async () => ({ ok: true }));
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    reply.header('content-type', registry.contentType);
    return registry.metrics();
  });

  app.get('/v1/hosts', { preHandler: operatorOnly, schema: { summary: 'List hosts', security, response: { 200: { type: 'array', items: hostSchema } } } }, async () => store.listHosts());
  app.post(
    '/v1/hosts/:name/scan',
    { preHandler: operatorOnly, schema: { summary: "Import and inspect a host's guests", security, params: { type: 'object', properties: { name: { type: 'string', maxLength: 64 } } }, response: { 404: errorSchema } } },
    async (req, reply) => {
      const host = await store.getHost((req.params as { name: string }).name);
      if (host === undefined) return reply.code(404).send({ error: 'no such host' });
      await store.audit(`token:${req.principal!.id}`, 'scan', host.name);
      return fleet.scan(host);
    },
  );

  app.get(
    '/v1/guests',
    {
      schema: {
        summary: 'List guests (customers: their own)',
        security,
        querystring: { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: 10000, default: 1000 }, offset: { type: 'integer', minimum: 0, default: 0 } } },
        response: { 200: { type: 'array', items: guestSchema } },
      },
    },
    async (req) => {
      const q = req.query as { limit: number; offset: number };
      const owner = req.principal!.role === 'customer' ? (req.principal!.owner ?? '\u0000') : undefined;
      const guests = await store.listGuests({ ...(owner !== undefined ? { owner } : {}), limit: q.limit, offset: q.offset });
      return describeGuests(fleet, guests);
    },
  );
  app.get('/v1/guests/:id', { schema: { summary: 'One guest', security, params: idParams, response: { 200: guestSchema, 404: errorSchema } } }, async (req, reply) => {
    const g = await visibleGuest(req, (req.params as { id: number }).id);
    if (g === null) return reply.code(404).send({ error: 'no such guest' });
    return describeGuest(fleet, g);
  });
  app.get('/v1/guests/:id/operations', { schema: { summary: "A guest's operations", security, params: idParams, response: { 200: { type: 'array', items: opSchema }, 404: errorSchema } } }, async (req, reply) => {
    const g = await visibleGuest(req, (req.params as { id: number }).id);
    if (g === null) return reply.code(404).send({ error: 'no such guest' });
    return store.listOperations({ guestId: g.id, limit: 50 });
  });

  const toSchema = { type: 'string', enum: ['pvh', 'pvh-shim', 'pv'] } as const;
  app.post(
    '/v1/guests/:id/check',
    { schema: { summary: 'Dry run: would a switch be allowed, and what would change', security, params: idParams, body: { type: 'object', required: ['to'], properties: { to: toSchema } }, response: { 404: errorSchema } } },
    async (req, reply) => {
      const g = await visibleGuest(req, (req.params as { id: number }).id);
      if (g === null) return reply.code(404).send({ error: 'no such guest' });
      const pre = await precheck(fleet.ctx, g, (req.body as { to: TargetType }).to);
      return pre.ok ? { allowed: true, from: pre.from, to: pre.to, changes: pre.changes, diff: pre.diff } : { allowed: false, rule: pre.rule, reason: pre.reason };
    },
  );
  app.post(
    '/v1/guests/:id/switch',
    {
      schema: {
        summary: 'Start a switch; follow it at /v1/operations/{id}/events',
        security,
        params: idParams,
        body: { type: 'object', required: ['to'], properties: { to: toSchema, force: { type: 'boolean', default: false } } },
        response: { 202: opSchema, 404: errorSchema, 409: errorSchema },
      },
    },
    async (req, reply) => {
      const g = await visibleGuest(req, (req.params as { id: number }).id);
      if (g === null) return reply.code(404).send({ error: 'no such guest' });
      const body = req.body as { to: TargetType; force: boolean };
      // Destroying a guest that will not shut down is the operator's call.
      const force = body.force && req.principal!.role === 'operator';
      const r = await startSwitch(fleet.ctx, g, body.to, { force, actor: `token:${req.principal!.id}` });
      if (r.kind === 'refused') return reply.code(409).send({ error: r.reason });
      r.finished.catch((err: unknown) => req.log.error({ err, operation: r.operation.id }, 'switch failed'));
      return reply.code(202).send(r.operation);
    },
  );
  app.post(
    '/v1/guests/:id/rollback',
    { schema: { summary: 'Put the guest back to its config before the last switch', security, params: idParams, response: { 202: opSchema, 404: errorSchema, 409: errorSchema } } },
    async (req, reply) => {
      const g = await visibleGuest(req, (req.params as { id: number }).id);
      if (g === null) return reply.code(404).send({ error: 'no such guest' });
      const r = await startRollback(fleet.ctx, g, `token:${req.principal!.id}`);
      if (r.kind === 'refused') return reply.code(409).send({ error: r.reason });
      r.finished.catch((err: unknown) => req.log.error({ err, operation: r.operation.id }, 'rollback failed'));
      return reply.code(202).send(r.operation);
    },
  );

  const visibleOp = async (req: FastifyRequest, id: number): Promise<Operation | null> => {
    const op = await store.getOperation(id);
    if (op === undefined) return null;
    return (await visibleGuest(req, op.guest_id)) === null ? null : op;
  };
  app.get('/v1/operations/:id', { schema: { summary: 'One operation with its journal', security, params: idParams, response: { 404: errorSchema } } }, async (req, reply) => {
    const op = await visibleOp(req, (req.params as { id: number }).id);
    if (op === null) return reply.code(404).send({ error: 'no such operation' });
    const journal = await store.journalOf(op.id);
    // Customers see the steps and the outcome in their words, not the operators' detail.
    return req.principal!.role === 'operator' ? { ...op, journal } : { ...op, detail: null, journal: journal.map((j) => ({ ...j, detail: null })) };
  });
  app.get('/v1/operations/:id/events', { schema: { summary: 'Progress as server-sent events (journal so far, then live steps)', security, params: idParams } }, async (req, reply) => {
    const op = await visibleOp(req, (req.params as { id: number }).id);
    if (op === null) return reply.code(404).send({ error: 'no such operation' });
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    const operator = req.principal!.role === 'operator';
    const queue: OperationEvent[] = [];
    const off = opts.bus.on(op.id, (e) => queue.push(e));
    const end = () => {
      off();
      res.end();
    };
    for (const j of await store.journalOf(op.id)) send('step', { step: j.step, phase: j.phase, at: j.at, ...(operator ? { detail: j.detail } : {}) });
    const now = (await store.getOperation(op.id))!;
    if (FINAL.has(now.status)) {
      send('end', { status: now.status, reason: now.reason });
      return end();
    }
    const flush = () => {
      for (const e of queue.splice(0)) {
        if (e.status !== undefined) {
          send('end', { status: e.status, reason: e.message ?? null });
          return true;
        }
        send('step', { step: e.step, phase: e.phase, ...(operator ? { detail: e.message ?? null } : {}) });
      }
      return false;
    };
    if (flush()) return end();
    const live = opts.bus.on(op.id, () => {
      if (flush()) {
        live();
        end();
      }
    });
    req.raw.on('close', () => {
      live();
      off();
    });
  });
  await registerWeb(app, fleet); // the web UI (src/web/)
  return app;
}
