/**
 * The seam between a campaign and its mail to customers (issue #14): the campaign engine decides
 * when a mail is due to whom and hands a Notice to a Notifier; src/notify/ decides what it says
 * (customer words, distribution-specific instructions, a signed link) and how it goes out (SMTP,
 * retries, one row per mail with its message id). Sending the same Notice twice sends one mail:
 * a campaign tick may run again after a crash.
 */
import type { GuestPath } from './planner.ts';
import type { SwitchTarget } from './types.ts';

/** Which mail: the notice N days ahead, the reminder the day before, the result after the switch. */
export type NoticeKind = 'notice' | 'reminder' | 'result';

/** What happened to the guest in its slot, for the result mail. `reason`: customer words. */
export type NoticeOutcome =
  | { kind: 'switched'; to: SwitchTarget }
  | { kind: 'rolled-back'; to: SwitchTarget; reason: string }
  /** Not started in the slot (the window closed, the campaign paused or the guest was busy); it gets a new slot. */
  | { kind: 'not-started'; reason: string };

/** One guest's slot in a campaign: when its switch may run, in the host's time zone. */
export type NoticeSlot = {
  start: Date;
  end: Date;
  /** The host's IANA time zone (`Europe/Berlin`), in which the mail shows the times. */
  timeZone: string;
};

/** A mail that is due. (campaignId, guestId, kind, noticeKey) identifies it: one mail each. */
export type Notice = {
  kind: NoticeKind;
  campaignId: number;
  campaignName: string;
  guestId: number;
  guestName: string;
  /** The guest's owner (guests.owner); src/notify/ looks up the address. */
  owner: string;
  host: string;
  /**
   * The guest's slot; null for a guest held for its customer on a host that has no window in the
   * campaign: it is told what to do, but no switch is scheduled for it in this campaign.
   */
  slot: NoticeSlot | null;
  /** The planner's path: what the customer must do first for after-reboot / after-kernel-upgrade. */
  path: GuestPath;
  /** The guest's distribution as inspection read it (os-release ID, e.g. `debian`), null when unknown. */
  distro: string | null;
  outcome?: NoticeOutcome;
};

/** A notice with no slot is keyed by this instead of a slot's start: there is one such notice per guest and campaign. */
export const NO_SLOT_KEY = 'no-slot';

/**
 * The part of a Notice's identity that tells its slots apart: the slot's start, or NO_SLOT_KEY.
 * @example
 * noticeKey({ ...n, slot: { start: new Date('2026-12-08T01:00:00Z'), ... } }) // => '2026-12-08T01:00:00.000Z'
 * noticeKey({ ...n, slot: null }) // => 'no-slot'
 */
export function noticeKey(n: Pick<Notice, 'slot'>): string {
  return n.slot === null ? NO_SLOT_KEY : n.slot.start.toISOString();
}

/** What became of one Notice. */
export type NoticeResult =
  | { status: 'sent'; messageId: string }
  /** Sent before (the same identity); nothing was sent again. */
  | { status: 'already-sent'; messageId: string }
  /** The owner has no address on record: nothing can be sent; the operator is told. */
  | { status: 'no-address' }
  /** Every delivery try failed; the next campaign tick tries again. */
  | { status: 'failed'; error: string };

/** Sends campaign mail. The campaign engine calls it from its tick; tests pass a recording one. */
export interface Notifier {
  send(notice: Notice): Promise<NoticeResult>;
}
