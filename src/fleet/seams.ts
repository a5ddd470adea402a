/**
 * The small function types the fleet needs from the other parts of pvhctl: reading and rewriting
 * an xl config (src/xlcfg/) and inspecting a guest (src/guest/, src/kernel/). The switch logic takes
 * them as arguments, so it never depends on how they are built.
 */
import type { Verdict } from '../guest/verdict.ts';
import type { DiskFact, GuestFacts } from '../xlcfg/facts.ts';
import type { PodChoice, PodRefusal } from '../xlcfg/rewrite.ts';
import type { GuestType, SwitchTarget } from './types.ts';

/**
 * What the fleet must know from an xl config: a view of src/xlcfg/facts.ts GuestFacts (the one
 * reading of a config into facts; readConfigFacts gives all of it).
 */
export type ConfigFacts = Pick<GuestFacts, 'name' | 'type' | 'kernel' | 'ramdisk' | 'bootloader' | 'pci'> & { disks: Pick<DiskFact, 'path' | 'vdev'>[] };

export type ReadConfigFacts = (content: Uint8Array, file: string) => { ok: true; facts: ConfigFacts } | { ok: false; error: string };

/**
 * A rewritten config, or why it cannot be rewritten (in an operator's words); `pod` when only the
 * operator's populate-on-demand choice is missing (the customer is told why, in words).
 */
export type RewriteResult = { ok: true; content: Uint8Array; changes: string[] } | { ok: false; reason: string; pod?: PodRefusal };

/** What the rewrite may use: the guest's inspection verdict and the host's xen_caps. */
/** `pod`: the operator's choice for memory < maxmem (src/xlcfg/rewrite.ts PodChoice; default refuse). */
export type RewriteContext = { verdict: GuestVerdict | null; xenCaps: string[]; pod?: PodChoice };

export type RewriteConfig = (content: Uint8Array, file: string, to: SwitchTarget, ctx: RewriteContext) => RewriteResult;

/**
 * What inspection decided a guest's kernel can boot as. `unknown` when it could not be read (the
 * reason says why); a switch then needs --force.
 */
export type GuestVerdict = {
  pv: { capable: boolean; abi: string | null; reason: string };
  pvh: { capable: boolean; reason: string };
  arch: 'x86_64' | 'x86_32p' | 'x86_32' | null;
  /** Where the verdict came from: the kernel file in dom0, the guest's disk, or the simulator. */
  source: 'kernel' | 'disk' | 'sim' | 'unknown';
  kernelVersion: string | null;
  /**
   * The disk inspection's whole verdict (src/guest/verdict.ts), kept as it is so that
   * `ready-after-reboot`, `needs-kernel` and its install hint reach the ways in; null when the
   * guest's disk was not inspected (a kernel in dom0, the simulator, a failure).
   */
  inspection: Verdict | null;
  /**
   * The guest's distribution as its disk says (os-release ID and ID_LIKE), so that customer mail
   * gives steps for it; null or absent when the disk was not read or says none.
   */
  os?: GuestOs | null;
};

/** A guest's distribution: os-release's ID (`debian`, `rocky`) and ID_LIKE, bounded. */
export type GuestOs = { id: string; idLike: string[] };

export type InspectInput = { hostName: string; guestName: string; configPath: string; facts: ConfigFacts };

export type InspectGuest = (input: InspectInput) => Promise<GuestVerdict>;

export const UNKNOWN_VERDICT = (reason: string): GuestVerdict => ({
  pv: { capable: false, abi: null, reason },
  pvh: { capable: false, reason },
  arch: null,
  source: 'unknown',
  kernelVersion: null,
  inspection: null,
});
