/**
 * Runs Xen's own config parser (libxlutil from Debian's libxen-dev) on config texts, through the
 * small C program xlu-dump.c beside this file, compiled once into the cache. Used by the tests to
 * check that pvhctl reads every config exactly as xl does.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir } from '../../../src/debian/apt.ts';
import type { XlResolved } from '../../../src/xlcfg/types.ts';

/** One key as libxlutil stored it: its last statement's operator and line, and the joined value. */
export type XluSetting = { key: string; op: '=' | '+='; line: number; value: XlResolved };

export type XluResult =
  | { kind: 'ok'; settings: XluSetting[] }
  | { kind: 'error'; rc: number; report: string }
  | { kind: 'crash'; signal: number };

const SOURCE = new URL('./xlu-dump.c', import.meta.url).pathname;

/** True when libxlutil's header and library are installed (Debian: libxen-dev). */
export function haveLibxlutil(): boolean {
  return existsSync('/usr/include/libxlutil.h');
}

/**
 * Compiles xlu-dump.c against libxlutil (cached by source hash) and returns the binary's path.
 * @example
 * buildXluDump() // => '/root/.cache/pvhctl/xlu-dump/xlu-dump-3f2a…'
 */
export function buildXluDump(): string {
  return build(SOURCE, 'xlu-dump', ['-lxlutil']);
}

/** As buildXluDump, for xlu-disk.c (libxlutil's disk spec parser, which needs libxenlight too). */
export function buildXluDisk(): string {
  return build(new URL('./xlu-disk.c', import.meta.url).pathname, 'xlu-disk', ['-lxlutil', '-lxenlight']);
}

function build(source: string, name: string, libs: string[]): string {
  const src = readFileSync(source);
  const hash = createHash('sha256').update(src).digest('hex').slice(0, 16);
  const bin = join(cacheDir('xlu-dump'), `${name}-${hash}`);
  if (existsSync(bin)) return bin;
  const tmp = `${bin}.${process.pid}.tmp`;
  execFileSync('gcc', ['-O2', '-Wall', '-o', tmp, source, ...libs], { stdio: ['ignore', 'ignore', 'pipe'] });
  renameSync(tmp, bin);
  return bin;
}

export type XluDisk = { kind: 'ok'; target: string | null; format: string; vdev: string | null; readwrite: boolean; cdrom: boolean } | { kind: 'error' };

/**
 * Parses disk specs with libxlutil's xlu_disk_parse.
 * @example
 * runXluDisk(bin, ['phy:/dev/vg/x,xvda,w']) // => [{ kind: 'ok', target: '/dev/vg/x', format: 'raw', vdev: 'xvda', readwrite: true, cdrom: false }]
 */
export function runXluDisk(bin: string, specs: string[]): XluDisk[] {
  const input = specs.map((s) => `${Buffer.from(s, 'utf8').toString('hex')}\n`).join('');
  const out = execFileSync(bin, [], { input, maxBuffer: 64 << 20 }).toString('latin1');
  const unhex = (h: string) => (h === '-' ? null : Buffer.from(h, 'hex').toString('utf8'));
  return out.split('\n').filter((l) => l !== '').map((l) => {
    if (l === 'ERR') return { kind: 'error' };
    const [, t, f, v, rw, cd] = l.split(' ');
    return { kind: 'ok', target: unhex(t!), format: f!, vdev: unhex(v!), readwrite: rw === '1', cdrom: cd === '1' };
  });
}

/**
 * Parses each text with libxlutil (one forked child per text, so a crash is reported, not fatal).
 * @example
 * await runXlu(bin, ['a = 1\n']) // => [{ kind: 'ok', settings: [{ key: 'a', op: '=', line: 1, value: '1' }] }]
 */
export async function runXlu(bin: string, texts: string[]): Promise<XluResult[]> {
  const child = spawn(bin, [], { stdio: ['pipe', 'pipe', 'ignore'] });
  const chunks: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? -1));
  });
  for (const t of texts) {
    const body = Buffer.from(t, 'utf8');
    child.stdin.write(`${body.length}\n`);
    child.stdin.write(body);
  }
  child.stdin.end();
  const code = await done;
  if (code !== 0) throw new Error(`xlu-dump exited with ${code}`);
  const lines = Buffer.concat(chunks).toString('latin1').split('\n').filter((l) => l !== '');
  const merged = lines.map(parseLine);
  if (merged.length !== texts.length) throw new Error(`xlu-dump answered ${merged.length} of ${texts.length} configs`);
  return merged;
}

function parseLine(line: string): XluResult {
  if (line.startsWith('CRASH ')) return { kind: 'crash', signal: Number(line.slice(6)) };
  if (line.startsWith('ERR ')) {
    const [, rc, hex] = line.split(' ');
    return { kind: 'error', rc: Number(rc), report: Buffer.from(hex ?? '', 'hex').toString('utf8') };
  }
  if (!line.startsWith('OK')) return { kind: 'crash', signal: 0 };
  const settings: XluSetting[] = [];
  for (const item of line.slice(2).split(' ').filter((s) => s !== '')) {
    const m = /^([^:]+):(\+?=):(\d+):(.*)$/.exec(item);
    if (m === null) throw new Error(`xlu-dump: bad setting ${item}`);
    const cursor = { s: m[4]!, i: 0 };
    settings.push({ key: m[1]!, op: m[2] as '=' | '+=', line: Number(m[3]), value: readValue(cursor) });
  }
  return { kind: 'ok', settings: settings.reverse() };
}

/** Reads `s<hex>` or `l<n>(v,v,...)` from xlu-dump's output. */
function readValue(c: { s: string; i: number }): XlResolved {
  const tag = c.s[c.i++];
  if (tag === 's') {
    const start = c.i;
    while (c.i < c.s.length && /[0-9a-f]/.test(c.s[c.i]!)) c.i++;
    return Buffer.from(c.s.slice(start, c.i), 'hex').toString('utf8');
  }
  if (tag !== 'l') throw new Error(`xlu-dump: bad value at ${c.i}`);
  const open = c.s.indexOf('(', c.i);
  const n = Number(c.s.slice(c.i, open));
  c.i = open + 1;
  const items: XlResolved[] = [];
  for (let k = 0; k < n; k++) {
    if (k > 0) c.i++; // ','
    items.push(readValue(c));
  }
  c.i++; // ')'
  return items;
}
