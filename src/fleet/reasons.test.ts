import { test } from 'node:test';
import assert from 'node:assert/strict';
import { customerRefusalWords, operatorRefusalWords, outcomeView, outcomeWords, refusalParams, refusalView, storedRefusal, type Refusal, type RefusalCode } from './reasons.ts';

// Operator detail as a guest's disk or an xl error would give it: none of it may reach a customer.
const DETAIL = 'xl: /etc/xen/web1.cfg:3: config parsing error near `PHYS32_ENTRY`';

/** One refusal of every code: a new code does not compile until it is here. */
const EVERY: Record<RefusalCode, Refusal> = {
  'host-no-hvm': { code: 'host-no-hvm' },
  'pci-passthrough': { code: 'pci-passthrough' },
  'not-inspected': { code: 'not-inspected', detail: DETAIL },
  'kernel-no-pvh': { code: 'kernel-no-pvh', detail: DETAIL },
  'kernel-no-pv': { code: 'kernel-no-pv', to: 'pvh-shim', detail: DETAIL },
  'host-no-abi': { code: 'host-no-abi', abi: 'xen-3.0-x86_32p' },
  'same-type': { code: 'same-type', type: 'pvh-shim' },
  'config-unreadable': { code: 'config-unreadable', cause: { kind: 'unreachable', failure: null }, detail: DETAIL },
  'config-invalid': { code: 'config-invalid', detail: DETAIL },
  rewrite: { code: 'rewrite', to: 'pvh', detail: DETAIL },
  pod: { code: 'pod', to: 'pvh', memory: 1024, maxmem: 4096 },
  'host-unreachable': { code: 'host-unreachable', cause: { kind: 'failed', failure: 'no-hvm' }, detail: DETAIL },
  crashed: { code: 'crashed' },
  busy: { code: 'busy' },
  'no-switch': { code: 'no-switch' },
  'already-running': { code: 'already-running' },
  'not-running': { code: 'not-running' },
  'shutdown-timeout': { code: 'shutdown-timeout', seconds: 60 },
  'power-failed': { code: 'power-failed', cause: { kind: 'failed', failure: null }, detail: DETAIL },
  'queue-unavailable': { code: 'queue-unavailable', detail: DETAIL },
};

