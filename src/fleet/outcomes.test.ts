import { test } from 'node:test';
import assert from 'node:assert/strict';
import { customerOutcomeWords, operatorOutcomeWords, type Outcome, type OutcomeCode, type SwitchFailure } from './outcomes.ts';
import { outcomeView, reasonColumns, storedReason } from './reasons.ts';

// Operator detail as xl or a guest's console would give it: none of it may reach a customer.
const DETAIL = 'xl create /etc/xen/web1.cfg: libxl: error: PHYS32_ENTRY missing';
const FAILURES: SwitchFailure[] = [
  { kind: 'shutdown-timeout', seconds: 60 },
  { kind: 'driver', step: 'write-config', cause: { kind: 'failed', failure: 'config-changed' }, detail: DETAIL },
  { kind: 'verify', boot: { check: 'timeout', waiting: 'tcp', port: 22, seconds: 120, silentPvh: false }, detail: DETAIL },
  { kind: 'verify', boot: { check: 'guest-reports', says: 'PV', expected: 'PVH' }, detail: DETAIL },
  { kind: 'interrupted', detail: DETAIL },
];

/** One outcome of every code: a new code does not compile until it is here. */
const EVERY: Record<OutcomeCode, Outcome> = {
  switched: { code: 'switched', from: 'pv', to: 'pvh-shim' },
  'rolling-back': { code: 'rolling-back', from: 'pv', to: 'pvh', failure: FAILURES[2]! },
  'rolled-back': { code: 'rolled-back', from: 'pv', to: 'pvh', failure: FAILURES[1]!, restarted: false },
  undone: { code: 'undone', from: 'pv', by: 'token:3' },
  'rollback-failed': { code: 'rollback-failed', from: 'pv', failure: FAILURES[3]!, cause: { kind: 'unreachable', failure: null }, detail: DETAIL },
  powered: { code: 'powered', action: 'shutdown' },
  'reboot-left-down': { code: 'reboot-left-down', cause: { kind: 'failed', failure: null }, detail: DETAIL },
};

test('every outcome renders in both voices; customers never see the operator detail, operators do', () => {
  for (const o of Object.values(EVERY)) {
    const customer = customerOutcomeWords(o);
    const operator = operatorOutcomeWords(o);
    assert.match(customer, /^[A-Z][^\n]*\.$/, `${o.code}: ${customer}`);
    assert.doesNotMatch(customer, /\/etc\/xen|PHYS32|libxl|token:|undefined|null|\{/, `${o.code}: ${customer}`);
    assert.ok(operator.startsWith(`${o.code}: `), `${o.code}: ${operator}`);
    if (JSON.stringify(o).includes(DETAIL)) assert.ok(operator.includes(DETAIL), `${o.code}: operators keep the detail: ${operator}`);
    const stored = reasonColumns(o);
    assert.deepEqual(storedReason(stored.reason_code, stored.reason_params), o, `${o.code}: read back as written`);
    const view = outcomeView({ status: 'done', detail: null, ...stored }, 'customer');
    assert.equal(view.reason, customer);
    assert.doesNotMatch(JSON.stringify(view.reason_params), /\/etc\/xen|libxl|token:|"detail"/, `${o.code}: customer params`);
  }
});

test('which check failed and what the rollback did are in the words', () => {
  const words = (failure: SwitchFailure, restarted = true) => [customerOutcomeWords({ code: 'rolled-back', from: 'pv', to: 'pvh', failure, restarted }), operatorOutcomeWords({ code: 'rolled-back', from: 'pv', to: 'pvh', failure, restarted })];
  assert.deepEqual(words(FAILURES[2]!), [
    'The switch to PVH did not work: the server does not answer on port 22 within 120 s. The server was restarted in PV mode with its settings unchanged.',
    `rolled-back: verify failed (timeout, waiting for tcp): ${DETAIL}; config restored, restarted as pv and verified`,
  ]);
  assert.deepEqual(words(FAILURES[0]!, false), [
    'The switch to PVH did not work: the server did not shut down within 60 s. Its settings were restored unchanged; it was not running before and stays stopped.',
    'rolled-back: xl shutdown -w did not finish within 60 s; no --force, so no destroy; config restored, left stopped as it was before',
  ]);
  assert.equal(customerOutcomeWords(EVERY['rollback-failed']), 'The server could not be brought back in PV mode automatically (the host could not be reached). Our team has been alerted; its settings are saved.');
});

test('a stored outcome whose parameters do not fit its code is not trusted: the row shows its prose', () => {
  assert.equal(storedReason('rolled-back', '{"from":"pv","to":"pvh","restarted":true}'), null, 'no failure');
  assert.equal(storedReason('rolled-back', '{"from":"pv","to":"pvh","restarted":true,"failure":{"kind":"verify","boot":{"check":"rm -rf"},"detail":"x"}}'), null);
  assert.equal(storedReason('powered', '{"action":"destroy"}'), null);
  assert.equal(storedReason('switched', '{"from":"pv","to":"pvh"'), null, 'broken JSON');
  const old = { status: 'rolled-back', reason: 'The switch to PVH did not work: it crashed.', detail: 'domain crashed', reason_code: null, reason_params: null };
  assert.deepEqual(outcomeView(old, 'operator'), { reason: old.reason, reason_code: null, reason_params: null });
});
