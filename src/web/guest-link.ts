/**
 * The page a campaign mail links to (src/notify/link.ts): one guest's state and its slot, for
 * whoever holds a valid signed link to it, without a token. Rendered on the server as plain HTML
 * (no script), every guest string escaped; `Accept: application/json` gives the same as JSON.
 * A wrong, changed or expired link is refused with one line saying which.
 */
import type { FastifyInstance } from 'fastify';
import type { Fleet } from '../fleet/fleet.ts';
import { describeGuest } from '../fleet/guests.ts';
import { modeName } from '../fleet/messages.ts';
import { outcomeWords } from '../fleet/reasons.ts';
import { nextWords, stepWords } from '../fleet/words.ts';
import { NO_SLOT_WORDS, escapeHtml, slotWords, safeName } from '../notify/compose.ts';
import { LINK_PATH, refusalWords, verifyLink } from '../notify/link.ts';
import { mailStore } from '../notify/mail-store.ts';

/** No script at all on this page; styles from this server only. */
const HEADERS = {
  'content-security-policy': "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
};

/**
 * Whether a path is a signed guest link (served without a token; the route checks the signature).
 * @example
 * isGuestLinkPath('/g/7') // => true
 */
export function isGuestLinkPath(path: string): boolean {
  return /^\/g\/[0-9]{1,10}$/.test(path);
}

/** The page's operations: the newest few, in the customer's words. */
const SHOWN_OPERATIONS = 5;

/**
 * Adds GET /g/:id to the server.
 * @example
 * await registerGuestLink(app, fleet) // src/web/routes.ts does this
 */
export async function registerGuestLink(app: FastifyInstance, fleet: Fleet): Promise<void> {
  const mails = mailStore(fleet.store);
  app.get(`${LINK_PATH}:id`, { schema: { hide: true } }, async (req, reply) => {
    const json = /application\/json/.test(req.headers.accept ?? '');
    const raw = req.url.indexOf('?');
    const query = new URLSearchParams(raw < 0 ? '' : req.url.slice(raw + 1, raw + 1 + 4096));
    const verdict = verifyLink(await mails.linkKey(), (req.params as { id: string }).id, query, new Date());
    const refuse = (code: number, error: string) =>
      json ? reply.code(code).headers(HEADERS).send({ error }) : reply.code(code).headers(HEADERS).type('text/html; charset=utf-8').send(page('Link refused', `<p class="error">${escapeHtml(error)}</p>`));
    if (!verdict.ok) return refuse(verdict.refusal.code === 'malformed' ? 400 : 403, refusalWords(verdict.refusal));
    const g = await fleet.store.getGuestById(verdict.link.guestId);
    if (g === undefined) return refuse(404, 'this server is no longer managed here');
    const view = await describeGuest(fleet, g);
    const ops = (await fleet.store.listOperations({ guestId: g.id, limit: SHOWN_OPERATIONS })).map((o) => ({
      kind: o.kind, to: o.to_type, status: o.status, step: stepWords(o.step), reason: o.reason === null && o.reason_code === null ? null : outcomeWords(o, 'customer'), at: o.updated_at,
    }));
    const slot = verdict.link.slot;
    if (json) {
      return reply.headers(HEADERS).send({
        guest: { id: view.id, name: view.name, host: view.host, type: view.type, runState: view.runState, next: view.next },
        slot: slot === null ? null : { start: slot.start.toISOString(), end: slot.end.toISOString(), timeZone: slot.timeZone },
        expires: verdict.link.expires.toISOString(),
        operations: ops,
      });
    }
    const name = escapeHtml(safeName(view.name, 64));
    const rows = [
      ['Server', name],
      ['Host', escapeHtml(safeName(view.host ?? '-', 64))],
      ['Mode now', escapeHtml(modeName(view.type))],
      ['State', escapeHtml(view.runState ?? 'not known')],
      ['Maintenance slot', escapeHtml(slot === null ? NO_SLOT_WORDS : slotWords(slot))],
    ];
    if (view.next !== null) rows.push(['Before the slot', escapeHtml(safeName(nextWords(view.next), 400))]);
    const table = `<table>${rows.map(([k, v]) => `<tr><th>${k}</th><td>${v}</td></tr>`).join('')}</table>`;
    const history = ops.length === 0 ? '<p>No switch has run on this server yet.</p>'
      : `<ul>${ops.map((o) => `<li>${escapeHtml(o.at)}: ${escapeHtml(o.kind)} to ${escapeHtml(o.to)}: ${escapeHtml(o.status)}${o.reason ? ` (${escapeHtml(safeName(o.reason, 300))})` : ''}</li>`).join('')}</ul>`;
    return reply.headers(HEADERS).type('text/html; charset=utf-8').send(page(`Your server ${name}`, `${table}\n<h2>What happened so far</h2>\n${history}`));
  });
}

function page(title: string, body: string): string {
  return `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>${title}</title><link rel="stylesheet" href="/ui/style.css"></head>\n<body><main><h1>${title}</h1>\n${body}\n</main></body></html>\n`;
}
