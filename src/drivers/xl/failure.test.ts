import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DriverError } from '../driver.ts';
import { xlFailure } from './failure.ts';
import { checkExit } from './runner.ts';

test('xl, lvcreate and cp failures are recognised from their own messages', () => {
  const cases: [string, ReturnType<typeof xlFailure>][] = [
    ['libxl: error: libxl_dom.c:581:libxl__build_dom: xc_dom_guest_type: image not capable of booting inside a HVM container', 'no-pvh-entry'],
    ['xc: error: panic: xc_dom_core.c:704: xc_dom_find_loader: no loader found: Invalid kernel', 'no-pv-loader'],
    ['xc_dom_compat_check: guest type xen-3.0-x86_32p not supported by xen kernel, sorry', 'abi-unsupported'],
    ['xc_dom_boot_xen_init: hvm not supported by this host', 'no-hvm'],
    ['libxl: error: libxl_pci.c: PCI passthrough not yet supported for PVH guests', 'pci-passthrough'],
    ['libxl: error: libxl_create.c: Domain with name "web1" already exists.', 'domain-exists'],
    ['lvcreate: snapshot: Required device-mapper target(s) not detected in your kernel.', 'no-dm-snapshot'],
    ['Volume group "vg0" has insufficient free space (3 extents): 256 required.', 'vg-full'],
    ["cp --reflink=always /srv/a.img /srv/b.img: cp: failed to clone '/srv/b.img' from '/srv/a.img': Operation not supported", 'no-reflink'],
    ['/etc/xen/web1.cfg:3: config parsing error near `x', null],
    ['Logical Volume "snap" already exists in volume group "vg0"', null],
  ];
  for (const [text, want] of cases) assert.equal(xlFailure(text), want, text);
});

test('a failed command becomes a DriverError with its failure code and xl\'s text for operators', () => {
  const err = (() => {
    try {
      checkExit(['xl', 'create', '/etc/xen/web1.cfg'], { code: 3, stdout: Buffer.alloc(0), stderr: 'Parsing config from /etc/xen/web1.cfg\nxc_dom_find_loader: no loader found\nlibxl: error: cannot (re-)build domain: -3\n' });
    } catch (e) {
      return e;
    }
    return null;
  })();
  assert.ok(err instanceof DriverError);
  assert.equal(err.failure, 'no-pv-loader');
  assert.equal(err.message, 'xl create /etc/xen/web1.cfg: xc_dom_find_loader: no loader found | libxl: error: cannot (re-)build domain: -3');
});
