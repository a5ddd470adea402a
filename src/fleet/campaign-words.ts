/**
 * A campaign in words: why a customer's choice was refused (customer words: no host paths, no
 * rule names) and for the operator, and a guest's slot in its host's time zone.
 */
import type { ChoiceRefusal } from './campaign.ts';

/**
 * Why a customer's choice was refused, in their words.
 * @example
 * customerChoiceWords({ code: 'already-postponed' }) // => 'This switch was postponed once already; pick another time in the campaign instead.'
 */
export function customerChoiceWords(r: ChoiceRefusal): string {
  switch (r.code) {
    case 'no-campaign':
    case 'not-in-campaign':
      return 'This server is not part of that maintenance campaign.';
    case 'not-running':
      return r.status === 'paused' ? 'The maintenance campaign is paused; you can choose again once it resumes.' : 'The maintenance campaign is not open for changes.';
    case 'not-planned':
      return r.status === 'submitting' || r.status === 'submitted' ? 'The switch of this server has already begun.' : 'This server has no switch waiting in the campaign.';
    case 'not-a-slot':
      return 'That time is not the start of one of the maintenance windows offered for this server.';
    case 'outside-bounds':
      return `That window is after the campaign ends (${r.until}); pick an earlier one.`;
    case 'already-postponed':
      return 'This switch was postponed once already; pick another time in the campaign instead.';
    case 'postpone-too-long':
      return `A switch can be postponed by 1 to ${r.maxDays} days.`;
    case 'busy':
      return 'Another change to this server is in progress; try again in a few minutes.';
  }
}

/**
 * The same refusal for an operator: the code and its parameters.
 * @example
 * operatorChoiceWords({ code: 'not-running', status: 'paused' }) // => 'not-running: the campaign is paused'
 */
export function operatorChoiceWords(r: ChoiceRefusal): string {
  switch (r.code) {
    case 'not-running':
      return `not-running: the campaign is ${r.status}`;
    case 'not-planned':
      return `not-planned: the guest is ${r.status} in this campaign`;
    case 'outside-bounds':
      return `outside-bounds: the campaign's slots end at ${r.until}`;
    case 'postpone-too-long':
      return `postpone-too-long: 1 to ${r.maxDays} days`;
    default:
      return `${r.code}: ${customerChoiceWords(r)}`;
  }
}

/**
 * A slot in the host's time zone, as a customer reads it.
 * @example
 * slotWords(new Date('2026-12-08T01:00:00Z'), new Date('2026-12-08T04:00:00Z'), 'Europe/Berlin') // => 'Tue, 8 Dec 2026, 02:00 to 05:00 (Europe/Berlin)'
 */
export function slotWords(start: Date, end: Date, timeZone: string): string {
  const day = new Intl.DateTimeFormat('en-GB', { timeZone, weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' }).format(start);
  const time = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  return `${day}, ${time.format(start)} to ${time.format(end)} (${timeZone})`;
}
