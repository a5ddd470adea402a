/**
 * `--maxmem-equals-memory` and `--accept-pod`: the operator's choice for a PV guest with
 * memory < maxmem, which becomes a populate-on-demand guest under PVH (see PodChoice in
 * src/xlcfg/rewrite.ts). Shared by `config convert` and `switch`.
 */
import type { PodChoice } from '../xlcfg/rewrite.ts';
import { UsageError } from './args.ts';

/** parseArgs options for the choice. */
export const POD_OPTIONS = {
  'maxmem-equals-memory': { type: 'boolean' },
  'accept-pod': { type: 'boolean' },
} as const;

/** The help lines for the choice. */
export const POD_HELP = `  --maxmem-equals-memory  when memory < maxmem, set maxmem = memory (otherwise the guest would be
                         populate-on-demand under PVH, which can crash "out of PoD memory")
  --accept-pod           when memory < maxmem, keep it and accept populate-on-demand
`;

/**
 * The choice from parsed options; both at once is a usage error.
 * @example
 * podChoice({ 'accept-pod': true }) // => 'accept'
 * podChoice({}) // => 'refuse'
 */
export function podChoice(values: { 'maxmem-equals-memory'?: boolean; 'accept-pod'?: boolean }): PodChoice {
  if (values['maxmem-equals-memory'] && values['accept-pod']) throw new UsageError('choose one of --maxmem-equals-memory and --accept-pod');
  return values['maxmem-equals-memory'] ? 'maxmem-equals-memory' : values['accept-pod'] ? 'accept' : 'refuse';
}
