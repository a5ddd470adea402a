/**
 * The domain's vocabulary, spelled once: a guest's boot mode, what a switch and a rehearsal may
 * go to, and the codes of the rules that refuse a switch. A leaf module (it imports nothing), so
 * every layer can share it: the xl config rewrites (src/xlcfg/), the store's schema, the fleet,
 * and the ways in, which render a rule code into a customer's or an operator's words.
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

/** The host policy's rules (src/fleet/policy.ts): what the host and the inspection verdict allow. */
export type PolicyRule = 'host-no-hvm' | 'pci-passthrough' | 'not-inspected' | 'kernel-no-pvh' | 'kernel-no-pv' | 'host-no-abi';

/** Every reason the pre-check refuses a switch (src/fleet/switch.ts precheck). */
export type PrecheckRule = PolicyRule | 'same-type' | 'config-unreadable' | 'config-invalid' | 'rewrite' | 'host-unreachable' | 'crashed';

/** Every reason a switch, rollback or power action is refused before it starts or at its pre-check. */
export type RefusalRule = PrecheckRule | 'busy' | 'no-switch';
