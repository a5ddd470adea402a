import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeLists, parseFrontends, parseXlInfo, parseXlList, parseXlListLong } from './parse.ts';
import { shellJoin } from './runner.ts';
import { domainName, hostPath } from '../driver.ts';
import { parseEndpoint } from './ssh.ts';

// Shapes as Xen 4.17's xl prints them (xl info; xl list; libxl_domain_config_gen_json).
const INFO = `host                   : lab
release                : 6.1.0-26-amd64
xen_major              : 4
xen_minor              : 17
xen_extra              : .5-pre
xen_version            : 4.17.5-pre
xen_caps               : xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64
virt_caps              : pv hvm hap gnttab-v1 gnttab-v2
`;
const LIST = `Name                                        ID   Mem VCPUs\tState\tTime(s)
Domain-0                                     0  1024     2     r-----      12.3
pvgrub                                       3   256     1     -b----       1.2
shim32                                       4   256     1     --p---       0.1
`;
const LONG = JSON.stringify([
  { domid: 0, config: { c_info: { type: 'pv', name: 'Domain-0' }, b_info: {} } },
  { domid: 3, config: { c_info: { type: 'pv', name: 'pvgrub' }, b_info: { 'type.pv': { kernel: '/usr/lib/grub-xen/grub-x86_64-xen.bin' } } } },
  { domid: 4, config: { c_info: { type: 'pvh', name: 'shim32' }, b_info: { 'type.pvh': { pvshim: 'True' } } } },
  { domid: 9, config: { c_info: { type: 'weird', name: 'x' } } },
  'garbage',
]);

test('xl info, xl list and xl list -l', () => {
  assert.deepEqual(parseXlInfo(INFO), { host: 'lab', xenVersion: '4.17.5-pre', xenCaps: ['xen-3.0-x86_64', 'hvm-3.0-x86_32', 'hvm-3.0-x86_32p', 'hvm-3.0-x86_64'], virtCaps: ['pv', 'hvm', 'hap', 'gnttab-v1', 'gnttab-v2'] });
  assert.throws(() => parseXlInfo('nonsense'), /no xen_version/);
  const merged = mergeLists(parseXlListLong(LONG), parseXlList(LIST));
  assert.deepEqual(merged, [
    { name: 'pvgrub', domid: 3, type: 'pv', pvshim: false, state: 'blocked' },
    { name: 'shim32', domid: 4, type: 'pvh', pvshim: true, state: 'paused' },
  ]);
  assert.throws(() => parseXlListLong('{'), /not JSON/);
  assert.deepEqual(parseXlListLong(''), []);
});

test('xenstore frontends: only this domain, vbd and vif states', () => {
  const text = '/local/domain/3/device/vbd/51712/state = "4"\n/local/domain/3/device/vif/0/state = "4"\n/local/domain/3/device/vbd/51712/backend = "/local/domain/0/backend/vbd/3/51712"\n/local/domain/30/device/vif/0/state = "1"\n';
  assert.deepEqual(parseFrontends(text, 3), { vbd: [4], vif: [4] });
});

test('names, paths and shell words are validated before any command line is built', () => {
  assert.equal(domainName('web-01.example'), 'web-01.example');
  for (const bad of ['', '-x', 'a b', 'a;b', '$(x)', 'a'.repeat(65), 'é']) assert.throws(() => domainName(bad), /invalid domain name/);
  assert.equal(hostPath('/etc/xen/a.cfg'), '/etc/xen/a.cfg');
  for (const bad of ['etc/xen', '/etc/../shadow', '/etc/xen/a b', "/etc/'x", '/etc//x', '/x/.']) assert.throws(() => hostPath(bad), /invalid host path/);
  assert.equal(shellJoin(['xl', 'create', '/etc/xen/a.cfg']), "'xl' 'create' '/etc/xen/a.cfg'");
  assert.throws(() => shellJoin(['xl', "a'b"]), /refusing/);
  assert.deepEqual(parseEndpoint('root@127.0.0.1:2222'), { user: 'root', address: '127.0.0.1', port: 2222 });
  assert.deepEqual(parseEndpoint('xen1'), { user: 'root', address: 'xen1', port: 22 });
  assert.throws(() => parseEndpoint('root@host:99999'), /invalid SSH endpoint/);
});
