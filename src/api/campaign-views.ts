/**
 * The operators' read-only campaign views on the API: `GET /v1/readiness` (Xen-upgrade readiness,
 * src/fleet/readiness.ts) and `GET /v1/campaign/overview` (the campaign page's figures,
 * src/fleet/overview.ts). Both read the store and change nothing.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Fleet } from '../fleet/fleet.ts';
import { readOverview } from '../fleet/overview-input.ts';
import { readPlanInput } from '../fleet/plan-input.ts';
import { fleetReadiness } from '../fleet/readiness.ts';
import { readinessView } from '../fleet/readiness-words.ts';
import { wholeNumber } from './validation.ts';

const security = [{ bearer: [] }];
const open = { type: 'object', additionalProperties: true } as const;
const errorSchema = { type: 'object', properties: { error: { type: 'string' } } } as const;
const hostQuery = { type: 'object', properties: { host: { type: 'string', minLength: 1, maxLength: 64, description: 'Only this host' } } } as const;
const readinessSchema = {
  type: 'object',
  properties: {
    totals: { ...open, description: 'hosts, guests, pvLeft, pv32Left, pv32Unknown, readyWithoutPv32, readyWithoutPv, needsHvm' },
    hosts: { type: 'array', items: { ...open, description: 'One host: withoutPv32 and withoutPv (already, ready, or not-ready with the guests in the way and their paths), needsHvm, and each in words' } },
  },
} as const;
const overviewSchema = {
  type: 'object',
  properties: {
    at: { type: 'string' },
    totals: open,
    weeks: { type: 'array', items: { ...open, description: 'week (Monday, UTC), pvLeft at its end (null: the journal read does not reach back), offPv, backToPv, rolledBack' } },
    hosts: { type: 'array', items: open },
    waves: { type: 'array', items: open },
    held: open,
    failures: { type: 'array', items: open },
    readiness: readinessSchema,
    campaigns: { type: 'array', items: { ...open, description: "A campaign's progress per wave; empty until campaigns are created" } },
  },
} as const;

/**
 * Adds the campaign views to the API (operators only).
 * @example
 * await registerCampaignViews(app, fleet, operatorOnly) // src/api/server.ts buildApi does this
 */
export async function registerCampaignViews(app: FastifyInstance, fleet: Fleet, operatorOnly: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>): Promise<void> {
  /** Whether the query's host, if any, is in the store (readPlanInput refuses one that is not). */
  const known = async (host: string | undefined) => host === undefined || (await fleet.store.getHost(host)) !== undefined;
  app.get(
    '/v1/readiness',
    {
      preHandler: operatorOnly,
      schema: {
        summary: 'Xen-upgrade readiness: per host, whether a Xen without 32-bit PV (CONFIG_PV32=n) or without PV could boot today, the guests in the way with their paths, and the guests that need HVM',
        security,
        querystring: hostQuery,
        response: { 200: readinessSchema, 404: errorSchema },
      },
    },
    async (req, reply) => {
      const host = (req.query as { host?: string }).host;
      if (!(await known(host))) return reply.code(404).send({ error: 'no such host' });
      const { hosts, guests } = await readPlanInput(fleet.store, host === undefined ? [] : [host]);
      return readinessView(fleetReadiness(hosts, guests));
    },
  );
  app.get(
    '/v1/campaign/overview',
    {
      preHandler: operatorOnly,
      schema: {
        summary: "The campaign page's figures: PV guests left per week (from the operations journal), progress per host and per wave of the plan, failures needing attention, readiness per host, and campaigns",
        security,
        querystring: { type: 'object', properties: { ...hostQuery.properties, weeks: wholeNumber(1, 104, { default: 12 }) } },
        response: { 200: overviewSchema, 404: errorSchema },
      },
    },
    async (req, reply) => {
      const q = req.query as { host?: string; weeks: number };
      if (!(await known(q.host))) return reply.code(404).send({ error: 'no such host' });
      const o = await readOverview(fleet.store, { weeks: q.weeks, now: Date.now(), ...(q.host === undefined ? {} : { hostNames: [q.host] }) });
      return { ...o, readiness: readinessView(o.readiness) };
    },
  );
}
