/**
 * The x86 boot protocol's setup header (Documentation/arch/x86/boot.rst), read the way Xen's
 * bzImage loader does (tools/libs/guest/xg_dom_bzimageloader.c): `HdrS` at 0x202, protocol
 * >= 2.08, payload at (setup_sects+1)*512 + payload_offset, payload_length bytes.
 */

export type SetupHeader = {
  /** Boot protocol version as "major.minor", e.g. "2.15". */
  protocol: string;
  setupSects: number;
  /** Absolute offset of the compressed payload in the file. */
  payloadStart: number;
  payloadLength: number;
  /** The kernel_version string the header points at, when present and printable. */
  version: string | null;
};

export type SetupHeaderResult = { ok: true; header: SetupHeader } | { ok: false; error: string } | { ok: false; error: null };

const HDRS = 0x53726448; // "HdrS" little-endian

/**
 * Reads the setup header. `{ok: false, error: null}` means the bytes are not a bzImage at all
 * (no `HdrS`), so the caller may try other formats; a string error means it is one but broken.
 * @example
 * parseSetupHeader(bytes) // => { ok: true, header: { protocol: '2.15', payloadStart: 17152, ... } }
 */
export function parseSetupHeader(buf: Uint8Array): SetupHeaderResult {
  if (buf.length < 0x250) return { ok: false, error: null };
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (view.getUint32(0x202, true) !== HDRS) return { ok: false, error: null };
  const version = view.getUint16(0x206, true);
  const protocol = `${version >> 8}.${(version & 0xff).toString().padStart(2, '0')}`;
  if (version < 0x0208) {
    return { ok: false, error: `bzImage boot protocol ${protocol} is older than 2.08: no payload fields, Xen cannot load it` };
  }
  const setupSects = buf[0x1f1] === 0 ? 4 : buf[0x1f1]!;
  const payloadOffset = view.getUint32(0x248, true);
  const payloadLength = view.getUint32(0x24c, true);
  const payloadStart = (setupSects + 1) * 512 + payloadOffset;
  if (payloadLength < 8) return { ok: false, error: `bzImage payload_length ${payloadLength} is too small to hold a compressed kernel` };
  if (payloadStart + payloadLength > buf.length) {
    return {
      ok: false,
      error: `bzImage payload (offset ${payloadStart}, length ${payloadLength}) runs past the end of the file (${buf.length} bytes): truncated or corrupt header`,
    };
  }
  return { ok: true, header: { protocol, setupSects, payloadStart, payloadLength, version: kernelVersion(buf, view) } };
}

/** The NUL-terminated string at kernel_version + 0x200, if it lies inside the setup code. */
function kernelVersion(buf: Uint8Array, view: DataView): string | null {
  const ptr = view.getUint16(0x20e, true);
  if (ptr === 0) return null;
  const start = ptr + 0x200;
  const end = Math.min(buf.length, start + 256);
  if (start >= end) return null;
  let i = start;
  while (i < end && buf[i] !== 0) i++;
  if (i === start || i === end) return null;
  return Buffer.from(buf.subarray(start, i)).toString('latin1');
}
