/**
 * The Notifier (src/fleet/notice.ts) over SMTP with nodemailer: looks up the owner's address,
 * claims the mail in the mails table (journal-style, `sending` before the SMTP transaction, so a
 * Notice sent twice, or after a crash, goes out once), composes it (src/notify/compose.ts) with a
 * signed link to the guest's page (src/notify/link.ts), and delivers it with a bounded number of
 * tries and a growing pause between them. Every try is recorded with its error.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import nodemailer from 'nodemailer';
import { noticeKey, type Notice, type NoticeResult, type Notifier } from '../fleet/notice.ts';
import { DOWNTIME_SAMPLES, downtimeEstimate } from '../fleet/downtime.ts';
import type { Store } from '../store/store.ts';
import type { MailAddress } from './address.ts';
import { composeMail } from './compose.ts';
import { signLink } from './link.ts';
import { mailStore } from './mail-store.ts';
import type { MailRow } from './mail-schema.ts';
import { printable } from '../util/escape.ts';

/** How the connection to the relay is protected: smtp.security in the settings. */
export type SmtpSecurity = 'starttls' | 'tls' | 'none';

/** Where and how mail goes out, from the settings (src/notify/settings.ts). */
export type SmtpConfig = {
  host: string;
  port: number;
  security: SmtpSecurity;
  from: MailAddress;
  auth: { user: string; pass: string } | null;
  /** PEM CA certificates the relay's certificate must chain to (smtp.ca_file); null: the system's. */
  ca: string | null;
  /** The web UI's address as customers reach it (`https://pvh.example.com`), for the signed links. */
  linkBase: string;
  linkLifetimeMs: number;
  /** Delivery tries per Notice (each campaign tick starts again with a failed one). */
  tries: number;
  /** The pause after the first failed try; doubled after each further one. */
  backoffMs: number;
};

/** A `sending` row older than this was left by a process that died mid-send: it is sent again. */
export const STALE_SENDING_MS = 15 * 60_000;

/** Socket timeouts: a relay that stops answering fails the try rather than holding the tick. */
const TIMEOUT_MS = 30_000;

/**
 * A Notifier that sends through the relay in `cfg` and records every mail in `store`.
 * @example
 * const notifier = smtpNotifier(store, cfg);
 * await notifier.send(notice) // => { status: 'sent', messageId: '<0b6…@example.com>' }
 */
export function smtpNotifier(store: Store, cfg: SmtpConfig, now: () => Date = () => new Date()): Notifier {
  const mails = mailStore(store);
  const transport = nodemailer.createTransport({
    host: cfg.host,
    port: cfg.port,
    secure: cfg.security === 'tls',
    requireTLS: cfg.security === 'starttls',
    ignoreTLS: cfg.security === 'none',
    ...(cfg.auth !== null ? { auth: cfg.auth } : {}),
    // The certificate is always verified (rejectUnauthorized stays on); a given CA replaces the system's.
    ...(cfg.ca !== null ? { tls: { ca: cfg.ca } } : {}),
    connectionTimeout: TIMEOUT_MS,
    greetingTimeout: TIMEOUT_MS,
    socketTimeout: TIMEOUT_MS,
  });
  const domain = cfg.from.slice(cfg.from.lastIndexOf('@') + 1);

  /** Composes the claimed mail and tries to deliver it, recording each try. */
  const deliver = async (row: MailRow, notice: Notice, address: string): Promise<NoticeResult> => {
    const guest = await store.getGuestById(notice.guestId);
    const downtime = downtimeEstimate(guest === undefined ? [] : await store.switchDowntimes(guest.host_id, DOWNTIME_SAMPLES));
    const expires = new Date(now().getTime() + cfg.linkLifetimeMs);
    const link = `${cfg.linkBase.replace(/\/+$/, '')}${signLink(await mails.linkKey(), { guestId: notice.guestId, slot: notice.slot, expires })}`;
    const mail = composeMail({ notice, downtime, link, linkExpires: expires });
    let tries = row.tries;
    let error = '';
    for (let i = 0; i < cfg.tries; i++) {
      if (i > 0) await sleep(cfg.backoffMs * 2 ** (i - 1));
      await mails.tried(row.id, ++tries, error || null);
      try {
        await transport.sendMail({
          from: cfg.from,
          to: address,
          subject: mail.subject,
          text: mail.text,
          html: mail.html,
          messageId: row.message_id,
          // RFC 3834: an automatic mail; vacation responders do not answer it.
          headers: { 'Auto-Submitted': 'auto-generated' },
        });
        await mails.finish(row.id, 'sent', null);
        return { status: 'sent', messageId: row.message_id };
      } catch (err) {
        error = smtpError(err);
        // 5xx is the relay's final word (no such user, refused), and a refused certificate stays
        // refused: trying again changes nothing.
        if (isPermanent(err) || certificateRefusal(err) !== null) break;
      }
    }
    await mails.finish(row.id, 'failed', error);
    return { status: 'failed', error };
  };
  return {
    async send(notice: Notice): Promise<NoticeResult> {
      const contact = await mails.contact(notice.owner);
      if (contact === undefined) return { status: 'no-address' };
      const key = { campaignId: notice.campaignId, guestId: notice.guestId, kind: notice.kind, slotStart: noticeKey(notice) };
      const claim = await mails.claim(key, { owner: notice.owner, address: contact.email, messageId: `<${randomUUID()}@${domain}>` }, STALE_SENDING_MS);
      if (claim.kind === 'sent') return { status: 'already-sent', messageId: claim.row.message_id };
      if (claim.kind === 'busy') return { status: 'failed', error: `another process is sending this mail (since ${claim.row.updated_at})` };
      try {
        return await deliver(claim.row, notice, contact.email);
      } catch (err) {
        // Composing or recording failed (the store went away): say so, and leave the row to the next round.
        const error = `not sent: ${smtpError(err)}`;
        await mails.finish(claim.row.id, 'failed', error).catch(() => {});
        return { status: 'failed', error };
      }
    },
  };
}

