/**
 * The web UI on the API server: static assets (plain ES modules, no build step) at `/` and
 * `/ui/*`, and the two read-only endpoints the UI needs beside the REST API: `GET /v1/me` (who
 * the token is) and `GET /v1/summary` (the operators' fleet at a glance).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Fleet } from '../fleet/fleet.ts';
import { NEXT_WORDS, WORDS } from '../fleet/words.ts';
import { summarize } from './summary.ts';
import { isGuestLinkPath, registerGuestLink } from './guest-link.ts';

const STATIC_DIR = join(import.meta.dirname, 'static');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/**
 * The page's security headers: scripts and styles only from this server, no inline script, no
 * framing, no referrer. Guest strings are put in the page with textContent, never as HTML.
 */
const HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-cache',
};

/**
 * Whether a request path is a public UI asset (served without a token; the data behind it is not).
 * @example
 * isPublicWebPath('/ui/app.js') // => true
 * isPublicWebPath('/v1/guests') // => false
 */
export function isPublicWebPath(path: string): boolean {
  // A signed guest link (src/web/guest-link.ts) carries its own proof instead of a token.
  return path === '/' || path === '/favicon.ico' || /^\/ui\/[a-z0-9-]+\.(js|css|svg)$/.test(path) || isGuestLinkPath(path);
}

/** The asset files, read once at start (a few tens of KB). */
function loadAssets(): Map<string, { type: string; body: Buffer }> {
  const assets = new Map<string, { type: string; body: Buffer }>();
  for (const name of readdirSync(STATIC_DIR)) {
    const type = TYPES[extname(name)];
    if (type !== undefined) assets.set(name, { type, body: readFileSync(join(STATIC_DIR, name)) });
  }
  // The step and next-step words live once, in src/fleet/words.ts; the page imports them as a module.
  const words = `export const STEP = ${JSON.stringify(WORDS)};\nexport const NEXT = ${JSON.stringify(NEXT_WORDS)};\n`;
  assets.set('words.js', { type: TYPES['.js']!, body: Buffer.from(words) });
  return assets;
}

/**
 * Adds the UI's routes to the API server (before it listens).
 * @example
 * const app = await buildApi(fleet, { logger, bus, extend: (a) => registerWeb(a, fleet) }); // src/compose/servers.ts does this
 */
export async function registerWeb(app: FastifyInstance, fleet: Fleet): Promise<void> {
  const assets = loadAssets();
  const send = (reply: FastifyReply, name: string) => {
    const a = assets.get(name);
    if (a === undefined) return reply.code(404).send({ error: 'not found' });
    return reply.headers(HEADERS).type(a.type).send(a.body);
  };
  app.get('/', { schema: { hide: true } }, async (_req, reply) => send(reply, 'index.html'));
  app.get('/favicon.ico', { schema: { hide: true } }, async (_req, reply) => send(reply, 'favicon.svg'));
  app.get('/ui/:file', { schema: { hide: true } }, async (req, reply) => {
    const file = (req.params as { file: string }).file;
    if (!/^[a-z0-9-]+\.(js|css|svg)$/.test(file)) return reply.code(404).send({ error: 'not found' });
    return send(reply, file);
  });

  await registerGuestLink(app, fleet);
  app.get(
    '/v1/me',
    { schema: { summary: 'Who this token is: its role and, for a customer, the owner name', security: [{ bearer: [] }] } },
    async (req) => ({ role: req.principal!.role, owner: req.principal!.role === 'customer' ? req.principal!.owner : null }),
  );
  app.get(
    '/v1/summary',
    { schema: { summary: 'The fleet at a glance (operators): guests by type × arch × verdict, per-host progress, 32-bit guests, attention', security: [{ bearer: [] }] } },
    async (req, reply) => {
      if (req.principal?.role !== 'operator') return reply.code(403).send({ error: 'operators only' });
      const store = fleet.store;
      return summarize(await store.listGuests(), await store.listHosts(), await store.listOperations({ limit: 2000 }));
    },
  );
}
