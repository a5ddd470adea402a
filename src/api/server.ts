/**
 * The REST API (fastify): hosts, guests, scans, switches and rollbacks, operation progress as
 * server-sent events, an OpenAPI document at /openapi.json, Prometheus metrics at /metrics.
 * Operator tokens see and do everything; customer tokens see and act only on their own guests.
 */
import type { EventEmitter } from 'node:events';
import type { CampaignSettings } from '../fleet/campaign-rules.ts';
import { followOperation } from '../fleet/follow.ts';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { documentRoute, OPENAPI_LICENSE, OPENAPI_SERVERS } from './openapi.ts';
import swagger from '@fastify/swagger';
import type { Logger } from 'pino';
import type { Fleet } from '../fleet/fleet.ts';
import { precheck, startRollback, startSwitch, type OperationEvent } from '../fleet/switch.ts';
import { rehearsalView, startRehearsal } from '../fleet/rehearse.ts';
import { REHEARSAL_TARGETS, SWITCH_TARGETS, type RehearsalTarget, type SwitchTarget } from '../fleet/types.ts';
import type { PodChoice } from '../xlcfg/rewrite.ts';
import type { Guest, Operation, Token } from '../store/schema.ts';
import { refusal, tokenState } from '../store/tokens.ts';
import { customerChanges } from '../fleet/messages.ts';
import { outcomeView, refusalView, type Refusal, type Voice } from '../fleet/reasons.ts';
import { DOWNTIME_SAMPLES, downtimeEstimate, downtimeWords } from '../fleet/downtime.ts';
import { describeGuest, describeGuests } from '../fleet/guests.ts';
import type { EventBus } from '../fleet/events.ts';
import { campaignRoutes } from './campaigns.ts';
import { FINAL, fleetMetrics, type FleetMetrics } from './metrics.ts';
import { registerCampaignViews } from './campaign-views.ts';
import { metricsOverview } from '../fleet/overview-input.ts';
import { finiteKeyword, isValidationError, MAX_INT, validationWords, wholeNumber } from './validation.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Token | null;
  }
}

const errorSchema = { type: 'object', properties: { error: { type: 'string' } } } as const;
/** A refusal's code and parameters (src/fleet/reasons.ts Refusal); a customer's parameters never carry the operators' `detail`. */
const codeSchema = { type: ['string', 'null'], description: 'the refusal code (src/fleet/reasons.ts); null for an outcome that is not a refusal, or one from before codes' } as const;
const paramsSchema = { type: ['object', 'null'], additionalProperties: true, description: "the refusal code's parameters" } as const;
/** A request refused (409): the words in the reader's voice, with the refusal's code and parameters. */
const refusedSchema = { type: 'object', properties: { error: { type: 'string' }, code: { type: 'string' }, params: { type: 'object', additionalProperties: true } } } as const;
const opSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' }, guest_id: { type: 'integer' }, kind: { type: 'string', enum: ['switch', 'rollback', 'boot', 'shutdown', 'reboot'] }, from_type: { type: 'string' }, to_type: { type: 'string' },
    status: { type: 'string', enum: ['pending', 'running', 'done', 'refused', 'rolled-back', 'needs-attention'] },
    step: { type: 'string' }, reason: { type: ['string', 'null'] }, reason_code: codeSchema, reason_params: paramsSchema, created_at: { type: 'string' }, updated_at: { type: 'string' },
  },
} as const;
/** A rehearsal (src/fleet/rehearse.ts RehearsalView): a test boot as PVH on snapshots of the guest's disks. */
const rehearsalSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' }, status: { type: 'string', enum: ['running', 'passed', 'failed', 'cannot-rehearse'] }, kernel: { type: 'string' },
    to: { type: 'string' }, step: { type: 'string' }, rule: { type: ['string', 'null'] }, reason: { type: ['string', 'null'] },
    detail: { type: ['string', 'null'] }, consoleTail: { type: ['string', 'null'] }, at: { type: 'string' }, message: { type: 'string' },
  },
} as const;
const guestSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' }, name: { type: 'string' }, host: { type: ['string', 'null'] }, owner: { type: ['string', 'null'] },
    type: { type: 'string', enum: ['pv', 'pvh', 'pvh-shim', 'hvm'] }, arch: { type: ['string', 'null'] },
    runState: { type: ['string', 'null'], enum: ['running', 'stopped', null] }, runStateAt: { type: ['string', 'null'] },
    canBecome: { type: 'string' }, didNotBoot: { type: 'array', items: { type: 'string' } }, health: { type: 'string' }, attention: { type: ['string', 'null'] },
    verdictAt: { type: ['string', 'null'] },
    verdict: { type: ['object', 'null'], additionalProperties: true },
    next: { type: ['object', 'null'], additionalProperties: true },
    rehearsals: { type: 'array', items: rehearsalSchema },
  },
} as const;
const hostSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' }, name: { type: 'string' }, transport: { type: 'string' }, role: { type: 'string' },
    xen_version: { type: ['string', 'null'] }, xen_caps: { type: ['string', 'null'] }, virt_caps: { type: ['string', 'null'] }, max_parallel: { type: 'integer' },
    time_zone: { type: 'string', description: 'IANA time zone its campaign windows are read in when they name none' },
  },
} as const;
const idParams = { type: 'object', required: ['id'], properties: { id: wholeNumber(1) } } as const;
const security = [{ bearer: [] }];

