import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { openFleet } from '../fleet/fleet.ts';
import { buildServer } from '../compose/servers.ts';
import { eventBus } from '../fleet/events.ts';
import { parseLifetime, tokenState } from '../store/tokens.ts';
import { STORES } from '../../test/support/stores.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'pvhctl.js');

test('token lifetimes: 30d/12h/90m, nothing else; revoked wins over expiry', () => {
  assert.equal(parseLifetime('30d'), 30 * 86_400_000);
  assert.equal(parseLifetime('12h'), 12 * 3_600_000);
  assert.equal(parseLifetime('90m'), 90 * 60_000);
  for (const bad of ['30', '0d', '-1d', '1w', '1.5d', ' 1d', '99999999d', '4000d']) assert.equal(parseLifetime(bad), null, bad);
  const at = new Date('2026-06-01T00:00:00Z');
  assert.deepEqual(tokenState({ revoked_at: null, expires_at: null }, at), { kind: 'valid' });
  assert.deepEqual(tokenState({ revoked_at: null, expires_at: '2026-06-02T00:00:00Z' }, at), { kind: 'valid' });
  assert.equal(tokenState({ revoked_at: null, expires_at: '2026-06-01T00:00:00Z' }, at).kind, 'expired');
  assert.equal(tokenState({ revoked_at: '2026-05-01T00:00:00Z', expires_at: '2026-01-01T00:00:00Z' }, at).kind, 'revoked');
});

for (const store of STORES) {
  test(`pvhctl token add --expires, list and revoke; the API refuses revoked and expired tokens and says why (${store.kind})`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvhctl-token-'));
    // SQLite: the file in the data directory; PostgreSQL: --store URL on every command
    const url = store.kind === 'sqlite' ? undefined : await store.location();
    const run = (...args: string[]) => {
      const r = spawnSync(process.execPath, [BIN, ...(url ? ['--store', url] : []), 'token', ...args, '--data-dir', dir], { encoding: 'utf8' });
      return { code: r.status, out: r.stdout, err: r.stderr };
    };
    try {
      const a = run('add', '--customer', 'alice', '--expires', '30d', '--json');
      assert.equal(a.code, 0, a.err);
      const alice = JSON.parse(a.out) as { token: string; expiresAt: string };
      const days = (Date.parse(alice.expiresAt) - Date.now()) / 86_400_000;
      assert.ok(days > 29.9 && days <= 30, String(days));
      const op = run('add', '--operator', '--json');
      const operator = (JSON.parse(op.out) as { token: string }).token;
      assert.equal(run('add', '--operator', '--expires', 'soon').code, 2);
      const list = JSON.parse(run('list', '--json').out) as { id: number; role: string; owner: string | null; state: string; expiresAt: string | null }[];
      assert.deepEqual(list.map((t) => [t.role, t.owner, t.state]), [['customer', 'alice', 'valid'], ['operator', null, 'valid']]);
      assert.doesNotMatch(run('list').out, new RegExp(`${alice.token}|${operator}`), 'never the secret');

      // the API on the same data directory (what `pvhctl serve` and the web UI use)
      const fleet = await openFleet({ dataDir: dir, store: url, recover: false });
      const app = await buildServer(fleet, { logger: pino({ level: 'silent' }), bus: eventBus() });
      const me = (t: string) => app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${t}` } });
      try {
        assert.equal((await me(alice.token)).statusCode, 200);
        const rv = run('revoke', String(list[0]!.id));
        assert.equal(rv.code, 0, rv.err);
        assert.equal(run('revoke', String(list[0]!.id)).code, 1, 'already revoked');
        assert.equal(run('revoke', '999').code, 1);
        assert.equal(run('revoke', 'alice').code, 2);
        const refused = await me(alice.token);
        assert.equal(refused.statusCode, 401);
        assert.match(refused.json().error, /revoked/);
        assert.equal((await me(operator)).statusCode, 200, 'the other token still works');
        const expired = await fleet.store.addToken('operator', null, new Date(Date.now() - 1000).toISOString());
        const r = await me(expired);
        assert.equal(r.statusCode, 401);
        assert.match(r.json().error, /expired/);
        const states = (JSON.parse(run('list', '--json').out) as { state: string }[]).map((t) => t.state);
        assert.deepEqual(states, ['revoked', 'valid', 'expired']);
      } finally {
        await app.close();
        await fleet.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
