/**
 * `pvhctl scan [HOST]`: import a host's guests and inspect them (all hosts when none is named).
 */
import { printable } from '../util/escape.ts';
import { parse } from './args.ts';
import { COMMON, open, output } from './fleet-common.ts';
import type { ScanResult } from '../fleet/scan.ts';

export const help = `usage: pvhctl scan [HOST...] [--dry-run] [--json]

Reads each host's xl info, running domains and the configs in its config directory; records each
guest, keeps its config as a version when it changed, and inspects its kernel (direct kernels are
read from dom0; GRUB-booted guests need their disk inspected). A progress line is shown on a
terminal. With --json, one object per host. --dry-run reads and inspects but records nothing.

exit status: 0 every host was scanned; 1 some host or config could not be (one line each), or there
is no host to scan; 2 usage
`;

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { ...COMMON, 'dry-run': { type: 'boolean' } });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  const fleet = await open(values['data-dir'], {}, 'needs-store');
  let failed = false;
  try {
    const all = await fleet.store.listHosts();
    const hosts = positionals.length === 0 ? all : positionals.map((n) => all.find((h) => h.name === n) ?? n);
    if (hosts.length === 0) {
      process.stderr.write(`pvhctl scan: no hosts to scan; add one with 'pvhctl host add'\n`);
      failed = true;
    }
    const tty = process.stderr.isTTY && !values.json;
    for (const h of hosts) {
      if (typeof h === 'string') {
        process.stderr.write(`pvhctl scan: no host named ${JSON.stringify(h)}\n`);
        failed = true;
        continue;
      }
      let n = 0;
      let result: ScanResult;
      try {
        result = await fleet.scan(
          h,
          () => {
            n++;
            if (tty && n % 10 === 0) process.stderr.write(`\r${printable(h.name)}: ${n} guests`);
          },
          values['dry-run'] === true,
        );
      } catch (err) {
        process.stderr.write(`${tty ? '\r' : ''}pvhctl scan: ${printable(h.name)}: ${err instanceof Error ? err.message : String(err)}\n`);
        failed = true;
        continue;
      }
      if (tty) process.stderr.write('\r');
      for (const e of result.errors) process.stderr.write(`pvhctl scan: ${printable(e)}\n`);
      for (const w of result.warnings) process.stderr.write(`pvhctl scan: warning: ${printable(w)}\n`);
      if (result.errors.length > 0) failed = true;
      output(values.json, result, (r) => `${printable(r.host)}: ${r.guests} guests (${r.added} new), ${r.inspected} inspected, ${r.errors.length} errors\n`);
    }
  } finally {
    await fleet.close();
  }
  return failed ? 1 : 0;
}
