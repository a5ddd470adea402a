/**
 * Campaign mail in a customer's words (issue #14), pure: from a Notice (src/fleet/notice.ts), the
 * host's downtime estimate and the signed link, the subject, a plain-text body and an HTML body.
 * The words for paths, steps and outcomes are the fleet's own (src/fleet/plan-words.ts, words.ts,
 * messages.ts, downtime.ts); this module adds the dates in the host's time zone and, for a guest
 * whose customer must act first, how to do it on their distribution.
 *
 * Guest, owner, host, campaign, kernel and entry names come from customers or their disks: every
 * one is made printable (src/util/escape.ts) and bounded before it goes anywhere, HTML-escaped in
 * the HTML part, and the subject never holds a line break (no header injection).
 */
import type { Notice, NoticeOutcome, NoticeSlot } from '../fleet/notice.ts';
import { customerPathWords } from '../fleet/plan-words.ts';
import { downtimeWords, type Downtime } from '../fleet/downtime.ts';
import { clause, modeName } from '../fleet/messages.ts';
import type { GuestPath } from '../fleet/planner.ts';
import { printable } from '../util/escape.ts';

/** A composed mail: what goes into nodemailer's subject, text and html. */
export type Composed = { subject: string; text: string; html: string };

/** What the mail needs beside the Notice. */
export type ComposeInput = {
  notice: Notice;
  downtime: Downtime;
  /** The signed link to the guest's page (src/notify/link.ts), absolute. */
  link: string;
  linkExpires: Date;
};

/** A customer- or disk-supplied name: printable, at most `max` characters. */
export function safeName(s: string, max = 120): string {
  const p = printable(s);
  return p.length > max ? `${p.slice(0, max - 1)}…` : p;
}

/** Subjects stay short: RFC 5322 recommends lines under 78 characters; an encoded subject folds. */
const MAX_SUBJECT = 160;

/**
 * A time in a time zone, as a customer reads it; an unknown zone falls back to UTC, said so.
 * @example
 * formatTime(new Date('2026-12-08T01:00:00Z'), 'Europe/Berlin') // => 'Tuesday 8 December 2026 at 02:00'
 */
export function formatTime(d: Date, timeZone: string): string {
  const p = partsOf(d, zoneKnown(timeZone) ? timeZone : 'UTC');
  return `${p.day} at ${p.time}`;
}

/** A day and a time in a zone, from Intl's parts (its joined format puts commas where English does not). */
function partsOf(d: Date, tz: string): { day: string; time: string } {
  const p = Object.fromEntries(dateFormat(tz).formatToParts(d).map((x) => [x.type, x.value]));
  return { day: `${p.weekday} ${p.day} ${p.month} ${p.year}`, time: `${p.hour}:${p.minute}` };
}

