/**
 * Benchmark: `pvhctl inspect` against the classic dom0 pipeline on the same real guest images, in
 * one run: pygrub (Debian's xen-utils-4.17) extracts the kernel the guest's menu boots, the
 * payload is inflated with the system decompressor (scripts/extract-vmlinux's way), and Xen's
 * readnotes prints the notes. Also: a scan of 100 guests sharing 6 kernels, against the classic
 * pipeline and against its floor (100 empty inspection children two at a time, contained as
 * pvhctl's are, plus the 6 kernels' decompression, measured in the same run), and virt-inspector
 * (libguestfs-tools) when installed.
 *
 *   node bench/inspect.ts      (PVHCTL_BENCH_RUNS=N rounds per guest, median reported; default 5)
 *   PVHCTL_BENCH_ONLY=scan node bench/inspect.ts    (the scan against its floor, nothing else)
 *   PVHCTL_BENCH_SCAN_ROUNDS=5 PVHCTL_BENCH_ONLY=scan node bench/inspect.ts    (5 rounds of it; default 3)
 *
 * Prints per-guest medians, the ratios, and where pygrub picks another kernel than the guest boots.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cacheDir, debianKernel, fetchDeb, type KernelFlavour } from '../src/debian/apt.ts';
import { libguestfsEnv } from '../test/support/libguestfs.ts';
import type { GuestReport } from '../src/guest/inspect.ts';
import { guestImage } from '../src/guest/testdata/images.ts';
import { fixtureGuests } from '../src/guest/testdata/guests.ts';

const RUNS = Number(process.env.PVHCTL_BENCH_RUNS ?? '5');
const SCAN_ONLY = process.env.PVHCTL_BENCH_ONLY === 'scan';
/** Rounds of the scan against its floor (PVHCTL_BENCH_SCAN_ROUNDS; default the smaller of RUNS and 3). */
const SCAN_ROUNDS = process.env.PVHCTL_BENCH_SCAN_ROUNDS ? Number(process.env.PVHCTL_BENCH_SCAN_ROUNDS) : undefined;
const bin = new URL('../bin/pvhctl.js', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'pvhctl-bench-inspect-'));

/** Debian's xen-utils-4.17 and libxenmisc4.17 unpacked (pygrub, its xenfsimage plugins, readnotes). */
async function xenTools(): Promise<{ env: NodeJS.ProcessEnv; pygrub: string; readnotes: string }> {
  const dir = cacheDir('bench-xen-utils');
  if (!existsSync(join(dir, '.done'))) {
    for (const p of ['^xen-utils-4\\.17$', '^libxenmisc4\\.17$']) execFileSync('dpkg-deb', ['-x', await fetchDeb(p), dir]);
    execFileSync('touch', [join(dir, '.done')]);
  }
  const x = join(dir, 'usr/lib/xen-4.17');
  return {
    env: { ...process.env, LD_LIBRARY_PATH: join(x, 'lib/x86_64-linux-gnu'), XEN_FSIMAGE_FSDIR: join(x, 'lib/x86_64-linux-gnu/xenfsimage') },
    pygrub: join(x, 'bin/pygrub'),
    readnotes: join(x, 'bin/readnotes'),
  };
}

/**
 * extract-vmlinux's way, in python: the bzImage payload is at (setup_sects+1)*512 +
 * payload_offset, payload_length long; xz and lz4 must not see the 4-byte size trailer. Writes the
 * payload to argv[2] and prints the command that inflates it.
 */
const EXTRACT_PY = `import sys
b = open(sys.argv[1], 'rb').read()
setup = (b[0x1f1] or 4) + 1
off = setup * 512 + int.from_bytes(b[0x248:0x24c], 'little')
n = int.from_bytes(b[0x24c:0x250], 'little')
p = b[off:off + n]
sys.stdout.write('xz -dc' if p[:6] == b'\\xfd7zXZ\\x00' else 'lz4 -dc' if p[:4] == b'\\x02\\x21\\x4c\\x18' else 'gzip -dc' if p[:2] == b'\\x1f\\x8b' else 'zstd -dcq')
open(sys.argv[2], 'wb').write(p if p[:2] == b'\\x1f\\x8b' else p[:-4])`;

