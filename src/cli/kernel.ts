/**
 * `pvhctl kernel FILE...`: whether Xen can boot each kernel image as PV, PVH, both or neither.
 * Exit 0 when every file was read, 1 when some could not be (one line each on stderr), 2 on usage.
 */
import { availableParallelism } from 'node:os';
import { inspectKernelFiles } from '../kernel/inspect.ts';
import type { KernelReport, KernelResult } from '../kernel/types.ts';
import { printable } from '../util/escape.ts';
import { parse, UsageError } from './args.ts';

export const help = `usage: pvhctl kernel [--json] [--jobs N] FILE...

Reads each kernel image (bzImage/vmlinuz, ELF vmlinux, or a bare compressed payload) and reports
its format, compression, version, architecture, Xen ELF notes, and whether Xen boots it as PV
(and as which guest ABI) and as PVH, with the reason and Xen's own message for each "no".

  --json     one JSON object per file, one per line (fields documented in docs/cli.md)
  --jobs N   read N files at once (default: one per core)

exit status: 0 every file was read; 1 some could not be; 2 usage error
`;

/** The JSON shape of one result: every field always present, null where unknown. */
export function toJson(r: KernelResult): Record<string, unknown> {
  if (r.error === null) return r;
  return {
    file: r.file,
    format: null,
    compression: null,
    version: null,
    release: null,
    arch: null,
    elfClass: null,
    machine: null,
    bootProtocol: null,
    notes: [],
    notesFrom: null,
    pv: null,
    pvh: null,
    bytesDecompressed: null,
    sha256: null,
    error: r.error,
  };
}

/** The human-readable report of one kernel; guest-controlled strings are escaped. */
export function formatReport(r: KernelReport): string {
  const p = printable;
  const yes = (b: boolean) => (b ? 'yes' : 'no ');
  const lines = [
    p(r.file),
    `  format    ${r.format}${r.bootProtocol ? ` (boot protocol ${r.bootProtocol})` : ''}, ${r.compression === 'none' ? 'uncompressed' : `${r.compression}-compressed`}`,
    `  version   ${r.version === null ? 'unknown' : p(r.version)}`,
    `  arch      ${r.arch ?? 'unknown'} (ELF${r.elfClass ?? '?'} ${p(r.machine ?? '?')})`,
    `  notes     ${r.notes.length === 0 ? 'no Xen ELF notes' : `${r.notes.length} Xen ELF notes from ${r.notesFrom}`}`,
    ...r.notes.map((n) => `    ${n.name.padEnd(18)} ${p(Array.isArray(n.value) ? n.value.join(' ') : n.value)}`),
    `  PV        ${yes(r.pv.capable)} ${r.pv.abi ?? ''}${r.pv.abi ? ': ' : ''}${r.pv.reason}`,
  ];
  if (!r.pv.capable && r.pv.xenMessage) lines.push(`            Xen says: ${p(r.pv.xenMessage)}`);
  lines.push(`  PVH       ${yes(r.pvh.capable)} ${r.pvh.reason}`);
  if (!r.pvh.capable && r.pvh.xenMessage) lines.push(`            Xen says: ${p(r.pvh.xenMessage)}`);
  return lines.join('\n') + '\n';
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { json: { type: 'boolean' }, jobs: { type: 'string' }, help: { type: 'boolean', short: 'h' } });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  if (positionals.length === 0) throw new UsageError('no kernel image given\n' + help);
  const jobs = values.jobs === undefined ? availableParallelism() : Number(values.jobs);
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > 256) throw new UsageError(`--jobs takes a whole number from 1 to 256, not '${values.jobs}'`);
  let failed = 0;
  let first = true;
  await inspectKernelFiles(positionals, {
    concurrency: jobs,
    onResult: (r) => {
      if (r.error !== null) {
        failed++;
        process.stderr.write(`pvhctl kernel: ${printable(r.file)}: ${printable(r.error)}\n`);
      }
      if (values.json) process.stdout.write(JSON.stringify(toJson(r)) + '\n');
      else if (r.error === null) {
        process.stdout.write((first ? '' : '\n') + formatReport(r));
        first = false;
      }
    },
  });
  return failed > 0 ? 1 : 0;
}