/** The relay's reply code, when the error came from one. */
const responseCode = (err: unknown): number | null => {
  const c = (err as { responseCode?: unknown })?.responseCode;
  return typeof c === 'number' ? c : null;
};

const isPermanent = (err: unknown): boolean => {
  const c = responseCode(err);
  return c !== null && c >= 500 && c < 600;
};

/** Node's codes for a peer certificate that does not verify (src/node_crypto errors, tls.checkServerIdentity). */
const CERT_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_UNTRUSTED', 'CERT_REVOKED', 'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The certificate error's code when the relay's certificate was refused (nodemailer keeps it as originalCode), else null. */
function certificateRefusal(err: unknown): string | null {
  const e = err as { originalCode?: unknown; code?: unknown };
  const code = typeof e?.originalCode === 'string' ? e.originalCode : typeof e?.code === 'string' ? e.code : null;
  return code !== null && CERT_CODES.has(code) ? code : null;
}

/**
 * A delivery error in one bounded, printable line: the relay's reply, the connection's error, or
 * that the relay's certificate was refused and why.
 * @example
 * smtpError(Object.assign(new Error('x'), { command: 'RCPT TO', responseCode: 451, response: '451 4.3.0 try later' })) // => '451 4.3.0 try later (RCPT TO)'
 * smtpError(Object.assign(new Error('self-signed certificate'), { code: 'ESOCKET', originalCode: 'DEPTH_ZERO_SELF_SIGNED_CERT', command: 'CONN' }))
 * // => "the relay's TLS certificate was refused: self-signed certificate (DEPTH_ZERO_SELF_SIGNED_CERT); nothing was sent. ..."
 */
export function smtpError(err: unknown): string {
  const cert = certificateRefusal(err);
  if (cert !== null) {
    const why = (err as { message?: unknown })?.message;
    const hint = cert === 'ERR_TLS_CERT_ALTNAME_INVALID' ? 'smtp.host must be a name the certificate is for.' : "Give the relay's CA in smtp.ca_file if it has a private one.";
    // Node adds advice about its own flags after '; ' ("try running Node.js with --use-system-ca"): not for our operators.
    const text = typeof why === 'string' ? why.split('\n')[0]!.split('; ')[0]!.slice(0, 200) : 'not trusted';
    return printable(`the relay's TLS certificate was refused: ${text} (${cert}); nothing was sent. ${hint}`);
  }
  const e = err as { response?: unknown; code?: unknown; message?: unknown; command?: unknown };
  const said = typeof e?.response === 'string' ? e.response : `${typeof e?.code === 'string' ? `${e.code}: ` : ''}${typeof e?.message === 'string' ? e.message : String(err)}`;
  // The command the relay answered, so that '500 command not recognized' says it was STARTTLS.
  const text = typeof e?.command === 'string' && e.command !== '' ? `${said.split('\n')[0]} (${e.command})` : said;
  return printable(text.split('\n')[0]!.slice(0, 300));
}
