/**
 * `pvhctl config check FILE...` and `pvhctl config convert FILE --to pvh|pvh-shim|pv [--write]`:
 * the imperative shell around src/xlcfg (read files, run the kernel readiness check on a
 * referenced kernel, print, replace atomically).
 */
import { readFile, stat } from 'node:fs/promises';
import { run as settings } from './settings.ts';
import { parse, UsageError } from './args.ts';
import { POD_HELP, POD_OPTIONS, podChoice } from './pod.ts';
import { inspectKernelFile } from '../kernel/inspect.ts';
import { unifiedDiff } from '../util/diff.ts';
import { printable } from '../util/escape.ts';
import { replaceFileAtomically } from '../util/atomic.ts';
import { formatParseError, parseXlConfig } from '../xlcfg/parser.ts';
import { modelOf } from '../xlcfg/model.ts';
import { validateModel, type Finding } from '../xlcfg/validate.ts';
import { convertConfig, DEBIAN_BOOT_PATHS, kernelCheckFrom, type KernelReadiness } from '../xlcfg/rewrite.ts';
import type { SwitchTarget } from '../fleet/types.ts';
import type { XlConfig } from '../xlcfg/types.ts';

export const help = `usage: pvhctl config check [--json] FILE...
       pvhctl config convert FILE --to pvh|pvh-shim|pv [--write] [--json] [options]
       pvhctl config show [--json] | example

check    parse each xl domain config exactly as xl does and report what xl would do with it
         for its guest type: errors (xl refuses), ignored keys, warnings.
convert  rewrite one config for another guest type and print a unified diff; --write replaces
         the file atomically and keeps the previous version beside it (FILE.pvhctl-TIMESTAMP).
         A direct kernel is checked with the kernel readiness check when readable from here.
show     pvhctl's own settings in effect and where each came from (the same as
         pvhctl settings show; see pvhctl.conf(5)).
example  the documented settings file (the same as pvhctl settings example).

options for convert:
  --host-32bit-pv        the target host runs 32-bit PV guests (xen-3.0-x86_32p in xen_caps)
  --guest-arch ARCH      x86_64 or x86_32p, when the config's kernel cannot tell (PV GRUB rollback)
  --pvh-grub PATH        the PVH GRUB image (default ${DEBIAN_BOOT_PATHS.pvhGrub})
  --pv-grub64 PATH       the 64-bit PV GRUB image (default ${DEBIAN_BOOT_PATHS.pvGrub64})
  --pv-grub32 PATH       the 32-bit PV GRUB image (default ${DEBIAN_BOOT_PATHS.pvGrub32})
  --shim PATH            the PV shim (default ${DEBIAN_BOOT_PATHS.shim})
${POD_HELP}
exit status: 0 all files fine (check) or converted; 1 some file unreadable, refused by xl's rules
or not convertible (one line each); 2 usage error.
`;

/** Largest config read (configs are a few KiB; the parser's own limit is 1 MiB). */
const MAX_CONFIG_BYTES = 1 << 20;

type Loaded = { ok: true; config: XlConfig; encoding: 'utf8' | 'latin1'; bytes: Buffer } | { ok: false; error: string };

/**
 * Reads and parses one config file. Valid UTF-8 is read as such; any other bytes as latin1, which
 * round-trips every byte (xl itself reads bytes).
 */
async function load(file: string): Promise<Loaded> {
  let bytes: Buffer;
  try {
    const st = await stat(file);
    if (!st.isFile()) return { ok: false, error: `${printable(file)}: not a regular file` };
    if (st.size > MAX_CONFIG_BYTES) return { ok: false, error: `${printable(file)}: ${st.size} bytes, more than the ${MAX_CONFIG_BYTES} accepted for a domain config` };
    bytes = await readFile(file);
  } catch (err) {
    return { ok: false, error: `${printable(file)}: ${(err as NodeJS.ErrnoException).code ?? ''} ${(err as Error).message.split('\n')[0]}`.replace(/: (\S+) \1:/, ': $1:') };
  }
  let text: string;
  let encoding: 'utf8' | 'latin1' = 'utf8';
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    text = bytes.toString('latin1');
    encoding = 'latin1';
  }
  const r = parseXlConfig(text, file);
  if (!r.ok) return { ok: false, error: formatParseError(r.error) };
  return { ok: true, config: r.config, encoding, bytes };
}

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === '--help' || sub === '-h' || sub === 'help') {
    process.stdout.write(help);
    return 0;
  }
  if (sub === 'check') return check(rest);
  if (sub === 'convert') return convert(rest);
  // pvhctl's own settings live under `pvhctl settings`; `config show` is what an operator types.
  if (sub === 'show' || sub === 'example') return settings([sub, ...rest]);
  throw new UsageError(sub === undefined ? 'missing subcommand: check, convert, show or example' : `unknown subcommand '${printable(sub)}': check, convert, show or example`);
}

