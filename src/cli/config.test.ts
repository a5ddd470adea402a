/** `pvhctl config` end to end: the real command, spawned, on files in a scratch directory. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const bin = new URL('../../bin/pvhctl.js', import.meta.url).pathname;
const pvhctl = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
const pvhctlEnv = (env: Record<string, string>, ...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: tmpdir(), ...env } });

const PV = `name = "web1"
builder = "generic"
bootloader = "pygrub"
memory = 1024
disk = [ 'phy:/dev/vg0/web1,xvda,w' ]
vnc = 1
`;

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-config-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('config check: 0 for a good config, 1 with a one-line xl-style error for a bad one, JSON on request', () => {
  withDir((dir) => {
    const good = join(dir, 'web1.cfg');
    const bad = join(dir, 'bad.cfg');
    writeFileSync(good, PV);
    writeFileSync(bad, 'name = "x"\r\n');
    const ok = pvhctl('config', 'check', good);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /web1\.cfg: PV, ok/);
    assert.match(ok.stdout, /warning: builder: `builder` is deprecated/);
    const r = pvhctl('config', 'check', good, bad, join(dir, 'missing.cfg'));
    assert.equal(r.status, 1);
    const errs = r.stderr.trim().split('\n');
    assert.equal(errs.length, 2);
    assert.equal(errs[0], `${bad}:1:11: config parsing error near \`\\r': lexical error`);
    assert.match(errs[1]!, /missing\.cfg: ENOENT/);
    const json = pvhctl('config', 'check', '--json', good, bad);
    const lines = json.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines[0].type, 'pv');
    assert.equal(lines[1].ok, false);
    assert.match(lines[1].error, /lexical error/);
  });
});

test('config convert: prints a unified diff and writes nothing by default', () => {
  withDir((dir) => {
    const f = join(dir, 'web1.cfg');
    writeFileSync(f, PV);
    const r = pvhctl('config', 'convert', f, '--to', 'pvh');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^--- .*web1\.cfg\n\+\+\+ .*web1\.cfg \(pvh\)\n@@ /);
    assert.match(r.stdout, /\n-builder = "generic"\n/);
    assert.match(r.stdout, /\n\+type = "pvh"\n/);
    assert.match(r.stdout, /\n\+vfb = \[ "vnc=1" \]\n/);
    assert.match(r.stderr, /pygrub is allowed/);
    assert.equal(readFileSync(f, 'utf8'), PV);
    assert.deepEqual(readdirSync(dir), ['web1.cfg']);
  });
});

test('config convert --write replaces the file atomically and keeps the previous version', () => {
  withDir((dir) => {
    const f = join(dir, 'web1.cfg');
    writeFileSync(f, PV);
    const r = pvhctl('config', 'convert', f, '--to', 'pvh-shim', '--write', '--json');
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.written, true);
    assert.equal(readFileSync(out.kept, 'utf8'), PV);
    const now = readFileSync(f, 'utf8');
    assert.match(now, /type = "pvh"\npvshim = 1\n/);
    const check = pvhctl('config', 'check', f);
    assert.equal(check.status, 0, check.stdout);
    assert.match(check.stdout, /PVH, ok/);
  });
});

test('config convert refuses (exit 1, nothing written) and rejects bad usage (exit 2)', () => {
  withDir((dir) => {
    const f = join(dir, 'db1.cfg');
    const text = `${PV}pci = [ "01:00.0" ]\n`;
    writeFileSync(f, text);
    const r = pvhctl('config', 'convert', f, '--to', 'pvh', '--write');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cannot convert to pvh: pci passthrough/);
    assert.equal(readFileSync(f, 'utf8'), text);
    assert.deepEqual(readdirSync(dir), ['db1.cfg']);
    const bin = join(dir, 'garbage.cfg');
    writeFileSync(bin, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2, 0xff, 0xfe, 10]));
    const g = pvhctl('config', 'convert', bin, '--to', 'pvh', '--write');
    assert.equal(g.status, 1);
    assert.equal(g.stderr.trim().split('\n').length, 1);
    assert.equal(pvhctl('config', 'convert', f, '--to', 'hvm').status, 2);
    assert.equal(pvhctl('config', 'convert', f).status, 2);
    assert.equal(pvhctl('config').status, 2);
    assert.equal(pvhctl('config', 'check').status, 2);
  });
});

test('config: huge and deeply nested files get a one-line error; non-UTF-8 bytes survive a --write', () => {
  withDir((dir) => {
    const huge = join(dir, 'huge.cfg');
    writeFileSync(huge, `a = "${'x'.repeat(2 << 20)}"\n`);
    const h = pvhctl('config', 'check', huge);
    assert.equal(h.status, 1);
    assert.match(h.stderr, /^.*huge\.cfg: \d+ bytes, more than the 1048576 accepted for a domain config\n$/);
    const deep = join(dir, 'deep.cfg');
    writeFileSync(deep, `a = ${'['.repeat(5000)}${']'.repeat(5000)}\n`);
    const d = pvhctl('config', 'convert', deep, '--to', 'pvh', '--write');
    assert.equal(d.status, 1);
    assert.match(d.stderr, /deep\.cfg:1:\d+: config parsing error near `\[': lists nested deeper than 64\n$/);
    const latin = join(dir, 'latin1.cfg');
    const bytes = Buffer.concat([Buffer.from('# caf'), Buffer.from([0xe9]), Buffer.from(` (latin-1 comment)\n${PV}`)]);
    writeFileSync(latin, bytes);
    const w = pvhctl('config', 'convert', latin, '--to', 'pvh', '--write');
    assert.equal(w.status, 0, w.stderr);
    const after = readFileSync(latin);
    assert.deepEqual(after.subarray(0, 6), Buffer.from([0x23, 0x20, 0x63, 0x61, 0x66, 0xe9]));
    assert.match(after.toString('latin1'), /type = "pvh"/);
  });
});

test('config convert: memory < maxmem is refused for PVH until the operator sets maxmem = memory or accepts PoD', () => {
  withDir((dir) => {
    const file = join(dir, 'pod.cfg');
    const text = PV.replace('memory = 1024\n', 'memory = 1024\nmaxmem = 4096\n');
    writeFileSync(file, text);
    const refused = pvhctl('config', 'convert', file, '--to', 'pvh');
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /cannot convert to pvh: memory \(1024 MB\) is below maxmem \(4096 MB\): under PVH that makes it a populate-on-demand guest/);
    const equal = pvhctl('config', 'convert', file, '--to', 'pvh', '--maxmem-equals-memory', '--write');
    assert.equal(equal.status, 0, equal.stderr);
    assert.match(equal.stdout, /^-maxmem = 4096\n\+maxmem = 1024$/m);
    assert.match(readFileSync(file, 'utf8'), /^maxmem = 1024$/m);
    writeFileSync(file, text);
    const accepted = pvhctl('config', 'convert', file, '--to', 'pvh-shim', '--accept-pod');
    assert.equal(accepted.status, 0, accepted.stderr);
    assert.doesNotMatch(accepted.stdout, /^[-+]maxmem/m);
    assert.equal(pvhctl('config', 'convert', file, '--to', 'pvh', '--accept-pod', '--maxmem-equals-memory').status, 2);
  });
});

test('config show and config example are pvhctl settings show and example', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-config-show-'));
  try {
    const conf = join(dir, 'pvhctl.conf');
    writeFileSync(conf, '[api]\nport = 9001\n');
    const env = { PVHCTL_CONFIG: conf };
    const show = pvhctlEnv(env, 'config', 'show', '--json');
    assert.equal(show.status, 0, show.stderr);
    assert.equal(show.stdout, pvhctlEnv(env, 'settings', 'show', '--json').stdout);
    assert.match(show.stdout, /"api\.port"/);
    assert.match(show.stdout, /"api\.port":\{"value":9001,"source":\{"kind":"file","path":"[^"]+","line":2\}/);
    const example = pvhctlEnv(env, 'config', 'example');
    assert.equal(example.status, 0);
    assert.equal(example.stdout, pvhctlEnv(env, 'settings', 'example').stdout);
    writeFileSync(conf, '[api]\nport = "x"\n');
    const broken = pvhctlEnv(env, 'config', 'show');
    assert.equal(broken.status, 2);
    assert.equal(broken.stdout, '');
    assert.equal(broken.stderr.split('\n').length, 2, broken.stderr);
    assert.ok(broken.stderr.includes(`${conf}:2`), broken.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.match(pvhctl('config', 'nope').stderr, /^pvhctl config: unknown subcommand 'nope': check, convert, show or example\n$/);
});
