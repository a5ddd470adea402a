/**
 * A customer's contact address and the owner name it belongs to, parsed once where they come in
 * (`pvhctl owner set-email`), so that nothing below ever puts an unchecked string in a mail header.
 */

/** An address that is safe in a To: header: a dot-atom local part, a host name, no display name. */
export type MailAddress = string & { readonly __brand: 'MailAddress' };

/** RFC 5321 §4.5.3.1: 64 octets of local part, 255 of domain, 254 in a path. */
const MAX_ADDRESS = 254;
const ATOM = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+";
const LOCAL = new RegExp(`^${ATOM}(\\.${ATOM})*$`);
const LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/**
 * Parses a contact address: `local@domain` only (no display name, no comments, no quoted local
 * part, no IP literal), the domain lower-cased. A one-line reason otherwise.
 * @example
 * parseAddress('Alice@Example.COM') // => { ok: true, address: 'Alice@example.com' }
 * parseAddress('a@b.example\r\nBcc: x@y') // => { ok: false, error: 'not an address like alice@example.com' }
 */
export function parseAddress(text: string): { ok: true; address: MailAddress } | { ok: false; error: string } {
  if (text.length > MAX_ADDRESS) return { ok: false, error: `longer than ${MAX_ADDRESS} characters` };
  const at = text.lastIndexOf('@');
  const local = text.slice(0, at);
  const domain = text.slice(at + 1).toLowerCase();
  const labels = domain.split('.');
  const ok = at > 0 && local.length <= 64 && LOCAL.test(local) && labels.length >= 2 && labels.every((l) => LABEL.test(l)) && !/^[0-9]+$/.test(labels.at(-1)!);
  return ok ? { ok: true, address: `${local}@${domain}` as MailAddress } : { ok: false, error: 'not an address like alice@example.com' };
}

/** guests.owner and tokens.owner are free text; an owner named on the command line is bounded. */
const MAX_OWNER = 128;

/**
 * Checks an owner name given on the command line: 1..128 characters, no control characters.
 * @example
 * parseOwner('alice') // => { ok: true, owner: 'alice' }
 * parseOwner('a\nb') // => { ok: false, error: 'an owner name has 1 to 128 characters and no control characters' }
 */
export function parseOwner(text: string): { ok: true; owner: string } | { ok: false; error: string } {
  return text.length >= 1 && text.length <= MAX_OWNER && !/[\x00-\x1f\x7f-\x9f]/.test(text)
    ? { ok: true, owner: text }
    : { ok: false, error: `an owner name has 1 to ${MAX_OWNER} characters and no control characters` };
}
