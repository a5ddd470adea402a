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

/** The variable that turns test/e2e/deb-dom0.test.ts on (the .deb installed on the lab's dom0). */
export const DEB_DOM0_ENV = 'PVHCTL_LAB_DEB_DOM0';

/**
 * Whether the lab stage installs the .deb on dom0 and switches a guest with it: on unless
 * PVHCTL_LAB_DEB_DOM0=0 (for quick work on the lab itself); unset, empty or 1 is on; any other
 * value is refused, so that a typo never silently drops the suite.
 * @example
 * debDom0Enabled({}) // => true
 * debDom0Enabled({ PVHCTL_LAB_DEB_DOM0: '0' }) // => false
 */
export function debDom0Enabled(env: Record<string, string | undefined> = process.env): boolean {
  const v = env[DEB_DOM0_ENV];
  if (v === undefined || v === '' || v === '1') return true;
  if (v === '0') return false;
  throw new Error(`${DEB_DOM0_ENV} must be 1 (the default: install the .deb on the lab's dom0 and switch a guest with it) or 0 (skip that), not '${v.slice(0, 32).replace(/[^\x20-\x7e]/g, '?')}'`);
}
