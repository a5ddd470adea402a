/**
 * Benchmark: pvhctl kernel against the classic pipeline (scripts/extract-vmlinux's way: the
 * system decompressor inflates the whole payload to a file, then `readelf -n`) and against the
 * floor (the system decompressor writing only the bytes up to the end of the notes), on the same
 * real kernels, interleaved round-robin so that machine noise hits all three alike.
 *
 *   npm run bench            (PVHCTL_BENCH_RUNS=N for more runs; the median is reported)
 *
 * Reports wall time, peak RSS (GNU time's %M) and the ratios; then many kernels in one call
 * against the classic pipeline run per file.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { kernel, repacked } from '../test/fixtures/kernels.ts';
import { parseSetupHeader } from '../src/kernel/bzimage.ts';
import { inspectKernelFile } from '../src/kernel/inspect.ts';
import { sniffCompression } from '../src/kernel/sniff.ts';

const RUNS = Number(process.env.PVHCTL_BENCH_RUNS ?? '7');
const bin = new URL('../bin/pvhctl.js', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'pvhctl-bench-'));

const DECOMP: Record<string, string> = {
  xz: 'xz -dc --single-stream',
  lz4: 'lz4 -dc',
  gzip: 'gzip -dc',
  zstd: 'zstd -dcq',
  bzip2: 'bzip2 -dc',
  lzo: 'lzop -dc',
  lzma: 'xz -dc --format=lzma',
};

type Case = { name: string; file: string; classic: string; floor: string };

async function makeCase(name: string, file: string): Promise<Case> {
  const bz = readFileSync(file);
  const h = parseSetupHeader(bz);
  if (!h.ok) throw new Error(`${file}: not a bzImage`);
  const c = sniffCompression(bz.subarray(h.header.payloadStart))!;
  const strip = c === 'gzip' ? 0 : 4;
  const cut = `tail -c +${h.header.payloadStart + 1} '${file}' | head -c ${h.header.payloadLength - strip}`;
  const r = await inspectKernelFile(file);
  if (r.error !== null) throw new Error(r.error);
  const vm = join(tmp, `${name}.vmlinux`);
  // classic: inflate everything to a file, then readelf -n (errors from trailing data ignored, as extract-vmlinux does)
  const classic = `{ ${cut} | ${DECOMP[c]} > '${vm}' 2>/dev/null; readelf -n '${vm}' > /dev/null; }`;
  // floor: the same decompressor, stopped once the bytes up to the end of the notes are out
  const floor = `{ ${cut} | ${DECOMP[c]} 2>/dev/null | head -c ${r.bytesDecompressed} > /dev/null; }`;
  return { name: `${name} (${c})`, file, classic, floor };
}

/** Wall seconds and peak RSS (KiB) of one shell command, by GNU time. */
function measure(cmd: string): { s: number; kb: number } {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', 'bash', '-o', 'pipefail', '-c', cmd], { encoding: 'utf8' });
  const last = r.stderr.trim().split('\n').pop()!;
  const [s, kb] = last.split(' ').map(Number);
  if (r.status !== 0 && !cmd.includes('head -c')) throw new Error(`${cmd} failed: ${r.stderr}`);
  return { s: s!, kb: kb! };
}
/** Wall seconds and peak RSS of a pipeline: GNU time on bash reports the largest child. */
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

const cases = [
  await makeCase('amd64', (await kernel('amd64')).vmlinuz),
  await makeCase('cloud-amd64', (await kernel('cloud-amd64')).vmlinuz),
  await makeCase('686-pae', (await kernel('686-pae')).vmlinuz),
  await makeCase('amd64', (await repacked('amd64', 'zstd')).bzImage),
  await makeCase('amd64', (await repacked('amd64', 'gzip')).bzImage),
];

console.log(`pvhctl kernel benchmark: ${RUNS} runs each, median; ${availableParallelism()} cores; node ${process.version}`);
console.log('kernel                 pvhctl s   floor s  classic s   pvhctl/floor  classic/pvhctl  pvhctl MB  classic MB');
for (const c of cases) {
  const t = { p: [] as number[], f: [] as number[], c: [] as number[], pm: 0, cm: 0 };
  for (let i = 0; i < RUNS; i++) {
    const p = measure(`${q(process.execPath)} ${q(bin)} kernel --json ${q(c.file)} > /dev/null`);
    const f = measure(c.floor);
    const k = measure(c.classic);
    t.p.push(p.s);
    t.f.push(f.s);
    t.c.push(k.s);
    t.pm = Math.max(t.pm, p.kb);
    t.cm = Math.max(t.cm, k.kb);
  }
  const [p, f, k] = [median(t.p), median(t.f), median(t.c)];
  console.log(
    `${c.name.padEnd(22)} ${p.toFixed(3).padStart(8)} ${f.toFixed(3).padStart(9)} ${k.toFixed(3).padStart(10)} ${(p / f).toFixed(2).padStart(14)}x ${(k / p).toFixed(2).padStart(14)}x ${(t.pm / 1024).toFixed(0).padStart(10)} ${(t.cm / 1024).toFixed(0).padStart(11)}`,
  );
}

// Many kernels in one call vs the classic pipeline once per file.
const many = cases.flatMap((c) => [c, c]);
const manyP: number[] = [];
const manyC: number[] = [];
for (let i = 0; i < Math.max(3, Math.ceil(RUNS / 2)); i++) {
  manyP.push(measure(`${q(process.execPath)} ${q(bin)} kernel --json ${many.map((c) => q(c.file)).join(' ')} > /dev/null`).s);
  manyC.push(measure(many.map((c) => c.classic).join('; ')).s);
}
const [mp, mc] = [median(manyP), median(manyC)];
console.log(`\n${many.length} kernels in one call: pvhctl ${mp.toFixed(3)} s, classic per file ${mc.toFixed(3)} s: pvhctl ${(mc / mp).toFixed(2)}x the throughput`);
execFileSync('rm', ['-rf', tmp]);
