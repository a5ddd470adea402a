/**
 * The `rehearse` section of the settings (src/settings/defs.ts) as the options every test boot of
 * this fleet starts from: `pvhctl rehearse`, `POST /v1/guests/{id}/rehearse` and the web page's
 * button. `pvhctl rehearse` flags override them.
 */
import { rehearsalOptions, type RehearsalOptions } from '../fleet/rehearse-plan.ts';
import { numberOf, type Settings } from './resolve.ts';

/**
 * The fleet's rehearsal options from the effective settings.
 * @example
 * rehearsalDefaults(settings) // => { reserveMb: 1024, cowFraction: 0.1, cowMaxBytes: 17179869184, cowMinBytes: 268435456 }
 */
export function rehearsalDefaults(settings: Settings): Partial<RehearsalOptions> {
  return rehearsalOptions({
    reserveMb: numberOf(settings, 'rehearse.reserve'),
    cowPercent: numberOf(settings, 'rehearse.cow_percent'),
    cowMaxGib: numberOf(settings, 'rehearse.cow_max'),
  });
}
