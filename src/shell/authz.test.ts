import { test } from 'node:test';
import assert from 'node:assert/strict';
import { guestLabel, mayAct, resolveGuest, type OwnedGuest, type ShellAction } from './authz.ts';

const G = (name: string, host: string, owner: string | null, health: OwnedGuest['health'] = 'ok'): OwnedGuest => ({ name, host, owner, health });
const fleet = [G('web', 'xen1', 'alice'), G('db', 'xen1', 'alice'), G('web', 'xen2', 'alice'), G('shop', 'xen1', 'bob'), G('orphan', 'xen2', null)];

test("a customer resolves only their own guests; another's looks like no guest at all", () => {
  assert.deepEqual(resolveGuest(fleet, 'alice', 'db'), { ok: true, guest: fleet[1] });
  const theirs = resolveGuest(fleet, 'alice', 'shop');
  const nowhere = resolveGuest(fleet, 'alice', 'nosuch');
  assert.deepEqual(theirs, { ok: false, error: 'you have no server called "shop"' });
  assert.deepEqual(nowhere, { ok: false, error: 'you have no server called "nosuch"' });
  assert.equal(resolveGuest(fleet, 'bob', 'web').ok, false);
  assert.equal(resolveGuest(fleet, 'bob', 'shop@xen2').ok, false);
  assert.equal(resolveGuest(fleet, '', 'orphan').ok, false, 'no owner is nobody');
  assert.equal(resolveGuest(fleet, 'null', 'orphan').ok, false);
});

test('two guests of one name need NAME@HOST', () => {
  const r = resolveGuest(fleet, 'alice', 'web');
  assert.ok(!r.ok);
  assert.match(r.error, /2 servers called web; say which: web@xen1, web@xen2/);
  assert.deepEqual(resolveGuest(fleet, 'alice', 'web@xen2'), { ok: true, guest: fleet[2] });
  assert.equal(resolveGuest(fleet, 'alice', 'web@xen3').ok, false);
  assert.equal(guestLabel(fleet[0]!, fleet.filter((g) => g.owner === 'alice')), 'web@xen1');
  assert.equal(guestLabel(fleet[1]!, fleet.filter((g) => g.owner === 'alice')), 'db');
});

test('bad references never match', () => {
  for (const ref of ['', '*', 'web%', '../web', 'web@', '@xen1', 'web@xen1@x', 'we b', 'web\n', 'x'.repeat(65)]) {
    assert.equal(resolveGuest(fleet, 'alice', ref).ok, false, JSON.stringify(ref));
  }
});

test('what may be done depends on owner and health', () => {
  const all: ShellAction[] = ['view', 'console', 'mode', 'undo', 'boot', 'shutdown', 'reboot'];
  for (const a of all) {
    assert.deepEqual(mayAct(G('web', 'xen1', 'alice'), 'alice', a), { ok: true });
    assert.equal(mayAct(G('web', 'xen1', 'alice'), 'bob', a).ok, false, `bob ${a}`);
    assert.equal(mayAct(G('web', 'xen1', null), '', a).ok, false);
  }
  const switching = G('web', 'xen1', 'alice', 'switching');
  assert.deepEqual(all.filter((a) => mayAct(switching, 'alice', a).ok), ['view', 'console']);
  const attention = G('web', 'xen1', 'alice', 'needs-attention');
  assert.deepEqual(all.filter((a) => mayAct(attention, 'alice', a).ok), ['view', 'console', 'undo']);
  const r = mayAct(attention, 'alice', 'mode');
  assert.ok(!r.ok && /needs our team's attention/.test(r.reason));
});
