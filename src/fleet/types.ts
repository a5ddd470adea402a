/**
 * The domain's vocabulary, spelled once: a guest's boot mode and what a switch and a rehearsal
 * may go to. A leaf module (it imports nothing), so every layer can share it: the xl config
 * rewrites (src/xlcfg/), the store's schema, the fleet and the ways in. The codes of the rules
 * that refuse a switch, with their words, are in src/fleet/reasons.ts.
 */

/**
 * A guest's boot mode, as `xl list -l` reports the domain: `pvh-shim` is `type = "pvh"` with
 * `pvshim = 1` (a PV kernel in a PVH container, xl.cfg(5)); `hvm` guests are seen, never made.
 */
export type GuestType = 'pv' | 'pvh' | 'pvh-shim' | 'hvm';

/** What a switch may turn a guest into; never HVM (that is a reinstall, not a config change). */
export const SWITCH_TARGETS = ['pvh', 'pvh-shim', 'pv'] as const;
export type SwitchTarget = (typeof SWITCH_TARGETS)[number];

/** What a rehearsal (a test boot on snapshots) may try: the PVH modes. */
export const REHEARSAL_TARGETS = ['pvh', 'pvh-shim'] as const;
export type RehearsalTarget = (typeof REHEARSAL_TARGETS)[number];

/**
 * Whether a string names a switch target (for values read from the store or a request).
 * @example
 * isSwitchTarget('pvh-shim') // => true
 * isSwitchTarget('hvm') // => false
 */
export const isSwitchTarget = (s: string): s is SwitchTarget => (SWITCH_TARGETS as readonly string[]).includes(s);
