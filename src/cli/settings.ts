/**
 * `pvhctl settings show|example`: pvhctl's own settings (/etc/pvhctl/pvhctl.conf). Named
 * `settings` because `pvhctl config` is about xl domain configs.
 */
import { keyOf } from '../settings/defs.ts';
import { loadSettings, settingsPath } from '../settings/load.ts';
import { renderExample } from '../settings/render.ts';
import { placeOf } from '../settings/resolve.ts';
import { printable } from '../util/escape.ts';
import { parse, UsageError } from './args.ts';
import { table } from './fleet-common.ts';

export const help = `usage: pvhctl settings show [--json]
       pvhctl settings example

show     print every setting in effect and where it came from: a flag, an environment variable,
         the settings file (FILE:LINE) or the default. A file, variable or value that cannot be
         used is one line naming its place, and exit status 2.
example  print the documented settings file (what the Debian package installs as
         /etc/pvhctl/pvhctl.conf), every setting commented out at its default.

The settings file is $PVHCTL_CONFIG if set, else /etc/pvhctl/pvhctl.conf if it exists (see
pvhctl.conf(5)). Flags override environment variables, which override the file.

exit status: 0 printed; 2 usage error or unusable settings
`;

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  const [verb, ...rest] = positionals;
  if (rest.length > 0) throw new UsageError(`unexpected ${JSON.stringify(printable(rest[0]!.slice(0, 80)))}`);
  if (verb === 'example') {
    process.stdout.write(renderExample());
    return 0;
  }
  if (verb !== 'show') throw new UsageError("expected 'show' or 'example'");
  const settings = loadSettings();
  const rows = [...settings.values()];
  if (values.json) {
    const file = settingsPath();
    process.stdout.write(`${JSON.stringify({ file: file.path, settings: Object.fromEntries(rows.map((e) => [keyOf(e.def), { value: e.value, source: e.source }])) })}\n`);
    return 0;
  }
  const show = (v: unknown) => (v === null ? '-' : printable(typeof v === 'string' ? JSON.stringify(v) : String(v)));
  process.stdout.write(table(['SETTING', 'VALUE', 'FROM'], rows.map((e) => [keyOf(e.def), show(e.value), placeOf(e.source)])));
  return 0;
}
