/**
 * What /openapi.json says about each operation beyond its route's own schema: a stable
 * operationId (the method name a generated client gets), the error responses every route can give
 * (401 without a valid token, 403 for operators-only routes, 400 for a body or parameter that
 * does not validate), and a success response where the route declares none. Applied by an
 * onRoute hook, so that a route added without an entry here fails the API's tests.
 */
import type { RouteOptions } from 'fastify';

/** One operation: its operationId and whether only operators may call it. */
export type OperationDoc = { operationId: string; operatorsOnly: boolean };

/** Every API operation, by `METHOD /path` as the route is registered. */
export const OPERATIONS: Record<string, OperationDoc> = {
  'GET /v1/hosts': { operationId: 'listHosts', operatorsOnly: true },
  'POST /v1/hosts/:name/scan': { operationId: 'scanHost', operatorsOnly: true },
  'GET /v1/guests': { operationId: 'listGuests', operatorsOnly: false },
  'GET /v1/guests/:id': { operationId: 'getGuest', operatorsOnly: false },
  'GET /v1/guests/:id/operations': { operationId: 'listGuestOperations', operatorsOnly: false },
  'POST /v1/guests/:id/check': { operationId: 'checkSwitch', operatorsOnly: false },
  'POST /v1/guests/:id/switch': { operationId: 'startSwitch', operatorsOnly: false },
  'POST /v1/guests/:id/rollback': { operationId: 'startRollback', operatorsOnly: false },
  'POST /v1/guests/:id/rehearse': { operationId: 'startRehearsal', operatorsOnly: false },
  'GET /v1/operations/:id': { operationId: 'getOperation', operatorsOnly: false },
  'GET /v1/operations/:id/events': { operationId: 'followOperation', operatorsOnly: false },
  'GET /v1/me': { operationId: 'whoAmI', operatorsOnly: false },
  'GET /v1/summary': { operationId: 'getFleetSummary', operatorsOnly: true },
  'GET /v1/readiness': { operationId: 'getReadiness', operatorsOnly: true },
  'GET /v1/campaign/overview': { operationId: 'getCampaignOverview', operatorsOnly: true },
  'GET /v1/campaigns': { operationId: 'listCampaigns', operatorsOnly: true },
  'POST /v1/campaigns': { operationId: 'createCampaign', operatorsOnly: true },
  'GET /v1/campaigns/:name': { operationId: 'getCampaign', operatorsOnly: true },
  'POST /v1/campaigns/:name/start': { operationId: 'startCampaign', operatorsOnly: true },
  'POST /v1/campaigns/:name/pause': { operationId: 'pauseCampaign', operatorsOnly: true },
  'POST /v1/campaigns/:name/resume': { operationId: 'resumeCampaign', operatorsOnly: true },
  'POST /v1/campaigns/:name/cancel': { operationId: 'cancelCampaign', operatorsOnly: true },
  'GET /v1/guests/:id/campaigns': { operationId: 'listGuestCampaigns', operatorsOnly: false },
  'POST /v1/guests/:id/campaign/switch-now': { operationId: 'switchNowInCampaign', operatorsOnly: false },
  'POST /v1/guests/:id/campaign/slot': { operationId: 'chooseCampaignSlot', operatorsOnly: false },
  'POST /v1/guests/:id/campaign/postpone': { operationId: 'postponeInCampaign', operatorsOnly: false },
};

const errorBody = { type: 'object', required: ['error'], properties: { error: { type: 'string' } } } as const;
/** Fastify's own answer to a body or parameter that fails its schema. */
const validationBody = {
  type: 'object',
  properties: { statusCode: { type: 'integer' }, code: { type: 'string' }, error: { type: 'string' }, message: { type: 'string' } },
} as const;

type Schema = Record<string, unknown> & { hide?: boolean; response?: Record<string, unknown> };

/**
 * Completes a route's schema in place for the OpenAPI document; hidden routes are left alone.
 * Throws for a documented route missing from OPERATIONS (caught when the server is built).
 * @example
 * documentRoute({ method: 'GET', url: '/v1/hosts', schema: { response: { 200: {...} } } })
 * // schema gains operationId 'listHosts' and 401/403 responses
 */
export function documentRoute(route: Pick<RouteOptions, 'method' | 'url' | 'schema'>): void {
  const schema = route.schema as Schema | undefined;
  if (schema === undefined || schema.hide === true) return;
  // Fastify adds a HEAD route beside each GET; it is not in the document.
  const methods = (Array.isArray(route.method) ? route.method : [route.method]).filter((m) => m !== 'HEAD');
  if (methods.length === 0) return;
  const key = `${methods.join(',')} ${route.url}`;
  const doc = OPERATIONS[key];
  if (doc === undefined) throw new Error(`${key}: no operationId in src/api/openapi.ts`);
  schema.operationId = doc.operationId;
  const response = (schema.response ??= {});
  if (!Object.keys(response).some((code) => code.startsWith('2'))) {
    response[200] = key.endsWith('/events')
      ? { description: 'Server-sent events: one `data:` line of JSON per journal entry, then each live step', content: { 'text/event-stream': { schema: { type: 'string' } } } }
      : { description: 'OK', type: 'object', additionalProperties: true };
  }
  response[401] ??= { description: 'No valid bearer token', ...errorBody };
  if (doc.operatorsOnly) response[403] ??= { description: 'Operators only', ...errorBody };
  if (schema.body !== undefined || schema.params !== undefined || schema.querystring !== undefined) response[400] ??= { description: 'A parameter or the body is not valid', ...validationBody };
}

/** The document's servers (relative: the server that served it) and license. */
export const OPENAPI_SERVERS = [{ url: '/', description: 'The pvhctl server that served this document' }];
export const OPENAPI_LICENSE = { name: 'MIT', url: 'https://opensource.org/license/mit' };
