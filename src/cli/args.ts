/**
 * Small, strict argument parsing shared by the subcommands (node:util parseArgs with pvhctl's
 * usage-error convention: unknown options and missing values are exit code 2).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** An error in how a command was called; main() turns it into exit code 2. */
export class UsageError extends Error {}

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
