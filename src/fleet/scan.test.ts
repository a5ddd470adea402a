/**
 * A scan reads only regular files from the config directory: a `.cfg` symbolic link (to a secret
 * on the host) is named in the report and never read, through the real local runner on a real
 * directory. (`xl info` and `xl list` are answered here: this machine runs no Xen.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { xlDriver } from '../drivers/xl/driver.ts';
import { localRunner } from '../drivers/xl/local.ts';
import { openStore } from '../store/store.ts';
import { readConfigFacts, rewriteConfig } from './xlconfig.ts';
import { scanHost } from './scan.ts';
import { UNKNOWN_VERDICT } from './seams.ts';
import { makeContext } from './switch.ts';
import { STORES } from '../../test/support/stores.ts';

for (const testStore of STORES) {
  test(`scan: a .cfg symbolic link is skipped with a word in the report, its target never read (${testStore.kind})`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvhctl-scan-'));
    const store = await openStore(await testStore.location());
    try {
      const secret = join(dir, 'shadow');
      writeFileSync(secret, 'root:$y$j9T$SECRET-HASH:19700:0:99999:7:::\n');
      const cfgs = join(dir, 'xen');
      mkdirSync(cfgs);
      writeFileSync(join(cfgs, 'web1.cfg'), 'name = "web1"\ntype = "pv"\nkernel = "/boot/vmlinuz"\nmemory = 512\n');
      symlinkSync(secret, join(cfgs, 'evil.cfg'));
      const real = xlDriver('local', localRunner());
      const driver = { ...real, info: async () => ({ host: 'local', xenVersion: '4.17', xenCaps: ['xen-3.0-x86_64'], virtCaps: ['pv'] }), listDomains: async () => [] };
      const ctx = makeContext({ store, driverFor: () => driver, readFacts: readConfigFacts, rewrite: rewriteConfig });
      const host = await store.addHost({
        name: 'local', transport: 'local', endpoint: null, key_path: null, config_dir: cfgs, role: 'pv-pvh', max_parallel: 1,
        xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
      });
      const read: string[] = [];
      const r = await scanHost(ctx, host, async (g) => (read.push(g.configPath), UNKNOWN_VERDICT('not inspected in this test')));
      assert.deepEqual(read, [join(cfgs, 'web1.cfg')]);
      assert.equal(r.guests, 1);
      assert.deepEqual(r.errors, []);
      assert.deepEqual(r.warnings, [`${join(cfgs, 'evil.cfg')}: skipped, a symbolic link (configs must be regular files)`]);
      assert.doesNotMatch(JSON.stringify(r), /SECRET/);
      // Read directly, the link is refused too (O_NOFOLLOW), so a link swapped in after the listing is not followed.
      await assert.rejects(driver.readFile(join(cfgs, 'evil.cfg') as never, 4096), /symbolic link; not followed/);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
