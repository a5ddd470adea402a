/**
 * Benchmark: pvhctl's xl config parser against Xen's own (libxlutil's xlu_cfg_readdata, compiled
 * by the test harness), on the same configs, in-process on both sides (no process start-up),
 * interleaved so that machine noise hits both alike. Prints the median time per parse and the ratio.
 *
 *   node bench/xlcfg.ts      (PVHCTL_BENCH_RUNS=N for more runs)
 */
import { execFileSync } from 'node:child_process';
import { parseXlConfig } from '../src/xlcfg/parser.ts';
import { buildXluDump } from '../test/support/xlu/harness.ts';

const RUNS = Number(process.env.PVHCTL_BENCH_RUNS ?? '5');

const SMALL = `# web1
name = "web1"
builder = "generic"
kernel = "/boot/vmlinuz-6.1.0-26-amd64"
ramdisk = "/boot/initrd.img-6.1.0-26-amd64"
root = "/dev/xvda1 ro"
extra = "console=hvc0"
memory = 1024
maxmem = 2048
vcpus = 2
disk = [ 'phy:/dev/vg0/web1,xvda,w', 'file:/srv/xen/web1-swap.img,xvdb,w' ]
vif = [ 'bridge=xenbr0,mac=00:16:3e:00:00:01' ]
vnc = 1
vnclisten = "0.0.0.0"
on_reboot = "restart"
`;
const LISTS = `disk = [\n${Array.from({ length: 2000 }, (_, i) => `  'phy:/dev/vg0/d${i},xvd${i},w', # disk ${i}\n`).join('')}]\n`;
const CASES = [
  { name: 'typical 15-key config', text: SMALL, rounds: 20000 },
  { name: '600 configs in one file (226 KiB)', text: SMALL.repeat(600), rounds: 40 },
  { name: '2000-entry disk list with comments', text: LISTS, rounds: 200 },
];

const bin = buildXluDump();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

console.log(`| config | pvhctl per parse | libxlutil per parse | pvhctl / libxlutil |`);
console.log(`|---|---|---|---|`);
for (const c of CASES) {
  const ours: number[] = [];
  const theirs: number[] = [];
  const body = Buffer.from(c.text, 'utf8');
  for (let r = 0; r < RUNS; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < c.rounds; i++) if (!parseXlConfig(c.text, 'bench.cfg').ok) throw new Error(`${c.name}: pvhctl refused`);
    ours.push(Number(process.hrtime.bigint() - t0) / c.rounds);
    const ns = Number(execFileSync(bin, ['--bench', String(c.rounds)], { input: Buffer.concat([Buffer.from(`${body.length}\n`), body]) }).toString());
    theirs.push(ns / c.rounds);
  }
  const a = median(ours);
  const b = median(theirs);
  const us = (ns: number) => `${(ns / 1000).toFixed(1)} µs`;
  console.log(`| ${c.name} | ${us(a)} | ${us(b)} | ${(a / b).toFixed(2)}x |`);
}
