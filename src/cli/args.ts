/**
 * Small, strict argument parsing shared by the subcommands (node:util parseArgs with pvhctl's
 * usage-error convention: unknown options and missing values are exit code 2).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

import { UsageError } from '../util/usage-error.ts';

export { UsageError };

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Parses `args` against `options`, throwing UsageError on anything unknown or malformed.
 * @example
 * parse(['--json', 'a'], { json: { type: 'boolean' } }) // => { values: { json: true }, positionals: ['a'] }
 */
export function parse<O extends Options>(args: string[], options: O) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message.split('\n')[0] ?? 'bad arguments' : 'bad arguments');
  }
}

/**
 * Splits a command group's arguments into its subcommand and the rest. An option in first place
 * (`pvhctl host --help`) is not a subcommand: it stays in `rest`, where parse() sees it.
 * @example
 * subcommand(['list', '--json']) // => { sub: 'list', rest: ['--json'] }
 * subcommand(['--help']) // => { sub: undefined, rest: ['--help'] }
 */
export function subcommand(args: readonly string[]): { sub: string | undefined; rest: string[] } {
  const [first, ...others] = args;
  if (first === undefined || first.startsWith('-')) return { sub: undefined, rest: [...args] };
  return { sub: first, rest: others };
}
