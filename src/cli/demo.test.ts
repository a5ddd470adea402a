/**
 * `pvhctl demo --sim` end to end: the real command, its server, and the Xen Shell it announces,
 * reached with Debian's OpenSSH client exactly as printed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'pvhctl.js');
const run = promisify(execFile);

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

/** Starts `pvhctl demo --sim` and waits until it says how to stop it; `err()` is its stderr so far. */
async function startDemo(o: { detached?: boolean; switch?: boolean } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-demo-'));
  const [port, shellPort] = [await freePort(), await freePort()];
  const demo = spawn(process.execPath, [BIN, 'demo', '--sim', ...(o.switch === true ? [] : ['--no-switch']), '--data-dir', dir, '--port', String(port), '--shell-port', String(shellPort)], { stdio: ['ignore', 'ignore', 'pipe'], detached: o.detached === true });
  let err = '';
  demo.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<number | null>((resolve) => demo.on('close', (code) => resolve(code)));
  // Bounded only against a hang (a loaded 2-core machine has taken two minutes).
  for (let i = 0; i < 6000 && !err.includes('Ctrl-C stops') && demo.exitCode === null; i++) await new Promise((r) => setTimeout(r, 100));
  if (!err.includes('Ctrl-C stops')) {
    // Never leave the demo and its server running: they would hold this file's pipes, and with
    // them the test runner, open forever. Its server is in a group of its own; its stdin (the
    // demo's pipe) closes when the demo dies, which stops it.
    if (demo.exitCode === null) (o.detached === true ? process.kill(-demo.pid!, 'SIGKILL') : demo.kill('SIGKILL'));
    demo.stderr.destroy();
    rmSync(dir, { recursive: true, force: true });
    assert.fail(`the demo did not start: ${err.slice(-3000)}`);
  }
  return { dir, port, shellPort, demo, exited, err: () => err };
}

test('the demo serves the Xen Shell and prints how to reach it: the ssh command works as printed', async () => {
  const { dir, shellPort, demo, exited, err: stderr } = await startDemo();
  try {
    const err = stderr();
    const line = /^ {4}(ssh -i \S+ -p (\d+) (\w+)@127\.0\.0\.1)$/m.exec(err);
    assert.ok(line, err);
    assert.equal(Number(line[2]), shellPort);
    const argv = line[1]!.split(' ').slice(1);
    const r = await run('ssh', ['-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', ...argv, 'list']);
    assert.match(r.stdout, /\S+ +PV/, 'the customer sees their servers');
  } finally {
    demo.kill('SIGINT');
    assert.equal(await exited, 0);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the demo rehearses the guest as PVH before it switches it, and switches it once the rehearsal passed', async () => {
  const { dir, demo, exited, err: stderr } = await startDemo({ switch: true });
  try {
    const err = stderr();
    const rehearsing = err.search(/^pvhctl demo: rehearsing (\S+) first: a test boot as PVH on a snapshot of its disk while it keeps running$/m);
    const passed = err.search(/^ {2}=> passed after \d+ s$/m);
    const told = err.search(/^ {2}Your server was test-booted in PVH mode on a copy of its disk on \d{4}-\d\d-\d\d: it came up\./m);
    const switching = err.search(/^pvhctl demo: switching \S+ to PVH through the API/m);
    assert.ok(rehearsing >= 0 && passed > rehearsing && told > passed && switching > told, err);
    assert.match(err.slice(switching), /^ {2}=> done: The server now runs in PVH mode\.$/m);
  } finally {
    demo.kill('SIGINT');
    assert.equal(await exited, 0);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Ctrl-C on a terminal (SIGINT to the whole process group) stops the demo cleanly: the server finishes its stop, not cut short by a second signal', async () => {
  // Its own process group, as a terminal's foreground job.
  const { dir, demo, exited, err } = await startDemo({ detached: true });
  try {
    process.kill(-demo.pid!, 'SIGINT');
    assert.equal(await exited, 0);
    assert.match(err(), /server: stopped$/m, err().slice(-2000));
  } finally {
    if (demo.exitCode === null) process.kill(-demo.pid!, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the demo killed outright (SIGKILL): its server sees the pipe close and still stops cleanly', async () => {
  const { dir, port, demo } = await startDemo();
  try {
    demo.kill('SIGKILL');
    // The server (its stderr is the demo's, still ours) stops and frees its port.
    let free = false;
    for (let i = 0; i < 300 && !free; i++) {
      free = await fetch(`http://127.0.0.1:${port}/`).then(() => false, () => true);
      if (!free) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(free, 'the server stopped after its demo died');
  } finally {
    // A server left running would hold this pipe, and with it this test file, open.
    demo.stderr.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});
