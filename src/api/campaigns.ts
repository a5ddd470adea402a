/**
 * The campaign routes of the REST API (issue #14): operators create, start, pause, resume, cancel
 * and read campaigns; a guest's owner (or an operator) reads the guest's slots and chooses: switch
 * now, another slot, or postpone once. Registered by src/api/server.ts; the meaning is in
 * src/fleet/campaign.ts, the words in src/fleet/campaign-words.ts.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Fleet } from '../fleet/fleet.ts';
import type { Guest } from '../store/schema.ts';
import {
  CampaignError,
  cancelCampaign,
  chooseSlot,
  createCampaign,
  guestCampaigns,
  listCampaigns,
  pauseCampaign,
  postpone,
  resumeCampaign,
  showCampaign,
  startCampaign,
  switchEarly,
  type ChoiceActor,
  type ChoiceResult,
} from '../fleet/campaign.ts';
import { realClock, type CampaignSettings, type Clock } from '../fleet/campaign-rules.ts';
import { customerChoiceWords, operatorChoiceWords, slotWords } from '../fleet/campaign-words.ts';
import { customerPathWords } from '../fleet/plan-words.ts';
import { wholeNumber } from './validation.ts';

/** What the campaign routes need from the server that registers them. */
export type CampaignRouteDeps = {
  fleet: Fleet;
  security: readonly Record<string, string[]>[];
  operatorOnly: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
  visibleGuest: (req: FastifyRequest, id: number) => Promise<Guest | null>;
  clock?: Clock;
  /** What a new campaign takes for the settings its request leaves out (the settings file's campaign section). */
  campaignDefaults?: CampaignSettings;
};

const errorSchema = { type: 'object', properties: { error: { type: 'string' } } } as const;
/** A refused choice: words for the caller, and the code for programs. */
const refusalSchema = { type: 'object', properties: { error: { type: 'string' }, code: { type: 'string' } } } as const;
const nameParams = { type: 'object', required: ['name'], properties: { name: { type: 'string', maxLength: 63 } } } as const;
const idParams = { type: 'object', required: ['id'], properties: { id: wholeNumber(1) } } as const;
const names = { type: 'array', maxItems: 10_000, items: { type: 'string', maxLength: 200 } } as const;
const count = { type: 'integer', minimum: 0, maximum: 100_000 } as const;
const share = { type: 'number', minimum: 0, maximum: 1 } as const;
const createBody = {
  type: 'object',
  required: ['name', 'windows'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', maxLength: 63 },
    hosts: names,
    guests: names,
    owners: names,
    windows: { type: 'object', maxProperties: 10_000, additionalProperties: { type: 'string', maxLength: 120 } },
    settings: {
      type: 'object',
      additionalProperties: false,
      properties: {
        canary: count, perHost: { type: ['integer', 'null'], minimum: 1, maximum: 256 }, noticeDays: count, postponeDays: count, lengthDays: { type: 'integer', minimum: 1, maximum: 3650 },
        switchEstimateMs: { type: 'integer', minimum: 1000, maximum: 86_400_000 }, canaryThreshold: share, waveThreshold: share,
        pvOnly: { type: 'string', enum: ['use-shim', 'hold'], description: 'PV-only kernels: to the PV shim (default), or held in PV' },
      },
    },
  },
} as const;
const campaignBody = { type: 'object', required: ['campaign'], properties: { campaign: { type: 'string', maxLength: 63 } } } as const;

