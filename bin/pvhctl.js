#!/usr/bin/env node
// pvhctl's entry point. The code is TypeScript run by Node 24's type stripping; when this file is
// started by an older Node (Debian 12 ships 20), re-run it under the Node 24 that `npm ci`
// installs into node_modules (the pinned `node` dev dependency).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import module from 'node:module';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  const node24 = fileURLToPath(new URL('../node_modules/node/bin/node', import.meta.url));
  if (!existsSync(node24)) {
    process.stderr.write(`pvhctl: needs Node.js 24 or later (this is ${process.version}); run 'npm ci' in the pvhctl checkout first\n`);
    process.exit(2);
  }
  const r = spawnSync(node24, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
// Cache the compiled (type-stripped) modules on disk: halves start-up, which matters for a
// command that answers in a fraction of a second.
module.enableCompileCache?.();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
