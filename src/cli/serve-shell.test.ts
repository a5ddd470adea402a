/**
 * `pvhctl serve --shell-port`: one process serves the API, the web UI and the Xen Shell on one
 * fleet; `pvhctl shell key add` registers a key from another process while it runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '..', '..', 'bin', 'pvhctl.js');

test('serve --shell-port --metrics-listen: the web UI, the API, the Xen Shell and metrics from one process', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-serve-shell-'));
  const env = { ...process.env, PVHCTL_DATA_DIR: join(dir, 'data') };
  const server = spawn(process.execPath, [BIN, 'serve', '--sim', '4', '--port', '0', '--shell-port', '0', '--metrics-listen', '127.0.0.1:0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let log = '';
    server.stdout.on('data', (b: Buffer) => (log += b.toString()));
    for (let i = 0; i < 300 && !/Xen Shell serving/.test(log); i++) await new Promise((r) => setTimeout(r, 100));
    const shell = /"port":(\d+),"hostKey":"(ssh-ed25519 [A-Za-z0-9+/=]+)".*Xen Shell serving/.exec(log);
    const web = /"address":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(log);
    assert.ok(shell && web, log);
    assert.match(await (await fetch(`${web[1]}/`)).text(), /<title>pvhctl<\/title>/);
    // metrics: an operator token on the API's address, or none on the separate metrics address
    assert.equal((await fetch(`${web[1]}/metrics`)).status, 401);
    const metricsAt = /"address":"(http:\/\/127\.0\.0\.1:\d+\/metrics)".*metrics serving/.exec(log);
    assert.ok(metricsAt, log);
    assert.match(await (await fetch(metricsAt[1]!)).text(), /^pvhctl_guests\{type="pv",health="ok"\} 4$/m);
    assert.equal((await fetch(metricsAt[1]!.replace('/metrics', '/v1/guests'))).status, 404, 'only /metrics there');

    const guests = JSON.parse((await run(process.execPath, [BIN, 'guest', 'list', '--json'], { env })).stdout) as { name: string; owner: string }[];
    const g = guests[0]!;
    const key = join(dir, 'id');
    assert.equal(spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]).status, 0);
    await run(process.execPath, [BIN, 'shell', 'key', 'add', g.owner, `${key}.pub`], { env });
    writeFileSync(join(dir, 'known_hosts'), `[127.0.0.1]:${shell[1]} ${shell[2]}\n`);
    const r = await run('ssh', ['-F', '/dev/null', '-i', key, '-p', shell[1]!, '-o', 'BatchMode=yes', '-o', `UserKnownHostsFile=${join(dir, 'known_hosts')}`, '-o', 'StrictHostKeyChecking=yes', `${g.owner}+${g.name}@127.0.0.1`, 'status']);
    assert.match(r.stdout, new RegExp(`^${g.name} on host sim`, 'm'));
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
});
