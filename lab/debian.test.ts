import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEBIAN_SYSTEMS, debianKey, imageMiB } from './debian.ts';
import { EXTENT_MIB } from './guests.ts';

test('a Debian image is sized tightly: a quarter over its files and 48 MiB, in whole extents', () => {
  assert.equal(imageMiB(400), 548);
  assert.equal(imageMiB(1), 52);
  for (const used of [0, 1, 99, 333, 1000]) {
    const mib = imageMiB(used);
    assert.equal(mib % EXTENT_MIB, 0);
    assert.ok(mib >= used * 1.25 + 48 && mib < used * 1.25 + 48 + EXTENT_MIB, `${used} -> ${mib}`);
  }
});

test('the cache key changes with a package version, the package list and the build scripts, and only then', () => {
  const s = DEBIAN_SYSTEMS[0]!;
  const k = debianKey(s, 'systemd 252.39-1~deb12u2\n', 'hooks');
  assert.match(k, /^[0-9a-f]{16}$/);
  assert.equal(debianKey(s, 'systemd 252.39-1~deb12u2\n', 'hooks'), k);
  assert.equal(debianKey({ ...s, include: [...s.include].reverse() }, 'systemd 252.39-1~deb12u2\n', 'hooks'), k, 'order of the list does not matter');
  assert.notEqual(debianKey(s, 'systemd 252.39-1~deb12u3\n', 'hooks'), k);
  assert.notEqual(debianKey(s, 'systemd 252.39-1~deb12u2\n', 'hooks2'), k);
  assert.notEqual(debianKey({ ...s, include: [...s.include, 'openssh-server'] }, 'systemd 252.39-1~deb12u2\n', 'hooks'), k);
});
