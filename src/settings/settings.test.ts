import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { keyOf, SETTINGS } from './defs.ts';
import { renderExample } from './render.ts';
import { resolveSettings } from './resolve.ts';

const bin = fileURLToPath(new URL('../../bin/pvhctl.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'pvhctl-settings-'));

/** A value for every setting, different from its default and valid for its type. */
const EVERY: Record<string, string | number> = {
  'store.data_dir': '/srv/pvhctl', 'store.url': 'postgres://pvhctl@db.example.com/pvhctl',
  'api.listen': '0.0.0.0', 'api.port': 8443, 'api.tls_cert': '/etc/pvhctl/tls/cert.pem', 'api.tls_key': '/etc/pvhctl/tls/key.pem',
  'shell.listen': '::', 'shell.port': 22022, 'limits.max_parallel': 4, 'verify.boot_timeout': 300, 'verify.shutdown_timeout': 90,
  'rehearse.cow_percent': 25, 'rehearse.cow_max': 4, 'rehearse.reserve': 2048,
  'smtp.host': 'smtp.example.com', 'smtp.port': 25, 'smtp.from': 'pvhctl@example.com', 'smtp.username': 'pvhctl',
  'smtp.password_file': '/etc/pvhctl/smtp-password', 'smtp.ca_file': '/etc/pvhctl/smtp-ca.pem', 'smtp.security': 'tls', 'smtp.link_url': 'https://pvh.example.com',
  'smtp.link_lifetime': 86400, 'smtp.tries': 2, 'campaign.canary': 3, 'campaign.notice_days': 2,
  'campaign.postpone_days': 7, 'campaign.switch_minutes': 20, 'campaign.canary_threshold': 5, 'campaign.wave_threshold': 20, 'campaign.days': 28,
};

function show(env: Record<string, string>, ...args: string[]) {
  const r = spawnSync(process.execPath, [bin, 'settings', 'show', ...args], { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: dir, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('the example file documents every setting and parses to the defaults', () => {
  const text = renderExample();
  for (const def of SETTINGS) assert.match(text, new RegExp(`^#${def.name} = `, 'm'), keyOf(def));
  const r = resolveSettings({ file: { path: 'ex.conf', text }, env: {} });
  assert.ok(r.ok);
  for (const e of r.settings.values()) assert.equal(e.source.kind, 'default');
});

test('settings show: a file with every setting, each value and its line', () => {
  assert.deepEqual(Object.keys(EVERY).sort(), SETTINGS.map(keyOf).sort(), 'EVERY covers the table');
  const file = join(dir, 'every.conf');
  const text = renderExample(EVERY);
  writeFileSync(file, text);
  const r = show({ PVHCTL_CONFIG: file }, '--json');
  assert.equal(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout).settings;
  const lines = text.split('\n');
  for (const [key, value] of Object.entries(EVERY)) {
    assert.equal(got[key].value, value, key);
    assert.equal(got[key].source.kind, 'file', key);
    assert.match(lines[got[key].source.line - 1]!, new RegExp(`^${key.split('.')[1]} = `), key);
  }
});

test('settings show: environment over the file, flags over the environment', () => {
  const file = join(dir, 'env.conf');
  writeFileSync(file, '[api]\nport = 9000\n[verify]\nboot_timeout = 30\n');
  const r = show({ PVHCTL_CONFIG: file, PVHCTL_PORT: '9001' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^api\.port\s+9001\s+environment PVHCTL_PORT$/m);
  assert.match(r.stdout, new RegExp(`^verify\\.boot_timeout\\s+30\\s+${file.replace(/[.]/g, '\\.')}:4$`, 'm'));
  assert.match(r.stdout, /^api\.listen\s+"127\.0\.0\.1"\s+default$/m);
  const flags = resolveSettings({ file: { path: file, text: '[api]\nport = 9000\n' }, env: { PVHCTL_PORT: '9001' }, flags: { 'api.port': { flag: '--port', value: '9002' } } });
  assert.ok(flags.ok);
  assert.deepEqual(flags.settings.get('api.port')?.source, { kind: 'flag', name: '--port' });
  assert.equal(flags.settings.get('api.port')?.value, 9002);
  const badEnv = show({ PVHCTL_CONFIG: file, PVHCTL_PORT: '80x' });
  assert.equal(badEnv.status, 2);
  assert.equal(badEnv.stderr, 'pvhctl settings: environment PVHCTL_PORT: api.port: expected a whole number 1..65535, got "80x"\n');
});

test('a broken file: one line naming the line, exit 2, nothing started', () => {
  const cases: [string, string][] = [
    ['[api]\nport = 8080\nlisten = = 3\n', ':3: invalid value'],
    ['[api]\nport = 8080\n\n[shell]\nprot = 2222\n', ":5: unknown setting 'shell.prot'"],
    ['[api]\nport = "8080"\n', ':2: api.port: expected a whole number 1..65535, got "8080"'],
    ['# mail\n[mail]\nport = 1\n', ":2: unknown section 'mail' (sections: store, api, shell, limits, verify, rehearse, smtp, campaign)"],
    ['[verify]\nboot_timeout = 0\n', ':2: verify.boot_timeout: 0 is out of range 1..3600'],
    ['[store]\ndata_dir = "relative"\n', ':2: store.data_dir: expected an absolute path, got "relative"'],
  ];
  for (const [text, error] of cases) {
    const file = join(dir, 'broken.conf');
    writeFileSync(file, text);
    const r = show({ PVHCTL_CONFIG: file });
    assert.equal(r.status, 2, text);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `pvhctl settings: ${file}${error}\n`, text);
  }
  // serve with a broken file: the error, exit 2, and no data directory made (nothing started)
  const data = join(dir, 'never-made');
  writeFileSync(join(dir, 'broken.conf'), `[store]\ndata_dir = "${data}"\n[api]\nlisten = = 3\n`);
  const r = spawnSync(process.execPath, [bin, 'serve', '--port', '0'], { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: dir, PVHCTL_CONFIG: join(dir, 'broken.conf') } });
  assert.equal(r.status, 2);
  assert.equal(r.stderr.split('\n').length, 2, r.stderr);
  assert.equal(spawnSync('test', ['-e', data]).status, 1);
  const missing = show({ PVHCTL_CONFIG: join(dir, 'nope.conf') });
  assert.equal(missing.status, 2);
  assert.equal(missing.stderr, `pvhctl settings: ${join(dir, 'nope.conf')}: no such file\n`);
  // Not a regular file: one line, without blocking on a FIFO or reading /dev/zero to the end.
  const fifo = join(dir, 'fifo.conf');
  spawnSync('mkfifo', [fifo]);
  for (const path of [fifo, '/dev/zero']) {
    const r = show({ PVHCTL_CONFIG: path });
    assert.equal(r.status, 2, path);
    assert.equal(r.stderr, `pvhctl settings: ${path}: not a regular file\n`);
  }
});

test('a choice setting accepts its values only (smtp.security)', () => {
  const ok = resolveSettings({ file: null, env: { PVHCTL_SMTP_SECURITY: 'none' } });
  assert.ok(ok.ok && ok.settings.get('smtp.security')?.value === 'none');
  const bad = resolveSettings({ file: { path: 'm.conf', text: '[smtp]\nsecurity = "ssl"\n' }, env: {} });
  assert.deepEqual(bad, { ok: false, error: 'm.conf:2: smtp.security: expected one of starttls, tls, none, got "ssl"' });
});