function dateFormat(timeZone: string): Intl.DateTimeFormat {
  try {
    return new Intl.DateTimeFormat('en-GB', { timeZone, weekday: 'long', day: 'numeric', month: 'long', year: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  } catch {
    return new Intl.DateTimeFormat('en-GB', { timeZone: 'UTC', weekday: 'long', day: 'numeric', month: 'long', year: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  }
}

const zoneKnown = (tz: string): boolean => {
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
};

/**
 * The slot in the host's time zone, one line.
 * @example
 * slotWords({ start: new Date('2026-12-08T01:00:00Z'), end: new Date('2026-12-08T04:00:00Z'), timeZone: 'Europe/Berlin' })
 * // => 'Tuesday 8 December 2026 between 02:00 and 05:00 (Europe/Berlin time)'
 */
export function slotWords(slot: NoticeSlot): string {
  const tz = zoneKnown(slot.timeZone) ? slot.timeZone : 'UTC';
  const a = partsOf(slot.start, tz);
  const b = partsOf(slot.end, tz);
  const zone = `(${safeName(tz, 64)} time)`;
  return a.day === b.day ? `${a.day} between ${a.time} and ${b.time} ${zone}` : `${a.day} at ${a.time} to ${b.day} at ${b.time} ${zone}`;
}

/** What a mail and the guest's page say for a guest held on a host that has no window in the campaign. */
export const NO_SLOT_WORDS = 'none planned yet: its host has no maintenance window in this campaign';

/** Distribution families, from the os-release ID the inspection read (src/guest/facts.ts). */
export type DistroFamily = 'debian' | 'rhel' | 'alpine' | 'other';

/**
 * The family of an os-release ID.
 * @example
 * distroFamily('ubuntu') // => 'debian'
 * distroFamily('rocky') // => 'rhel'
 */
export function distroFamily(id: string | null): DistroFamily {
  if (id === null) return 'other';
  if (['debian', 'ubuntu', 'linuxmint', 'raspbian', 'devuan'].includes(id)) return 'debian';
  if (['rhel', 'centos', 'fedora', 'rocky', 'almalinux', 'ol', 'amzn'].includes(id)) return 'rhel';
  if (id === 'alpine') return 'alpine';
  return 'other';
}

/**
 * What the customer must do before the slot, step by step on their distribution, for the paths
 * that wait for them (after-reboot, after-kernel-upgrade); empty for the others. The first line is
 * the fleet's own next-step sentence (src/fleet/words.ts through plan-words.ts).
 * @example
 * customerSteps({ path: 'after-kernel-upgrade', install: 'linux-virt (apk add linux-virt)' }, 'alpine')
 * // => ['To run in PVH mode without the shim, install linux-virt (apk add linux-virt) and restart the server once.', 'On Alpine: apk update, then …']
 */
export function customerSteps(path: GuestPath, distro: string | null): string[] {
  const p = safePath(path);
  if (p.path !== 'after-reboot' && p.path !== 'after-kernel-upgrade') return [];
  const first = customerPathWords(p);
  const family = distroFamily(distro);
  if (p.path === 'after-kernel-upgrade') {
    switch (family) {
      case 'debian':
        return [first, 'On Debian or Ubuntu: run apt-get update, then the apt-get install command above as root. The package runs update-grub, which makes the newest kernel the first boot entry. Then restart the server once.'];
      case 'rhel':
        return [first, 'On RHEL, CentOS, Rocky, AlmaLinux or Fedora: install it with dnf (yum on EL7 and older), check with grubby --default-kernel that it is the default kernel, then restart the server once.'];
      case 'alpine':
        return [first, 'On Alpine: run apk update, then apk add linux-virt as root; update-extlinux runs by itself. Then restart the server once.'];
      case 'other':
        return [first, "Install it with your distribution's package manager, make it the default boot entry, then restart the server once."];
    }
  }
  const entry = p.entry;
  switch (family) {
    case 'debian':
      return [first, entry === null
        ? `On Debian or Ubuntu: run update-grub as root so that the boot menu lists ${p.kernel}, set GRUB_DEFAULT in /etc/default/grub to its entry, run update-grub again, then restart the server once.`
        : `On Debian or Ubuntu: set GRUB_DEFAULT="${entry}" in /etc/default/grub (or GRUB_DEFAULT=saved and run grub-set-default "${entry}"), run update-grub as root, then restart the server once.`];
    case 'rhel':
      return [first, `On RHEL, CentOS, Rocky, AlmaLinux or Fedora: run grubby --set-default ${p.kernel} as root (grubby --info=ALL lists the boot entries), then restart the server once.`];
    case 'alpine':
      return [first, `On Alpine: set default to that kernel in /etc/update-extlinux.conf, run update-extlinux as root, then restart the server once.`];
    case 'other':
      return [first, "Make that kernel the default entry of the server's boot menu, then restart the server once."];
  }
}

/** The path with its disk-supplied names made printable and bounded. */
function safePath(p: GuestPath): GuestPath {
  switch (p.path) {
    case 'after-reboot':
      return { path: 'after-reboot', kernel: safeName(p.kernel), entry: p.entry === null ? null : safeName(p.entry) };
    case 'after-kernel-upgrade':
      return { path: 'after-kernel-upgrade', install: safeName(p.install, 200) };
    case 'blocked':
      return p.why.code === 'inspection-blocked' ? { path: 'blocked', why: { code: 'inspection-blocked', reasons: p.why.reasons.slice(0, 5).map((r) => safeName(r, 200)) } } : p;
    default:
      return p;
  }
}

/**
 * The result of the slot in a customer's words.
 * @example
 * outcomeWords({ kind: 'switched', to: 'pvh' }) // => 'Your server was switched to PVH mode and runs again. There is nothing for you to do.'
 */
export function outcomeWords(o: NoticeOutcome): string {
  switch (o.kind) {
    case 'switched':
      return `Your server was switched to ${modeName(o.to)} mode and runs again. There is nothing for you to do.`;
    case 'rolled-back':
      return `The switch to ${modeName(o.to)} mode did not work: ${clause(safeName(o.reason, 300))}. Your server was put back as it was, with its settings unchanged, and runs as before.`;
    case 'not-started':
      return `The switch did not take place: ${clause(safeName(o.reason, 300))}. Your server was not touched. It gets a new slot, and we will write to you again.`;
  }
}

function subjectOf(n: Notice, name: string): string {
  const s = (() => {
    switch (n.kind) {
      case 'notice':
        return `Planned maintenance of your server "${name}"`;
      case 'reminder':
        return `Reminder: maintenance of your server "${name}" tomorrow`;
      case 'result':
        switch (n.outcome?.kind) {
          case 'switched':
            return `Your server "${name}" now runs in ${modeName(n.outcome.to)} mode`;
          case 'rolled-back':
            return `Your server "${name}" was put back as it was`;
          default:
            return `The maintenance of your server "${name}" did not take place`;
        }
    }
  })();
  // printable() already turned CR, LF and every other control into visible escapes.
  return s.length > MAX_SUBJECT ? `${s.slice(0, MAX_SUBJECT - 1)}…` : s;
}

/**
 * Composes one campaign mail.
 * @example
 * composeMail({ notice, downtime: { seconds: 50, basis: 'measured', switches: 3 }, link: 'https://pvh.example.com/g/7?…', linkExpires })
 * // => { subject: 'Planned maintenance of your server "web1"', text: 'Hello,\n\nwe will move your server "web1" …', html: '<!doctype html>…' }
 */
export function composeMail(input: ComposeInput): Composed {
  const n = input.notice;
  const name = safeName(n.guestName, 64);
  const host = safeName(n.host, 64);
  const paragraphs: string[] = [];
  const steps = customerSteps(n.path, n.distro);
  if (n.slot === null) {
    // A guest held for its customer on a host with no window in the campaign: what to do, and no date.
    paragraphs.push(`We are moving our servers to a newer, faster mode of Xen (PVH). Your server "${name}" on host ${host} has no maintenance slot yet: its host's maintenance comes later, and we will write to you again with its date.`);
    if (steps.length > 0) {
      paragraphs.push('So that your server is ready for it, please do this when it suits you (until then your server stays as it is):');
      paragraphs.push(...steps.map((s) => `  * ${s}`));
    } else paragraphs.push(customerPathWords(safePath(n.path)));
    paragraphs.push(`Your server's page, with its state: ${input.link}\n(the link is valid until ${formatSlotStart({ start: input.linkExpires, end: input.linkExpires, timeZone: 'UTC' })}).`);
    paragraphs.push(`Campaign: ${safeName(n.campaignName, 80)}`);
    return { subject: subjectOf(n, name), text: `Hello,\n\n${paragraphs.join('\n\n')}\n`, html: htmlOf(paragraphs, input.link) };
  }
  const slot = n.slot;
  const when = slotWords(slot);
  if (n.kind === 'result') {
    paragraphs.push(`This is about your server "${name}" on host ${host}, and its maintenance slot on ${when}.`);
    paragraphs.push(n.outcome === undefined ? 'The maintenance has ended; its page shows how it went.' : outcomeWords(n.outcome));
  } else {
    const lead = n.kind === 'reminder' ? 'A reminder: tomorrow' : 'We are moving our servers to a newer, faster mode of Xen (PVH), and';
    paragraphs.push(`${lead} your server "${name}" on host ${host} has its maintenance slot on ${when}.`);
    // A customer who must act first reads the same sentence as the first of their steps.
    if (steps.length === 0) paragraphs.push(customerPathWords(safePath(n.path)));
    if (n.path.path === 'pvh-now' || n.path.path === 'pv-shim') {
      paragraphs.push(`At some time in that slot the server is shut down cleanly and started again in its new mode: it is down for ${downtimeWords(input.downtime)}. Its disks, network and memory stay as they are. If it does not start properly in its new mode, it is put back as it was automatically.`);
    }
    if (steps.length > 0) {
      paragraphs.push(`Before ${formatSlotStart(slot)}, please do this (until then your server stays as it is):`);
      paragraphs.push(...steps.map((s) => `  * ${s}`));
    }
  }
  paragraphs.push(`Your server's page, with its slot and its state: ${input.link}\n(the link is valid until ${formatSlotStart({ ...slot, start: input.linkExpires })}).`);
  paragraphs.push(`Campaign: ${safeName(n.campaignName, 80)}`);
  const text = `Hello,\n\n${paragraphs.join('\n\n')}\n`;
  return { subject: subjectOf(n, name), text, html: htmlOf(paragraphs, input.link) };
}

function formatSlotStart(slot: NoticeSlot): string {
  const tz = zoneKnown(slot.timeZone) ? slot.timeZone : 'UTC';
  return `${formatTime(slot.start, tz)} (${safeName(tz, 64)} time)`;
}

/**
 * Escapes text for HTML element content and double-quoted attributes.
 * @example
 * escapeHtml('<b a="1">&') // => '&lt;b a=&quot;1&quot;&gt;&amp;'
 */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function htmlOf(paragraphs: string[], link: string): string {
  const body = paragraphs
    .map((p) => {
      const e = escapeHtml(p);
      // The link is ours (an https URL and a base64url signature); it becomes an anchor, escaped.
      return `<p>${e.replace(escapeHtml(link), `<a href="${escapeHtml(link)}">${escapeHtml(link)}</a>`)}</p>`;
    })
    .join('\n');
  return `<!doctype html>\n<html><body>\n<p>Hello,</p>\n${body}\n</body></html>\n`;
}
