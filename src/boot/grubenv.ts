/**
 * GRUB's environment block (/boot/grub/grubenv): a 1024-byte file starting with
 * `# GRUB Environment Block`, `NAME=VALUE` lines with `\`-escaped newlines and backslashes, padded
 * with `#`. Reference: grub-core/lib/envblk.c.
 */

const HEADER = '# GRUB Environment Block\n';
/** The block is 1024 bytes; be lenient up to 64 KiB (a hand-written one), refuse beyond. */
const MAX_BYTES = 64 * 1024;
const MAX_VARS = 1024;

/**
 * Parses a grubenv block into a map; returns a string saying why when it is not one.
 * @example
 * parseGrubenv('# GRUB Environment Block\nsaved_entry=gnulinux-advanced>gnulinux-6.1\n#####') // => Map { 'saved_entry' => 'gnulinux-advanced>gnulinux-6.1' }
 */
export function parseGrubenv(text: string): Map<string, string> | string {
  if (text.length > MAX_BYTES) return `grubenv is ${text.length} bytes, not an environment block`;
  if (!text.startsWith(HEADER)) return 'grubenv has no "# GRUB Environment Block" header';
  const vars = new Map<string, string>();
  // Lines end at an unescaped newline; "\\\n" is a newline inside a value.
  let line = '';
  const lines: string[] = [];
  for (let i = HEADER.length; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\' && i + 1 < text.length) {
      line += text[i + 1];
      i++;
    } else if (c === '\n') {
      lines.push(line);
      line = '';
    } else line += c;
  }
  lines.push(line);
  for (const l of lines) {
    if (l.startsWith('#') || l === '') continue;
    const eq = l.indexOf('=');
    if (eq <= 0) continue;
    if (vars.size >= MAX_VARS) break;
    vars.set(l.slice(0, eq), l.slice(eq + 1));
  }
  return vars;
}