async function check(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  if (positionals.length === 0) throw new UsageError('config check: no FILE given');
  let status = 0;
  for (const file of positionals) {
    const loaded = await load(file);
    if (!loaded.ok) {
      status = 1;
      if (values.json) process.stdout.write(`${JSON.stringify({ file, ok: false, error: loaded.error, type: null, findings: [] })}\n`);
      else process.stderr.write(`${loaded.error}\n`);
      continue;
    }
    const v = validateModel(modelOf(loaded.config));
    const errors = v.findings.filter((f) => f.severity === 'error');
    if (errors.length > 0) status = 1;
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ file, ok: errors.length === 0, error: null, type: v.type, findings: v.findings })}\n`);
      continue;
    }
    process.stdout.write(`${printable(file)}: ${v.type === null ? 'type unreadable' : v.type.toUpperCase()}, ${errors.length === 0 ? 'ok' : `${errors.length} error(s)`}\n`);
    for (const f of v.findings) process.stdout.write(`  ${f.severity}: ${describe(f)}\n`);
  }
  return status;
}

function describe(f: Finding): string {
  return printable(f.key === null ? f.message : `${f.key}: ${f.message}`);
}

async function convert(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    to: { type: 'string' },
    write: { type: 'boolean' },
    json: { type: 'boolean' },
    'host-32bit-pv': { type: 'boolean' },
    'guest-arch': { type: 'string' },
    'pvh-grub': { type: 'string' },
    'pv-grub64': { type: 'string' },
    'pv-grub32': { type: 'string' },
    shim: { type: 'string' },
    ...POD_OPTIONS,
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  const pod = podChoice(values);
  const target = values.to;
  if (target !== 'pvh' && target !== 'pvh-shim' && target !== 'pv') throw new UsageError('config convert: --to must be pvh, pvh-shim or pv');
  if (positionals.length !== 1) throw new UsageError('config convert: exactly one FILE');
  const arch = values['guest-arch'];
  if (arch !== undefined && arch !== 'x86_64' && arch !== 'x86_32p') throw new UsageError('config convert: --guest-arch must be x86_64 or x86_32p');
  const file = positionals[0]!;
  const fail = (error: string, reasons: string[] = []): number => {
    if (values.json) process.stdout.write(`${JSON.stringify({ file, to: target, ok: false, error, reasons, warnings: [], written: false, kept: null, diff: null })}\n`);
    else process.stderr.write(`${printable(error)}\n`);
    return 1;
  };
  const loaded = await load(file);
  if (!loaded.ok) return fail(loaded.error);

  // The shell runs the kernel readiness check; the rewrite itself stays a pure function.
  const model = modelOf(loaded.config);
  const checks = new Map<string, KernelReadiness>();
  if (model.kernel !== null) checks.set(model.kernel, kernelCheckFrom(await inspectKernelFile(model.kernel)));
  const paths = {
    ...(values['pvh-grub'] === undefined ? {} : { pvhGrub: values['pvh-grub'] }),
    ...(values['pv-grub64'] === undefined ? {} : { pvGrub64: values['pv-grub64'] }),
    ...(values['pv-grub32'] === undefined ? {} : { pvGrub32: values['pv-grub32'] }),
    ...(values.shim === undefined ? {} : { shim: values.shim }),
  };
  const r = convertConfig(loaded.config, target as SwitchTarget, {
    paths,
    kernelCheck: (p) => checks.get(p) ?? { readable: false, reason: 'not inspected' },
    host32bitPv: values['host-32bit-pv'] ?? false,
    ...(arch === undefined ? {} : { guestArch: arch }),
    pod,
  });
  if (!r.ok) return fail(`${file}: cannot convert to ${target}: ${r.refusal}`, r.reasons);
  const before = loaded.config.pieces.map((p) => p.text).join('');
  const diff = unifiedDiff(before, r.text, file, `${file} (${target})`);
  let kept: string | null = null;
  if (values.write && diff !== '') {
    try {
      kept = (await replaceFileAtomically(file, Buffer.from(r.text, loaded.encoding), { expect: loaded.bytes })).kept;
    } catch (err) {
      return fail(`${file}: not written: ${(err as Error).message.split('\n')[0]}`, r.reasons);
    }
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ file, to: target, ok: true, error: null, reasons: r.reasons, warnings: r.warnings, written: Boolean(values.write) && diff !== '', kept, diff })}\n`);
    return 0;
  }
  process.stdout.write(diff.split('\n').map((l) => l.split('\t').map(printable).join('\t')).join('\n'));
  for (const reason of r.reasons) process.stderr.write(`pvhctl: ${printable(reason)}\n`);
  for (const w of r.warnings) process.stderr.write(`pvhctl: warning: ${printable(w)}\n`);
  if (values.write) process.stderr.write(diff === '' ? `pvhctl: ${printable(file)} unchanged\n` : `pvhctl: wrote ${printable(file)}; previous version kept as ${printable(kept ?? '(none)')}\n`);
  return 0;
}
