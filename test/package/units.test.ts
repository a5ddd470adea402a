/**
 * The local-xl drop-in (scripts/package.ts LOCAL_XL_DROPIN), held against what runs under it. No
 * systemd runs here, so its capability bounding set is applied the way systemd applies it, with
 * setpriv, before the command: root's capabilities after exec are limited to that set.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { LOCAL_XL_DROPIN } from '../../scripts/package.ts';
import { containedArgv } from '../../src/guest/containment.ts';

/** The values of `KEY=` in the drop-in's [Service] section, in order. */
function values(key: string): string[] {
  return LOCAL_XL_DROPIN.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
}

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
const PRLIMIT = ['/usr/bin/prlimit', '/bin/prlimit'].find((p) => existsSync(p));

test('an inspection child, dropped to nobody as pvhctl does as root, starts inside the drop-in\'s capability bounding set', { skip: process.getuid?.() !== 0 || SETPRIV === undefined || PRLIMIT === undefined ? 'needs root, setpriv and prlimit' : false }, () => {
  const caps = values('CapabilityBoundingSet').join(' ').split(/\s+/).filter((c) => c !== '');
  assert.ok(caps.length > 0, 'the drop-in sets a bounding set');
  const bounding = ['-all', ...caps.map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`)].join(',');
  const child = containedArgv({ prlimit: PRLIMIT!, setpriv: SETPRIV! }, { user: { kind: 'dropped', uid: 65534, gid: 65534 }, addressSpaceBytes: 2 ** 31, cpuSeconds: 120 }, ['/usr/bin/id', '-u']);
  const r = spawnSync(SETPRIV!, [`--bounding-set=${bounding}`, '--', ...child], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), '65534');
});

test("the drop-in lets xl's hotplug scripts set up a guest's vif and disks, and keeps xl's per-domain process on a restart", () => {
  // /etc/xen/scripts/vif-bridge (xen-network-common.sh) runs ip(8) over netlink and needs
  // CAP_NET_ADMIN; locking.sh takes its locks in /var/run/xen-hotplug.
  assert.deepEqual(values('RestrictAddressFamilies'), ['', 'AF_UNIX AF_INET AF_INET6 AF_NETLINK']);
  assert.ok(values('CapabilityBoundingSet').join(' ').split(' ').includes('CAP_NET_ADMIN'));
  assert.ok(values('ReadWritePaths').join(' ').split(' ').includes('/run/xen-hotplug'));
  assert.deepEqual(values('ExecStartPre'), ['+/bin/mkdir -p /run/xen-hotplug']);
  // `xl create` leaves one process per domain that carries out on_reboot and on_poweroff.
  assert.deepEqual(values('KillMode'), ['process']);
});