/** The classic pipeline for one guest, as one shell command: pygrub, extract the payload, inflate, readnotes. */
function classicCommand(tools: { pygrub: string; readnotes: string }, img: string, out: string): string {
  return [
    'set -e',
    `k=$(/usr/bin/python3 '${tools.pygrub}' -q --output-format=simple --output-directory='${out}' '${img}' | sed -n 's/^kernel //p')`,
    `d=$(/usr/bin/python3 -c "$EXTRACT" "$k" '${out}/payload')`,
    `$d < '${out}/payload' > '${out}/vmlinux' 2>/dev/null || true`,
    `'${tools.readnotes}' '${out}/vmlinux' > '${out}/notes'`,
    `sha256sum "$k" | cut -d' ' -f1`,
    `rm -f "$k" '${out}'/boot_ramdisk.* '${out}/payload' '${out}/vmlinux'`,
  ]
    .join('\n')
    .replace('$EXTRACT', EXTRACT_PY.replace(/"/g, '\\"').replace(/\$/g, '\\$'));
}

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): { ms: number; status: number | null; stdout: string; stderr: string } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', maxBuffer: 256 << 20 });
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, status: r.status, stdout: r.stdout, stderr: r.stderr };
}

type Timed = { ms: number; cpuMs: number; status: number | null; stdout: string; stderr: string };

