/**
 * How long a campaign tick takes to submit one slot of N guests (issue #14): a simulated host of N
 * guests with a limit of N, one wave, notices sent by an earlier tick, so the measured tick only
 * submits. On PostgreSQL with the pg-boss queue and no worker (the operations wait in the queue,
 * so nothing runs beside the tick); on SQLite the switches run in this process as they start.
 *
 *   node bench/campaign-tick.ts [sqlite|postgres] [N] [TREE]
 *
 * TREE (default: this checkout) lets the same script time another checkout, e.g. the commit before.
 */
import { join } from 'node:path';

const kind = process.argv[2] === 'postgres' ? 'postgres' : 'sqlite';
const n = Number(process.argv[3] ?? 1000);
const root = process.argv[4] ?? join(import.meta.dirname, '..');
const { openFleet } = await import(join(root, 'src/fleet/fleet.ts'));
const { createCampaign, startCampaign, tickCampaign } = await import(join(root, 'src/fleet/campaign.ts'));
const { postgres } = await import(join(root, 'test/support/postgres.ts'));
const { pgBossQueue } = await import(join(root, 'src/fleet/queue.ts'));

const url = kind === 'postgres' ? await (await postgres()).newDatabase() : ':memory:';
const queue = kind === 'postgres' ? await pgBossQueue(url) : undefined;
const fleet = await openFleet({ dataDir: ':memory:', store: url, recover: false, ...(queue ? { queue } : {}), verify: { bootTimeoutMs: 2000, pollMs: 5 }, shutdownTimeoutMs: 2000 });
const host = await fleet.store.addHost({
  name: 'sim1', transport: 'sim', endpoint: JSON.stringify({ guests: n, seed: 3, pvOnly: 0, bootMs: 3, shutdownMs: 3 }), key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: n,
  xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
});
await fleet.scan(host);
let now = new Date('2026-12-07T02:30:00Z');
const clock = { now: () => now };
const notifier = { send: async () => ({ status: 'sent' as const, messageId: '<b@bench>' }) };
await createCampaign(fleet.store, { name: 'b', scope: { hosts: [], guests: [], owners: [] }, windows: { sim1: 'daily 02:00-05:00' }, settings: { canary: 0, noticeDays: 1 }, actor: 'op' });
await startCampaign(fleet.store, 'b', 'op', clock);
now = new Date('2026-12-07T03:00:00Z');
await tickCampaign(fleet.ctx, 'b', { clock, notifier });
now = new Date('2026-12-08T02:30:00Z');
const t0 = performance.now();
const r = await tickCampaign(fleet.ctx, 'b', { clock, notifier });
const ms = performance.now() - t0;
console.log(JSON.stringify({ store: kind, guests: n, submitted: r.kind === 'ran' ? r.submitted.length : 0, tickMs: Math.round(ms) }));
if (kind === 'sqlite') while ((await fleet.store.listOperations({ status: ['pending', 'running'], limit: 1 })).length > 0) await new Promise((res) => setTimeout(res, 50));
await fleet.close();
process.exit(0);