test('every refusal code renders in both voices, and the customer never sees the operator detail', () => {
  for (const r of Object.values(EVERY)) {
    const customer = customerRefusalWords(r);
    const operator = operatorRefusalWords(r);
    assert.match(customer, /^[A-Z][^\n]*[^.]\.$/, `${r.code}: one sentence: ${customer}`);
    assert.doesNotMatch(customer, /\/etc\/xen|PHYS32|xl:|parsing|xen-3\.0|\{|undefined|null/, `${r.code}: ${customer}`);
    assert.ok(operator.startsWith(`${r.code}: `), `${r.code}: ${operator}`);
    assert.notEqual(customer, operator);
    if ('detail' in r) assert.ok(operator.includes(DETAIL), `${r.code}: operators keep the detail: ${operator}`);
    const view = refusalView(r, 'customer');
    assert.deepEqual(view, { code: r.code, params: Object.fromEntries(Object.entries(refusalParams(r)).filter(([k]) => k !== 'detail')), words: customer });
    assert.doesNotMatch(JSON.stringify(view), /\/etc\/xen|PHYS32|xl:/, `${r.code}: customer params`);
    assert.deepEqual(refusalView(r, 'operator').params, refusalParams(r));
  }
});

test('the words say what each code means', () => {
  assert.equal(customerRefusalWords(EVERY['same-type']), 'The server already runs in PVH (with the PV shim) mode.');
  assert.equal(customerRefusalWords(EVERY['config-unreadable']), "The server's settings could not be read (the host could not be reached).");
  assert.equal(customerRefusalWords(EVERY['host-unreachable']), "The server's host could not be asked (this host has no hardware virtualisation for PVH).");
  assert.equal(customerRefusalWords({ code: 'kernel-no-pv', to: 'pv', detail: 'x' }), "The server's kernel cannot start in PV mode: it is not a Xen PV kernel.");
  assert.equal(customerRefusalWords({ code: 'host-no-abi', abi: 'xen-3.0-x86_64' }), 'This host does not run this kind of PV server.');
  assert.equal(operatorRefusalWords({ code: 'kernel-no-pvh', detail: 'no PHYS32_ENTRY note.' }), 'kernel-no-pvh: the kernel cannot boot as PVH: no PHYS32_ENTRY note');
  assert.equal(operatorRefusalWords(EVERY['host-no-abi']), "host-no-abi: the host's xen_caps lack xen-3.0-x86_32p, the kernel's PV ABI");
  assert.equal(customerRefusalWords(EVERY['shutdown-timeout']), 'The server did not shut down within 60 s; it is still running. Shut it down from its console, or contact support.');
  assert.equal(customerRefusalWords(EVERY['power-failed']), 'That did not work: the host refused to start the server.');
  assert.equal(customerRefusalWords({ code: 'power-failed', cause: { kind: 'unreachable', failure: null }, detail: 'x' }), 'That did not work: the host could not be reached.');
  assert.equal(operatorRefusalWords(EVERY['already-running']), 'already-running: the domain is already running');
  // populate-on-demand: the customer is told why; the operator gets the two choices and how to make them
  assert.equal(customerRefusalWords(EVERY.pod), 'The server starts with 1024 MB of memory but may grow to 4096 MB, which in PVH mode hands memory out on demand and can crash the server, so nothing was changed; ask us to fix its memory at 1024 MB, or to switch it anyway.');
  assert.match(operatorRefusalWords(EVERY.pod), /^pod: memory \(1024 MB\) is below maxmem \(4096 MB\): .*"out of PoD memory"; choose: maxmem = memory \(switch --maxmem-equals-memory, API "pod": "maxmem-equals-memory"\) or accept populate-on-demand \(--accept-pod, "pod": "accept"\)$/);
});

test('a stored code and its JSON params read back as the refusal', () => {
  for (const r of Object.values(EVERY)) assert.deepEqual(storedRefusal(r.code, JSON.stringify(refusalParams(r))), r);
});

test('rows from before codes, and rows a newer or broken writer left, read as their stored prose', () => {
  const old = { status: 'refused', reason: 'The server already runs in PVH mode.', detail: 'pre-check: same-type', reason_code: null, reason_params: null };
  assert.deepEqual(outcomeView(old, 'customer'), { reason: 'The server already runs in PVH mode.', reason_code: null, reason_params: null });
  assert.equal(outcomeWords(old, 'operator'), 'The server already runs in PVH mode.');
  for (const [code, params] of [
    ['from-a-newer-version', '{}'],
    ['same-type', '{"type":"xen"}'],
    ['same-type', 'not json'],
    ['same-type', '[]'],
    ['kernel-no-pvh', '{}'],
    ['config-unreadable', '{"cause":"unreachable","detail":"x"}'],
    ['busy', `{"x":"${'a'.repeat(20000)}"}`],
    ['__proto__', '{}'],
    ['toString', '{}'],
  ] as const) {
    assert.equal(storedRefusal(code, params), null, `${code} ${params.slice(0, 40)}`);
    assert.equal(outcomeWords({ ...old, reason_code: code, reason_params: params }, 'customer'), old.reason);
  }
  // A status with neither words nor code shows the status.
  assert.equal(outcomeWords({ ...old, reason: null }, 'customer'), 'refused');
});

test('a stored refusal is worded again in the reader\'s voice, with its code and params', () => {
  const row = { status: 'refused', reason: 'stale words', detail: 'pre-check', reason_code: 'kernel-no-pvh', reason_params: JSON.stringify({ detail: DETAIL }) };
  const customer = outcomeView(row, 'customer');
  assert.deepEqual(customer, { reason: customerRefusalWords(EVERY['kernel-no-pvh']), reason_code: 'kernel-no-pvh', reason_params: {} });
  const operator = outcomeView(row, 'operator');
  assert.deepEqual(operator, { reason: operatorRefusalWords(EVERY['kernel-no-pvh']), reason_code: 'kernel-no-pvh', reason_params: { detail: DETAIL } });
});
