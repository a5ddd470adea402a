import assert from 'node:assert/strict';
import { test } from 'node:test';
import { debianKernel } from '../src/debian/apt.ts';
import { inspectKernelFile } from '../src/kernel/inspect.ts';
import { noPvhKernel } from './nopvh.ts';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

test('the no-PVH kernel is the real amd64 kernel, still PV-capable, no longer PVH-capable', async () => {
  const k = await debianKernel('amd64');
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-nopvh-'));
  try {
    const file = join(dir, 'vmlinuz-nopvh');
    writeFileSync(file, await noPvhKernel(readFileSync(k.vmlinuz)));
    const [orig, made] = await Promise.all([inspectKernelFile(k.vmlinuz), inspectKernelFile(file)]);
    if (orig.error !== null || made.error !== null) throw new Error(`inspect failed: ${JSON.stringify([orig, made])}`);
    assert.equal(orig.pvh.capable, true, 'the Debian kernel has the PVH entry');
    assert.equal(made.compression, 'gzip');
    assert.equal(made.version, orig.version);
    assert.equal(made.pv.capable, true);
    assert.equal(made.pvh.capable, false);
    assert.match(made.pvh.reason + ' ' + (('xenMessage' in made.pvh && made.pvh.xenMessage) || ''), /PHYS32_ENTRY|HVM container/);
    assert.equal(made.notes.length, orig.notes.length, 'only the type of one note changed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