export type ServerOptions = {
  logger: Logger;
  bus: EventBus & { emitter: EventEmitter };
  /** The metrics /metrics serves to operators (default: made here on the store and the bus). */
  metrics?: FleetMetrics;
  /** PEM certificate and key: serve HTTPS only (api.tls_cert and api.tls_key in the settings). */
  https?: { cert: Buffer; key: Buffer } | null;
  /** Paths served without a token (the web UI's assets; src/compose/servers.ts adds them). */
  isPublicPath?: (path: string) => boolean;
  /** Adds more routes before the server listens (the web UI: src/compose/servers.ts). */
  extend?: (app: FastifyInstance) => Promise<void>;
  /** What a new campaign takes for the settings its request leaves out (default: the built-in ones). */
  campaignDefaults?: CampaignSettings;
};

type JournalEntry = { step: string; phase: string; at: string; detail: string | null };

/** Whose words a request gets: customers never see the operators' detail. */
const voiceOf = (req: FastifyRequest): Voice => (req.principal?.role === 'operator' ? 'operator' : 'customer');

/** A 409 body: the refusal in the reader's words, with its code and parameters. */
const refused = (req: FastifyRequest, r: Refusal) => {
  const v = refusalView(r, voiceOf(req));
  return { error: v.words, code: v.code, params: v.params };
};

/** An operation as operators see it: everything, with the journal's technical detail. */
export function operatorView(op: Operation, journal: readonly JournalEntry[]) {
  return { ...op, ...outcomeView(op, 'operator'), journal };
}

/**
 * An operation as its customer sees it: what was asked, how far it got and the outcome in
 * words. Never who asked (a token id), which control-plane process runs it (`HOST:PID`), the
 * operators' detail or the journal's (raw xl errors, paths on the host).
 * @example
 * customerView(op, journal) // => { id: 7, kind: 'switch', status: 'done', reason: 'The server now runs in PVH mode.', journal: [{ step: 'pre-check', phase: 'begin', at: '…' }, …], … }
 */
export function customerView(op: Operation, journal: readonly JournalEntry[]) {
  const { id, guest_id, kind, from_type, to_type, status, step, created_at, updated_at } = op;
  return { id, guest_id, kind, from_type, to_type, status, step, ...outcomeView(op, 'customer'), created_at, updated_at, journal: journal.map(({ step, phase, at }) => ({ step, phase, at })) };
}

/**
 * Builds the REST API over an open fleet (not yet listening). `pvhctl serve` adds the web UI to
 * it through src/compose/servers.ts `buildServer`.
 * @example
 * const app = await buildApi(fleet, { logger: pino(), bus });
 * await app.listen({ port: 8080, host: '127.0.0.1' })
 */
