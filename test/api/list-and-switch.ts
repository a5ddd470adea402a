/**
 * A small API client written against the types openapi-typescript generates from /openapi.json
 * (./openapi.gen.ts, made by test/api/client.test.ts): lists the guests, switches the first one
 * that can become PVH, follows the switch's server-sent events and prints each as a JSON line.
 *
 *   node list-and-switch.ts BASE_URL TOKEN
 */
import type { paths } from './openapi.gen.ts';

type Guests = paths['/v1/guests']['get']['responses']['200']['content']['application/json'];
type Started = paths['/v1/guests/{id}/switch']['post']['responses']['202']['content']['application/json'];
type SwitchBody = NonNullable<paths['/v1/guests/{id}/switch']['post']['requestBody']>['content']['application/json'];

const [base, token] = process.argv.slice(2) as [string, string];
const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };

const guests = (await (await fetch(new URL('/v1/guests', base), { headers })).json()) as Guests;
console.log(JSON.stringify({ guests: guests.length }));
const guest = guests.find((g) => g.type === 'pv' && g.canBecome?.startsWith('pvh'));
if (guest?.id === undefined) throw new Error('no guest can become PVH');

const body: SwitchBody = { to: 'pvh' };
const res = await fetch(new URL(`/v1/guests/${guest.id}/switch`, base), { method: 'POST', headers, body: JSON.stringify(body) });
if (res.status !== 202) throw new Error(`switch: HTTP ${res.status}: ${await res.text()}`);
const op = (await res.json()) as Started;
console.log(JSON.stringify({ guest: guest.name, operation: op.id, status: op.status }));

// Server-sent events: `event: NAME` and `data: JSON` lines, a blank line after each event.
const events = await fetch(new URL(`/v1/operations/${op.id}/events`, base), { headers });
let buffer = '';
for await (const chunk of events.body!.pipeThrough(new TextDecoderStream())) {
  buffer += chunk;
  let cut: number;
  while ((cut = buffer.indexOf('\n\n')) >= 0) {
    const block = buffer.slice(0, cut);
    buffer = buffer.slice(cut + 2);
    const event = /^event: (.*)$/m.exec(block)?.[1];
    const data = /^data: (.*)$/m.exec(block)?.[1];
    console.log(JSON.stringify({ event, data: data === undefined ? null : JSON.parse(data) }));
  }
}
