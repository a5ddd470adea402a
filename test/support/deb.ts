/**
 * The Debian package of this checkout for the tests that install it (test/package/deb.test.ts,
 * test/e2e/deb-dom0.test.ts): artifacts/'s when it is newer than every source it is built from,
 * else built now as `npm run package` builds it. One build serves both suites of a run.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildPackage } from '../../scripts/package.ts';

const repo = fileURLToPath(new URL('../..', import.meta.url));

/** The newest modification time under `path` (files and directories). */
function newest(path: string): number {
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  return readdirSync(path).reduce((m, e) => Math.max(m, newest(join(path, e))), s.mtimeMs);
}

/**
 * The path of artifacts/pvhctl_VERSION_amd64.deb, built first when missing or older than bin/,
 * src/, lab/, scripts/ or the package files.
 * @example
 * thePackage() // => '/work/pvhctl/artifacts/pvhctl_0.1.0_amd64.deb'
 */
export function thePackage(): string {
  const { version } = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string };
  const deb = join(repo, 'artifacts', `pvhctl_${version}_amd64.deb`);
  const sources = ['bin', 'src', 'lab', 'scripts', 'package.json', 'package-lock.json'].map((p) => newest(join(repo, p)));
  if (existsSync(deb) && statSync(deb).mtimeMs > Math.max(...sources)) return deb;
  return buildPackage();
}