/** Runs argv, timed, with the processor time (user and system) of everything it started, from bash's `times`. */
function withCpu(argv: string[], env: NodeJS.ProcessEnv): Timed {
  const r = timed('bash', ['-c', '"$@"; s=$?; times >&2; exit $s', 'bash', ...argv], env);
  const t = /(\d+)m([\d.]+)s (\d+)m([\d.]+)s\s*$/.exec(r.stderr);
  const cpuMs = t === null ? Number.NaN : (Number(t[1]) * 60 + Number(t[2]) + Number(t[3]) * 60 + Number(t[4])) * 1000;
  return { ...r, cpuMs };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * The least time any reader of this kernel must spend: the system decompressor inflating exactly
 * the bytes pvhctl needed (up to the end of the Xen notes, or the whole image when Xen must look
 * at its section headers), into a pipe. Classic time over this is the best ratio possible.
 */
function decompressionFloor(kernelPath: string, bytes: number): number {
  return decompressionFloorTimes(kernelPath, bytes).ms;
}

/** decompressionFloor's wall time and processor time (medians of `runs`). */
function decompressionFloorTimes(kernelPath: string, bytes: number, runs = RUNS): { ms: number; cpuMs: number } {
  if (bytes === 0) return { ms: 0, cpuMs: 0 };
  const payload = join(tmp, 'floor-payload');
  const tool = execFileSync('python3', ['-c', EXTRACT_PY, kernelPath, payload], { encoding: 'utf8' });
  const times = Array.from({ length: runs }, () => withCpu(['bash', '-c', `${tool} < '${payload}' 2>/dev/null | head -c ${bytes} > /dev/null`], process.env));
  return { ms: median(times.map((r) => r.ms)), cpuMs: median(times.map((r) => r.cpuMs)) };
}
const fmt = (ms: number) => `${(ms / 1000).toFixed(3)} s`;

async function main(): Promise<void> {
  const rel = { amd64: '', 'cloud-amd64': '', '686-pae': '', '686': '' } as Record<KernelFlavour, string>;
  for (const f of Object.keys(rel) as KernelFlavour[]) rel[f] = (await debianKernel(f)).release;
  const g = fixtureGuests(rel);
  const images = Object.fromEntries(await Promise.all(NAMES.map(async (n) => [n, await guestImage(g[n])] as const))) as Images;
  const env = { ...process.env, PVHCTL_DATA: join(tmp, 'data') };

  if (!SCAN_ONLY) await coldGuests(g, rel, await xenTools(), images, env);
  await scan(g, rel, env);
  if (!SCAN_ONLY) await virtInspector(images, env);
  rmSync(tmp, { recursive: true, force: true });
}

const NAMES = ['bare', 'mbr-boot', 'gpt', 'logical', 'saved-entry', 'default-not-pvh', 'grub-legacy', 'bls'] as const;
type Images = Record<(typeof NAMES)[number], string>;
type Fixtures = ReturnType<typeof fixtureGuests>;
type Tools = Awaited<ReturnType<typeof xenTools>>;

async function coldGuests(g: Fixtures, rel: Record<KernelFlavour, string>, tools: Tools, images: Images, env: NodeJS.ProcessEnv): Promise<void> {
  console.log(`One cold guest: median of ${RUNS} runs each, interleaved (pvhctl with --no-cache: the kernel is read every time)\n`);
  console.log('guest            pygrub+extract+readnotes   pvhctl inspect   ratio   pygrub boots what the guest boots?');
  const ratios: number[] = [];
  const floors: { name: string; classic: number; ours: number; floor: number }[] = [];
  for (const n of NAMES) {
    const out = join(tmp, `pg-${n}`);
    execFileSync('mkdir', ['-p', out]);
    const classicMs: number[] = [];
    const oursMs: number[] = [];
    let pygrubKernel: string | null = null;
    let pygrubError: string | null = null;
    let report: GuestReport | null = null;
    for (let i = 0; i < RUNS; i++) {
      const c = timed('bash', ['-c', classicCommand(tools, images[n], out)], tools.env);
      if (c.status === 0) {
        classicMs.push(c.ms);
        pygrubKernel = c.stdout.trim();
      } else pygrubError = c.stderr.trim().split('\n').pop() ?? `exit ${c.status}`;
      const o = timed(process.execPath, [bin, 'inspect', '--no-cache', '--json', images[n]], env);
      if (o.status !== 0) throw new Error(`pvhctl inspect failed on ${n}: ${o.stderr}`);
      oursMs.push(o.ms);
      report = JSON.parse(o.stdout) as GuestReport;
    }
    const d = report!.boot?.default;
    const ourKernel = d?.decided ? report!.kernels.find((k) => k.path === report!.boot!.entries[d.index]!.kernelPath) : undefined;
    const ourSha = ourKernel && ourKernel.result.error === null ? ourKernel.result.sha256 : null;
    const ours = median(oursMs);
    let verdict: string;
    if (pygrubError !== null && classicMs.length === 0) verdict = `pygrub fails: ${pygrubError.slice(0, 60)}`;
    else verdict = pygrubKernel === ourSha ? 'yes' : `NO: pygrub extracts another kernel than ${ourKernel?.path ?? '?'}`;
    const classic = classicMs.length > 0 ? median(classicMs) : null;
    if (classic !== null) ratios.push(classic / ours);
    // The kernels pvhctl had to read, from the guest's image files (the fixture's own kernels).
    let floor = 0;
    for (const k of report!.kernels) {
      if (k.result.error !== null || k.cached) continue;
      const flavour = (Object.keys(rel) as KernelFlavour[]).find((f) => k.path.endsWith(`-${rel[f]}`))!;
      floor = Math.max(floor, decompressionFloor((await debianKernel(flavour)).vmlinuz, k.result.bytesDecompressed));
    }
    if (classic !== null && floor > 0) floors.push({ name: n, classic, ours, floor });
    console.log(
      `${n.padEnd(16)} ${(classic === null ? '-' : fmt(classic)).padEnd(26)} ${fmt(ours).padEnd(16)} ${classic === null ? '-'.padEnd(7) : `${(classic / ours).toFixed(2)}x`.padEnd(7)} ${verdict}  [pvhctl: ${report!.verdict.verdict}]`,
    );
  }
  console.log(`\nmedian speed-up on one cold guest: ${median(ratios).toFixed(2)}x\n`);
  // Node itself: an empty process, twice (the command and its contained child).
  const nodeMs = median(Array.from({ length: 9 }, () => timed(process.execPath, ['-e', '0'], env).ms));
  console.log(`Floors: the decompressor alone on the bytes pvhctl reads (the longest kernel, as kernels of a guest are read in parallel), and an empty Node process (${fmt(nodeMs)}):`);
  console.log('guest            classic      pvhctl       decompress floor   best possible ratio (classic / floor)   with 2 Node start-ups');
  for (const f of floors) {
    console.log(
      `${f.name.padEnd(16)} ${fmt(f.classic).padEnd(12)} ${fmt(f.ours).padEnd(12)} ${fmt(f.floor).padEnd(18)} ${`${(f.classic / f.floor).toFixed(2)}x`.padEnd(39)} ${(f.classic / (f.floor + 2 * nodeMs)).toFixed(2)}x`,
    );
  }
  console.log('');
}

/** Distinct kernels in the scan: a fleet runs few. */
const SCAN_KERNELS = 6;

async function scan(g: Fixtures, rel: Record<KernelFlavour, string>, env: NodeJS.ProcessEnv): Promise<void> {
  // A scan: 100 guests sharing 6 distinct kernels (6 images, inspected in turn).
  const scanImages: string[] = [];
  for (let k = 0; k < SCAN_KERNELS; k++) {
    const flavour: KernelFlavour = k % 2 === 0 ? 'amd64' : 'cloud-amd64';
    const r = g.bare;
    const release = rel[flavour];
    scanImages.push(
      await guestImage({
        ...r,
        name: `scan-${k}`,
        root: {
          ...Object.fromEntries(Object.entries(r.root).filter(([p]) => !p.startsWith('boot/'))),
          [`boot/vmlinuz-${release}`]: { kernel: flavour, append: `scan-${k}` },
          [`boot/initrd.img-${release}`]: r.root[`boot/initrd.img-${rel.amd64}`]!,
          'boot/grub/grub.cfg': (r.root['boot/grub/grub.cfg'] as string).replaceAll(rel.amd64, release),
        },
      }),
    );
  }
  const guests = Array.from({ length: 100 }, (_, i) => scanImages[i % SCAN_KERNELS]!);
  // Interleaved rounds (the machine is shared: a run's ratios, not its seconds, are what count):
  // pvhctl with an empty verdict cache, the floor's kernel part (the decompressor alone on the
  // bytes that scan read of each kernel it read), pvhctl again with every verdict cached, and the
  // floor's Node part: one empty child per guest started as pvhctl starts its children (prlimit,
  // setpriv, the same Node flags, descriptors and loader: the least a contained child per guest
  // costs), two at a time as the scan runs. Wall time and the processor time of all processes
  // (`times`). Each round's ratio is against the floor measured in that round.
  const rounds = Math.max(1, SCAN_ROUNDS ?? Math.min(RUNS, 3));
  const cold: Timed[] = [];
  const warm: Timed[] = [];
  const empty: Timed[] = [];
  const decompression: { ms: number; cpuMs: number }[] = [];
  let reports: GuestReport[] = [];
  let read = new Set<string>();
  // The children's program is built once per pvhctl version (bundle.ts), not per scan: built here
  // first. Each round then starts with an empty verdict cache.
  const build = withCpu([process.execPath, bin, 'inspect', '--no-cache', '--json', scanImages[0]!], env);
  for (let i = 0; i < rounds; i++) {
    for (const d of ['kernel-verdicts', 'kernel-files']) rmSync(join(tmp, 'data', d), { recursive: true, force: true });
    const c = withCpu([process.execPath, bin, 'inspect', '--jobs', '2', '--json', ...guests], env);
    if (c.status !== 0) throw new Error(`pvhctl scan failed: ${c.stderr}`);
    reports = c.stdout.trim().split('\n').map((l) => JSON.parse(l) as GuestReport);
    cold.push(c);
    const d = { ms: 0, cpuMs: 0 };
    read = new Set<string>();
    for (const r of reports) {
      for (const k of r.kernels) {
        if (k.result.error !== null || k.cached || read.has(k.result.sha256)) continue;
        read.add(k.result.sha256);
        const flavour = (Object.keys(rel) as KernelFlavour[]).find((f) => k.path.endsWith(`-${rel[f]}`))!;
        // The median of 3 per kernel: one decompression's CPU here swings by 2x with the load, and
        // the floor's 6 of them moved the ratio between runs as much as the scan did.
        const t = decompressionFloorTimes((await debianKernel(flavour)).vmlinuz, k.result.bytesDecompressed, 3);
        d.ms += t.ms;
        d.cpuMs += t.cpuMs;
      }
    }
    decompression.push(d);
    warm.push(withCpu([process.execPath, bin, 'inspect', '--jobs', '2', '--json', ...guests], env));
    empty.push(withCpu([process.execPath, new URL('./empty-children.ts', import.meta.url).pathname, '100', '2'], env));
  }
  const m = (xs: { ms: number; cpuMs: number }[], k: 'ms' | 'cpuMs') => median(xs.map((x) => x[k]));
  const floors = empty.map((e, i) => ({ ms: e.ms + decompression[i]!.ms, cpuMs: e.cpuMs + decompression[i]!.cpuMs }));
  const ratio = (xs: { ms: number; cpuMs: number }[], of: { ms: number; cpuMs: number }[], k: 'ms' | 'cpuMs') => xs.map((x, i) => x[k] / of[i]![k]);
  const list = (rs: number[]) => `${rs.map((r) => `${r.toFixed(2)}x`).join(' ')}, worst ${Math.max(...rs).toFixed(2)}x`;
  const verdicts = [...new Set(reports.map((r) => r.verdict.verdict))];
  console.log(`Scan of 100 guests sharing ${SCAN_KERNELS} kernels (2 at a time; ${rounds} interleaved rounds, medians; pvhctl's verdict cache starts empty):`);
  console.log(`  pvhctl ${fmt(m(cold, 'ms'))} (${fmt(m(cold, 'cpuMs'))} CPU); verdicts: ${verdicts.join(', ')}; ${read.size} kernels read (before: one guest building the children's program, ${fmt(build.cpuMs)} CPU)`);
  console.log(`  floor ${fmt(m(floors, 'ms'))} (${fmt(m(floors, 'cpuMs'))} CPU): 100 empty contained children 2 at a time ${fmt(m(empty, 'ms'))} (${fmt(m(empty, 'cpuMs'))} CPU) + the ${read.size} kernels' decompression ${fmt(m(decompression, 'ms'))} (${fmt(m(decompression, 'cpuMs'))} CPU)`);
  const wall = ratio(cold, floors, 'ms');
  const cpu = ratio(cold, floors, 'cpuMs');
  console.log(`  pvhctl / floor: ${median(wall).toFixed(2)}x wall, ${median(cpu).toFixed(2)}x CPU (each round: ${list(wall)} wall; ${list(cpu)} CPU)`);
  const warmWall = ratio(warm, empty, 'ms');
  const warmCpu = ratio(warm, empty, 'cpuMs');
  console.log(
    `  pvhctl again, every kernel verdict cached: ${fmt(m(warm, 'ms'))} (${fmt(m(warm, 'cpuMs'))} CPU): ${median(warmWall).toFixed(2)}x wall, ${median(warmCpu).toFixed(2)}x CPU of the empty children (each round: ${list(warmWall)} wall; ${list(warmCpu)} CPU)`,
  );
  const oursScan = cold[cold.length - 1]!;
  if (SCAN_ONLY) return;
  // Classic: the per-guest pipeline, two at a time (the machine has 2 cores).
  const tools = await xenTools();
  const scanOut = join(tmp, 'scan');
  execFileSync('mkdir', ['-p', scanOut]);
  const scripts = guests.map((img, i) => {
    const dir = join(scanOut, String(i));
    execFileSync('mkdir', ['-p', dir]);
    writeFileSync(`${dir}.sh`, classicCommand(tools, img, dir) + '\n');
    return `${dir}.sh`;
  });
  const classicScan = timed('bash', ['-c', `printf '%s\\n' "$@" | xargs -P 2 -n 1 bash > /dev/null`, 'scan', ...scripts], tools.env);
  console.log(`  classic ${fmt(classicScan.ms)} (exit ${classicScan.status}): pvhctl is ${(classicScan.ms / oursScan.ms).toFixed(2)}x faster\n`);
}

async function virtInspector(images: Images, env: NodeJS.ProcessEnv): Promise<void> {
  // virt-inspector, when installed: it boots a libguestfs appliance under QEMU, TCG here (this
  // machine's /dev/kvm cannot run it), with a real Debian kernel for the appliance.
  const vi = spawnSync('sh', ['-c', 'command -v virt-inspector'], { encoding: 'utf8' });
  if (vi.status !== 0) {
    console.log('virt-inspector: not installed (apt-get install libguestfs-tools); skipped');
  } else {
    const viEnv = await libguestfsEnv();
    for (const n of ['gpt', 'mbr-boot', 'bare'] as const) {
      const one = timed('virt-inspector', ['--format=raw', '-a', images[n]], viEnv);
      const ours = timed(process.execPath, [bin, 'inspect', '--no-cache', '--json', images[n]], env);
      timed(process.execPath, [bin, 'inspect', '--json', images[n]], env);
      const warm = timed(process.execPath, [bin, 'inspect', '--json', images[n]], env);
      const what = one.status === 0 ? `its report ${/vmlinuz/.test(one.stdout) ? 'names' : 'does not name'} the kernel` : `it failed: ${one.stderr.trim().split('\n')[0]}`;
      console.log(
        `virt-inspector on '${n}': ${fmt(one.ms)} vs pvhctl ${fmt(ours.ms)} reading the kernel (${(one.ms / ours.ms).toFixed(0)}x), ${fmt(warm.ms)} with its verdict cached (${(one.ms / warm.ms).toFixed(0)}x); ${what}`,
      );
    }
  }
}

await main();