export async function buildApi(fleet: Fleet, opts: ServerOptions): Promise<FastifyInstance> {
  const base = { loggerInstance: opts.logger as unknown as FastifyBaseLogger, bodyLimit: 64 * 1024, ajv: { plugins: [finiteKeyword] } };
  // Two calls, not one with `https: null`: Fastify's types pick the server kind from the options.
  const app = (opts.https ? Fastify({ ...base, https: opts.https }) : Fastify(base)) as unknown as FastifyInstance;
  // A request that breaks its schema gets one line saying which parameter and what it must be.
  app.setErrorHandler(async (err, req, reply) => {
    if (isValidationError(err)) return reply.code(400).send({ error: validationWords(err.validation, err.validationContext) });
    throw err;
  });
  const store = fleet.store;

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
    if (path === '/openapi.json' || path === '/healthz' || opts.isPublicPath?.(path ?? '') === true) return;
    const m = /^Bearer (\S{8,200})$/.exec(req.headers.authorization ?? '');
    const tok = m ? await store.tokenFor(m[1]!) : undefined;
    if (tok === undefined) return reply.code(401).send({ error: 'a valid bearer token is required' });
    const state = tokenState(tok, new Date());
    if (state.kind !== 'valid') return reply.code(401).send({ error: refusal(state) });
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

  campaignRoutes(app, { fleet, security, operatorOnly, visibleGuest, campaignDefaults: opts.campaignDefaults });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get('/healthz', { schema: { hide: true } }, async () => ({ ok: true }));
  // Fleet-wide counts are for operators (an operator token here, or `serve --metrics-listen`).
  const metrics = opts.metrics ?? fleetMetrics(store, opts.bus.emitter, { overview: metricsOverview(store) });
  app.get('/metrics', { preHandler: operatorOnly, schema: { hide: true } }, async (_req, reply) => {
    reply.header('content-type', metrics.contentType);
    return metrics.render();
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
        querystring: { type: 'object', properties: { limit: wholeNumber(1, 10000, { default: 1000 }), offset: wholeNumber(0, MAX_INT, { default: 0 }) } },
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
    const voice = voiceOf(req);
    return (await store.listOperations({ guestId: g.id, limit: 50 })).map((o) => ({ ...o, ...outcomeView(o, voice) }));
  });

  app.post(
    '/v1/guests/:id/rehearse',
    {
      schema: {
        summary: 'Start a rehearsal: test-boot the guest as PVH on snapshots of its disks while it keeps running; its result shows in GET /v1/guests/{id}',
        security,
        params: idParams,
        body: { type: ['object', 'null'], properties: { to: { type: 'string', enum: [...REHEARSAL_TARGETS], default: 'pvh' } } },
        response: { 202: rehearsalSchema, 404: errorSchema, 409: errorSchema },
      },
    },
    async (req, reply) => {
      const g = await visibleGuest(req, (req.params as { id: number }).id);
      if (g === null) return reply.code(404).send({ error: 'no such guest' });
      const to = (req.body as { to?: RehearsalTarget } | null)?.to ?? 'pvh';
      const r = await startRehearsal(fleet.ctx, g, { actor: `token:${req.principal!.id}`, to });
      if (r.kind === 'refused') return reply.code(409).send({ error: r.reason });
      r.finished.catch((err: unknown) => req.log.error({ err, rehearsal: r.rehearsal.id }, 'rehearsal failed'));
      return reply.code(202).send(rehearsalView(r.rehearsal));
    },
  );

  const toSchema = { type: 'string', enum: [...SWITCH_TARGETS] } as const;
  // memory < maxmem under PVH (populate-on-demand): the operator's call, as with force
  const podSchema = { type: 'string', enum: ['refuse', 'maxmem-equals-memory', 'accept'] } as const;
  /** The PoD choice a check or a switch goes with: an operator's; a customer's is ignored by both alike. */
  const podChoice = (req: FastifyRequest, pod: PodChoice | undefined): { pod?: PodChoice } => (req.principal!.role === 'operator' && pod !== undefined ? { pod } : {});
  app.post(
    '/v1/guests/:id/check',
    {
      schema: {
        summary: 'Dry run: would a switch be allowed, and what would change (with an operator\'s "pod" choice, as the switch takes it)',
        security,
        params: idParams,
        body: { type: 'object', required: ['to'], properties: { to: toSchema, pod: podSchema } },
        response: { 404: errorSchema },
      },
    },
    async (req, reply) => {
      const g = await visibleGuest(req, (req.params as { id: number }).id);
      if (g === null) return reply.code(404).send({ error: 'no such guest' });
      const body = req.body as { to: SwitchTarget; pod?: PodChoice };
      const to = body.to;
      const pre = await precheck(fleet.ctx, g, to, podChoice(req, body.pod));
      // Customers get words, not dom0 paths, xl keys and ELF notes; operators get the detail.
      const customer = req.principal!.role === 'customer';
      if (!pre.ok) {
        const v = refusalView(pre.refusal, customer ? 'customer' : 'operator');
        return { allowed: false, rule: v.code, code: v.code, params: v.params, reason: v.words };
      }
      const estimate = downtimeEstimate(await store.switchDowntimes(g.host_id, DOWNTIME_SAMPLES));
      const downtime = { ...estimate, words: downtimeWords(estimate) };
      return customer
        ? { allowed: true, from: pre.from, to: pre.to, changes: customerChanges(pre.from, pre.to), diff: null, downtime }
        : { allowed: true, from: pre.from, to: pre.to, changes: pre.changes, diff: pre.diff, downtime };
    },
  );
  app.post(
    '/v1/guests/:id/switch',
    {
      schema: {
        summary: 'Start a switch; follow it at /v1/operations/{id}/events',
        security,
        params: idParams,
        body: { type: 'object', required: ['to'], properties: { to: toSchema, force: { type: 'boolean', default: false }, pod: podSchema } },
        response: { 202: opSchema, 404: errorSchema, 409: refusedSchema },
      },
    },
    async (req, reply) => {
      const g = await visibleGuest(req, (req.params as { id: number }).id);
      if (g === null) return reply.code(404).send({ error: 'no such guest' });
      const body = req.body as { to: SwitchTarget; force: boolean; pod?: PodChoice };
      // Destroying a guest that will not shut down, or accepting PoD, is the operator's call.
      const force = body.force && req.principal!.role === 'operator';
      const r = await startSwitch(fleet.ctx, g, body.to, { force, actor: `token:${req.principal!.id}`, ...podChoice(req, body.pod) });
      if (r.kind === 'refused') return reply.code(409).send(refused(req, r.refusal));
      r.finished.catch((err: unknown) => req.log.error({ err, operation: r.operation.id }, 'switch failed'));
      return reply.code(202).send(r.operation);
    },
  );
  app.post(
    '/v1/guests/:id/rollback',
    { schema: { summary: 'Put the guest back to its config before the last switch', security, params: idParams, response: { 202: opSchema, 404: errorSchema, 409: refusedSchema } } },
    async (req, reply) => {
      const g = await visibleGuest(req, (req.params as { id: number }).id);
      if (g === null) return reply.code(404).send({ error: 'no such guest' });
      const r = await startRollback(fleet.ctx, g, `token:${req.principal!.id}`);
      if (r.kind === 'refused') return reply.code(409).send(refused(req, r.refusal));
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
    return req.principal!.role === 'operator' ? operatorView(op, journal) : customerView(op, journal);
  });
  app.get('/v1/operations/:id/events', { schema: { summary: 'Progress as server-sent events (journal so far, then live steps)', security, params: idParams } }, async (req, reply) => {
    const op = await visibleOp(req, (req.params as { id: number }).id);
    if (op === null) return reply.code(404).send({ error: 'no such operation' });
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    const operator = req.principal!.role === 'operator';
    if (fleet.ctx.queue !== undefined) {
      // Operations run in worker processes (PostgreSQL): the stream follows the store's journal.
      const gone = new AbortController();
      req.raw.on('close', () => gone.abort());
      const relay = (e: OperationEvent) =>
        e.status !== undefined ? send('end', { status: e.status, reason: e.message ?? null }) : send('step', { step: e.step, phase: e.phase, ...(operator ? { detail: e.message ?? null } : {}) });
      void followOperation(store, op.id, '', relay, { signal: gone.signal })
        .catch((err: unknown) => req.log.error({ err, operation: op.id }, 'following the journal failed'))
        .finally(() => res.end());
      return;
    }
    const queue: OperationEvent[] = [];
    const off = opts.bus.on(op.id, (e) => queue.push(e));
    const end = () => {
      off();
      res.end();
    };
    for (const j of await store.journalOf(op.id)) send('step', { step: j.step, phase: j.phase, at: j.at, ...(operator ? { detail: j.detail } : {}) });
    const now = (await store.getOperation(op.id))!;
    if (FINAL.has(now.status)) {
      send('end', { status: now.status, ...outcomeView(now, operator ? 'operator' : 'customer') });
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
  await registerCampaignViews(app, fleet, operatorOnly);
  await opts.extend?.(app);
  return app;
}
