/**
 * TEMPORARY: a line-based reading and rewrite of xl configs, used only until the lossless xl
 * config parser and its rewrites (src/xlcfg/, branch `xlcfg`) are merged; then this file goes.
 * It understands one `key = value` per line with quoted strings and numbers, which is what the
 * simulator writes; it refuses anything it does not understand instead of guessing.
 */
import type { GuestType } from '../store/schema.ts';
import type { ConfigFacts, ReadConfigFacts, RewriteConfig } from './seams.ts';

export const PVGRUB = ['/usr/lib/grub-xen/grub-x86_64-xen.bin', '/usr/lib/grub-xen/grub-i386-xen.bin'];
export const PVH_GRUB = '/usr/lib/grub-xen/grub-i386-xen_pvh.bin';

const LINE = /^\s*([a-z][._0-9a-z]*)\s*=\s*(?:"([^"\\\n]*)"|'([^'\\\n]*)'|([0-9][0-9a-fx]*))\s*(?:#.*)?$/;

function scalars(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const r = LINE.exec(line);
    if (r) m.set(r[1]!, r[2] ?? r[3] ?? r[4] ?? '');
  }
  return m;
}

export const interimReadFacts: ReadConfigFacts = (content, file) => {
  const text = new TextDecoder().decode(content);
  if (content.length > 256 * 1024) return { ok: false, error: `${file}: larger than 256 KiB` };
  const s = scalars(text);
  const t = s.get('type') ?? (s.get('builder') === 'hvm' ? 'hvm' : 'pv');
  let type: GuestType = t === 'pvh' ? 'pvh' : t === 'pv' ? 'pv' : 'hvm';
  if (type === 'pvh' && /^[1-9]/.test(s.get('pvshim') ?? '')) type = 'pvh-shim';
  const disks = [...text.matchAll(/'(?:phy:|file:|tap:aio:|aio:)?(\/[^,']+),([a-z]+[0-9]*)?/g)].map((m) => ({ path: m[1]!, vdev: m[2] ?? null }));
  const facts: ConfigFacts = {
    name: s.get('name') ?? null,
    type,
    kernel: s.get('kernel') ?? null,
    ramdisk: s.get('ramdisk') ?? null,
    bootloader: s.get('bootloader') ?? null,
    pci: /^\s*pci\s*=/m.test(text),
    disks,
  };
  return { ok: true, facts };
};

function setKey(text: string, key: string, value: string | null): string {
  const re = new RegExp(`^\\s*${key.replace('.', '\\.')}\\s*=.*\\n?`, 'gm');
  const had = re.test(text);
  re.lastIndex = 0;
  if (value === null) return text.replace(re, '');
  if (had) {
    let first = true;
    return text.replace(re, () => {
      const out = first ? `${key} = ${value}\n` : '';
      first = false;
      return out;
    });
  }
  return `${text}${text.endsWith('\n') || text === '' ? '' : '\n'}${key} = ${value}\n`;
}

export const interimRewrite: RewriteConfig = (content, file, to) => {
  const read = interimReadFacts(content, file);
  if (!read.ok) return { ok: false, reason: read.error };
  const f = read.facts;
  let text = new TextDecoder().decode(content);
  const changes: string[] = [];
  if (to === 'hvm') return { ok: false, reason: 'conversion to HVM is not offered' };
  if (to !== 'pv' && f.pci) return { ok: false, reason: 'PCI passthrough is not supported under PVH' };
  text = setKey(text, 'builder', null);
  text = setKey(text, 'type', to === 'pv' ? '"pv"' : '"pvh"');
  changes.push(`type = "${to === 'pv' ? 'pv' : 'pvh'}"`);
  if (to === 'pvh-shim') {
    text = setKey(text, 'pvshim', '1');
    changes.push('pvshim = 1');
  } else if (f.type === 'pvh-shim') {
    text = setKey(text, 'pvshim', null);
    changes.push('pvshim removed');
  }
  if (to === 'pvh' && f.kernel !== null && PVGRUB.includes(f.kernel)) {
    text = setKey(text, 'kernel', `"${PVH_GRUB}"`);
    changes.push(`kernel = "${PVH_GRUB}" (PVH GRUB)`);
  }
  if (to === 'pv' && f.kernel === PVH_GRUB) {
    text = setKey(text, 'kernel', `"${PVGRUB[0]}"`);
    changes.push(`kernel = "${PVGRUB[0]}" (PV GRUB)`);
  }
  return { ok: true, content: new TextEncoder().encode(text), changes };
};