/** Registers the campaign routes on `app`. */
export function campaignRoutes(app: FastifyInstance, d: CampaignRouteDeps): void {
  const { fleet, security, operatorOnly } = d;
  const store = fleet.store;
  const clock = d.clock ?? realClock;
  const actorOf = (req: FastifyRequest): ChoiceActor =>
    req.principal!.role === 'customer' ? { kind: 'customer', owner: req.principal!.owner ?? '' } : { kind: 'operator', name: `token:${req.principal!.id}` };
  /** A CampaignError is the caller's mistake or a state conflict: 409 with its one line. */
  const conflict = async <T>(reply: FastifyReply, fn: () => Promise<T>, code = 200) => {
    try {
      return reply.code(code).send(await fn());
    } catch (err) {
      if (err instanceof CampaignError) return reply.code(/^no campaign named/.test(err.message) ? 404 : 409).send({ error: err.message });
      throw err;
    }
  };
  const operator = { preHandler: operatorOnly };

  const anyArray = { type: 'array', items: { type: 'object', additionalProperties: true } } as const;
  app.get('/v1/campaigns', { ...operator, schema: { summary: 'List campaigns', security, response: { 200: anyArray } } }, async () => listCampaigns(store));
  app.post('/v1/campaigns', { ...operator, schema: { summary: 'Create a campaign (a draft) over hosts, guests or owners, with each host\'s maintenance window', security, body: createBody, response: { 201: { type: 'object', additionalProperties: true }, 409: errorSchema } } }, async (req, reply) => {
    const b = req.body as { name: string; hosts?: string[]; guests?: string[]; owners?: string[]; windows: Record<string, string>; settings?: Partial<CampaignSettings> };
    return conflict(reply, async () => {
      const c = await createCampaign(store, { name: b.name, scope: { hosts: b.hosts ?? [], guests: b.guests ?? [], owners: b.owners ?? [] }, windows: b.windows, settings: b.settings ?? {}, actor: `token:${req.principal!.id}`, defaults: d.campaignDefaults });
      return showCampaign(store, c.name);
    }, 201);
  });
  app.get('/v1/campaigns/:name', { ...operator, schema: { summary: 'One campaign with every guest: wave, slot, status, customer choice', security, params: nameParams, response: { 404: errorSchema } } }, async (req, reply) =>
    conflict(reply, () => showCampaign(store, (req.params as { name: string }).name)),
  );
  const verb = (path: string, summary: string, fn: (name: string, req: FastifyRequest) => Promise<unknown>) =>
    app.post(`/v1/campaigns/:name/${path}`, { ...operator, schema: { summary, security, params: nameParams, ...(path === 'pause' ? { body: { type: ['object', 'null'], properties: { reason: { type: 'string', maxLength: 500 } } } } : {}), response: { 404: errorSchema, 409: errorSchema } } }, async (req, reply) =>
      conflict(reply, () => fn((req.params as { name: string }).name, req)),
    );
  verb('start', 'Start a draft: every planned guest gets its slot', (n, req) => startCampaign(store, n, `token:${req.principal!.id}`, clock));
  verb('pause', 'Pause: nothing new starts; what runs finishes', (n, req) => pauseCampaign(store, n, `token:${req.principal!.id}`, (req.body as { reason?: string } | null)?.reason ?? 'no reason given'));
  verb('resume', 'Resume: the failures that paused it are accepted', (n, req) => resumeCampaign(store, n, `token:${req.principal!.id}`));
  verb('cancel', 'Cancel: planned guests are skipped', (n, req) => cancelCampaign(store, n, `token:${req.principal!.id}`));

  // A guest's campaigns, for its owner: the slot in the host's time zone and words, and the choices.
  app.get('/v1/guests/:id/campaigns', { schema: { summary: "The guest's maintenance slots and the choices open to it", security, params: idParams, response: { 200: anyArray, 404: errorSchema } } }, async (req, reply) => {
    const g = await d.visibleGuest(req, (req.params as { id: number }).id);
    if (g === null) return reply.code(404).send({ error: 'no such guest' });
    return (await guestCampaigns(store, g.id, clock)).map((c) => ({
      ...c,
      slotWords: c.slot === null ? null : slotWords(new Date(c.slot.start), new Date(c.slot.end), c.slot.timeZone),
      pathWords: customerPathWords(c.path),
      choices: c.choices.map((o) => ({ ...o, words: slotWords(new Date(o.start), new Date(o.end), c.slot?.timeZone ?? 'UTC') })),
    }));
  });
  const choice = (path: string, summary: string, extra: Record<string, unknown>, required: string[], fn: (g: Guest, body: Record<string, unknown>, actor: ChoiceActor) => Promise<ChoiceResult>) =>
    app.post(
      `/v1/guests/:id/campaign/${path}`,
      { schema: { summary, security, params: idParams, body: { ...campaignBody, required: ['campaign', ...required], properties: { ...campaignBody.properties, ...extra } }, response: { 404: errorSchema, 409: refusalSchema } } },
      async (req, reply) => {
        const g = await d.visibleGuest(req, (req.params as { id: number }).id);
        if (g === null) return reply.code(404).send({ error: 'no such guest' });
        const actor = actorOf(req);
        const r = await fn(g, req.body as Record<string, unknown>, actor);
        if (!r.ok) return reply.code(409).send({ error: actor.kind === 'customer' ? customerChoiceWords(r.refusal) : operatorChoiceWords(r.refusal), code: r.refusal.code });
        return r.guest;
      },
    );
  choice('switch-now', 'Switch now, ahead of the slot (through the same queue and per-host limit)', {}, [], (g, b, a) => switchEarly(fleet.ctx, b.campaign as string, g.id, a));
  choice('slot', 'Move to another slot of the campaign (one of the choices GET /v1/guests/{id}/campaigns offers)', { start: { type: 'string', format: 'date-time', maxLength: 40 } }, ['start'], (g, b, a) =>
    chooseSlot(store, b.campaign as string, g.id, new Date(b.start as string), a, clock),
  );
  choice('postpone', 'Postpone once, by up to the campaign\'s limit of days', { days: { type: 'integer', minimum: 1, maximum: 365 } }, ['days'], (g, b, a) => postpone(store, b.campaign as string, g.id, b.days as number, a));
}
