/** The notice the crash test's child sends, and the test sends again after the crash. */
import type { Notice } from '../../fleet/notice.ts';

export const CRASH_NOTICE: Notice = {
  kind: 'notice', campaignId: 3, campaignName: 'crash', guestId: 1, guestName: 'web1', owner: 'alice', host: 'xen1',
  slot: { start: new Date('2026-12-08T01:00:00Z'), end: new Date('2026-12-08T04:00:00Z'), timeZone: 'Europe/Berlin' },
  path: { path: 'pvh-now' }, distro: 'debian',
};
