/**
 * Real Debian packages for the demo, the tests and the lab: find the newest package whose name
 * matches, `apt-get download` it into a cache outside the checkout, and unpack the parts wanted
 * with dpkg-deb. Downloads are cached by file name and never committed.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The cache directory: $PVHCTL_CACHE, else ~/.cache/pvhctl (kept between CI runs on one machine). */
export function cacheDir(...parts: string[]): string {
  const dir = join(process.env.PVHCTL_CACHE ?? join(homedir(), '.cache', 'pvhctl'), ...parts);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Compares two Debian-ish version strings well enough for kernel ABI numbers (numeric runs as numbers). */
function compareVersions(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

/**
 * Names of packages matching `pattern` (an anchored regex over package names) for `arch`, newest first.
 * @example
 * await candidates('^linux-image-6\\.1\\.0-[0-9]+-amd64-unsigned$') // => ['linux-image-6.1.0-56-amd64-unsigned', ...]
 */
export async function candidates(pattern: string): Promise<string[]> {
  const { stdout } = await run('apt-cache', ['search', '--names-only', pattern], { maxBuffer: 16 << 20 });
  const re = new RegExp(pattern);
  const names = stdout.split('\n').map((l) => l.split(' - ')[0]?.trim() ?? '').filter((n) => re.test(n));
  return [...new Set(names)].sort(compareVersions).reverse();
}

let updated = false;

async function aptUpdateOnce(): Promise<void> {
  if (updated) return;
  updated = true;
  await run('apt-get', ['update', '-qq'], { maxBuffer: 16 << 20 }).catch(() => undefined);
}

/**
 * Returns the path of a cached .deb for the newest package matching `pattern`, downloading it
 * with `apt-get download` when no cached one exists. `arch` is a dpkg architecture (`i386`).
 */
export async function fetchDeb(pattern: string, arch?: string): Promise<string> {
  const dir = cacheDir('debs');
  const suffix = arch === undefined ? '' : `:${arch}`;
  const nameRe = new RegExp(pattern);
  const arches = arch === undefined ? ['amd64', 'all'] : [arch];
  const cached = readdirSync(dir).filter((f) => {
    const [name, , archDeb] = f.replace(/\.deb$/, '').split('_');
    return f.endsWith('.deb') && name !== undefined && nameRe.test(name) && arches.includes(archDeb ?? '');
  });
  if (cached.length > 0) return join(dir, cached.sort(compareVersions).reverse()[0]!);

  let names = await candidates(pattern);
  if (names.length === 0) {
    await aptUpdateOnce();
    names = await candidates(pattern);
  }
  const errors: string[] = [];
  for (const name of names.slice(0, 4)) {
    const tmp = join(dir, `.part-${process.pid}-${Date.now()}`);
    mkdirSync(tmp, { recursive: true });
    try {
      await run('apt-get', ['download', '-q', `${name}${suffix}`], { cwd: tmp, maxBuffer: 16 << 20 });
      const got = readdirSync(tmp).filter((f) => f.endsWith('.deb'));
      if (got.length !== 1) throw new Error(`apt-get download left ${got.length} files`);
      renameSync(join(tmp, got[0]!), join(dir, got[0]!));
      return join(dir, got[0]!);
    } catch (err) {
      errors.push(`${name}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  throw new Error(`no Debian package matching ${pattern}${suffix} could be downloaded (${errors.join('; ') || 'none found; is apt-get update done?'})`);
}

/**
 * Unpacks the members of a .deb below `members` (for example `./boot`) into a cached directory
 * and returns that directory; unpacked once per .deb.
 */
export async function unpackDeb(deb: string, members: string[] = []): Promise<string> {
  const base = deb.split('/').pop()!.replace(/\.deb$/, '');
  const key = members.length === 0 ? 'all' : members.map((m) => m.replace(/[^a-zA-Z0-9]+/g, '_')).join('+');
  const out = cacheDir('unpacked', `${base}@${key}`);
  if (existsSync(join(out, '.done'))) return out;
  await run('bash', ['-o', 'pipefail', '-c', 'dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" "${@:3}"', 'unpack', deb, out, ...members], {
    maxBuffer: 16 << 20,
  });
  await run('touch', [join(out, '.done')]);
  return out;
}

/** Debian 12 kernel flavours used as real test data (see ../shared/xen-facts.md for what each can do). */
export type KernelFlavour = 'amd64' | 'cloud-amd64' | '686-pae' | '686';

export type DebianKernel = { flavour: KernelFlavour; release: string; vmlinuz: string; config: string; deb: string };

/**
 * A real Debian 12 kernel of the given flavour: its vmlinuz and config file, from the newest
 * `linux-image-6.1.0-N-FLAVOUR-unsigned` package apt knows (cached).
 */
export async function debianKernel(flavour: KernelFlavour): Promise<DebianKernel> {
  const arch = flavour.startsWith('686') ? 'i386' : undefined;
  const deb = await fetchDeb(`^linux-image-6\\.1\\.0-[0-9]+-${flavour.replace('.', '\\.')}-unsigned$`, arch);
  const dir = await unpackDeb(deb, ['./boot']);
  const files = readdirSync(join(dir, 'boot'));
  const vmlinuz = files.find((f) => f.startsWith('vmlinuz-'));
  const config = files.find((f) => f.startsWith('config-'));
  if (vmlinuz === undefined || config === undefined) throw new Error(`${deb}: no vmlinuz or config in ./boot`);
  return { flavour, release: vmlinuz.slice('vmlinuz-'.length), vmlinuz: join(dir, 'boot', vmlinuz), config: join(dir, 'boot', config), deb };
}
