/**
 * `pvhctl demo`: pvhctl's main job on an embedded default, what `npm start` runs. It starts
 * `pvhctl serve --demo` (the Xen lab as an SSH host with its PV guests running, or a simulated
 * host where QEMU is missing), then does what a newcomer would do through the API: gives the
 * guests owners, switches one real PV guest to PVH and follows its progress live, and prints
 * where the web UI and the tokens are. Ctrl-C stops the server, and the lab with it.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { RehearsalView } from '../fleet/rehearse.ts';
import { customerKeys, parsePublicKey } from '../store/customer-keys.ts';
import { printable } from '../util/escape.ts';
import { ed25519KeyPair } from '../util/ssh-key.ts';
import { parse, UsageError } from './args.ts';
import { open } from './fleet-common.ts';

export const help = `usage: pvhctl demo [--sim] [--data-dir DIR] [--port PORT] [--shell-port PORT] [--no-switch] [--kernels]

Runs 'pvhctl serve --demo' (the Xen lab, real Xen 4.17 under QEMU, as host 'lab' with its PV
guests running; a simulated host where QEMU is missing or with --sim), gives the guests two
customers, rehearses the PV-GRUB guest (a test boot as PVH on a snapshot of its disk while it
runs) and, when that passes, switches it (and on the lab the 32-bit one) to PVH through the API,
following it live, then keeps
serving the API, the web UI (--port, default 8080) and the customers' Xen Shell over SSH
(--shell-port, default 2222; a key for the first customer is made in DIR/demo-ssh/) until Ctrl-C.
The store lives in DIR (default: data/demo in the checkout); the lab's logs are copied to
DIR/lab-logs/ when it stops. --kernels instead reports on four real Debian 12 kernels.

exit status: 0 stopped by Ctrl-C; 1 a step failed; 2 usage error
`;

const bin = fileURLToPath(new URL('../../bin/pvhctl.js', import.meta.url));
const repo = fileURLToPath(new URL('../..', import.meta.url));
/** Fastify's per-request log lines: the API's own traffic, not news for a person watching. */
const QUIET = new Set(['incoming request', 'request completed']);
const say = (s: string) => process.stderr.write(`pvhctl demo: ${s}\n`);

type GuestView = { id: number; name: string; host: string; type: string; owner: string | null };

export async function run(args: string[]): Promise<number> {
  const { values } = parse(args, {
    sim: { type: 'boolean' },
    'data-dir': { type: 'string' },
    port: { type: 'string' },
    'shell-port': { type: 'string' },
    'no-switch': { type: 'boolean' },
    kernels: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  if (values.kernels) return kernels();
  const port = Number(values.port ?? '8080');
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError('--port takes a port number');
  const shellPort = Number(values['shell-port'] ?? '2222');
  if (!Number.isInteger(shellPort) || shellPort < 1 || shellPort > 65535) throw new UsageError('--shell-port takes a port number');
  const dir = values['data-dir'] ?? join(repo, 'data', 'demo');
  mkdirSync(dir, { recursive: true });
  const base = `http://127.0.0.1:${port}`;

  say(values.sim ? 'starting the server on a simulated host...' : 'starting the server on the Xen lab (real Xen 4.17 under QEMU; the first build takes a few minutes, then it is cached)...');
  const serveArgs = ['serve', values.sim ? '--sim=200' : '--demo', '--port', String(port), '--shell-port', String(shellPort), '--data-dir', dir];
  let labLogs: string | null = null;
  // The server runs in a process group of its own, so that a terminal's Ctrl-C reaches it once,
  // passed on by this process, not twice (the terminal's and ours: the second would end it at once,
  // before the lab is stopped and its logs kept). Its stdin is our pipe: when this process dies,
  // the server sees it close and stops the same way.
  const server = spawn(process.execPath, [bin, ...serveArgs], { stdio: ['pipe', 'pipe', 'inherit'], detached: true, env: { ...process.env, PVHCTL_STOP_ON_STDIN_EOF: '1' } });
  // The server logs JSON lines (pino); show their messages, one line each.
  server.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    for (const line of chunk.split('\n').filter(Boolean)) {
      try {
        const o = JSON.parse(line) as { msg?: string; labLogs?: string };
        if (typeof o.labLogs === 'string') labLogs = o.labLogs;
        if (o.msg && !QUIET.has(o.msg)) process.stderr.write(`  server: ${printable(o.msg)}\n`);
      } catch {
        process.stderr.write(`  server: ${printable(line)}\n`);
      }
    }
  });
  const exited = new Promise<number>((resolve) => server.on('close', (code) => resolve(code ?? 1)));
  // Every Ctrl-C is passed on: the first stops the server cleanly, a second ends it at once.
  process.on('SIGINT', () => server.kill('SIGINT'));
  process.on('SIGTERM', () => server.kill('SIGINT'));

  const tokenFile = join(dir, 'operator-token');
  const up = await waitUntilUp(base, tokenFile, exited);
  if (!up) return 1;
  const token = readFileSync(tokenFile, 'utf8').trim();
  const api = async (path: string, init: RequestInit = {}) => {
    const r = await fetch(base + path, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...init.headers } });
    if (!r.ok) throw new Error(`${init.method ?? 'GET'} ${path}: ${r.status} ${await r.text()}`);
    return r;
  };

  const guests = (await (await api('/v1/guests')).json()) as GuestView[];
  const customer = await assignOwners(dir, guests);
  const target = guests.find((g) => g.name === 'pvgrub64') ?? guests.find((g) => g.type === 'pv');
  // On the lab, also the 32-bit guest that this Xen cannot run as PV at all (no xen-3.0-x86_32p).
  const pae32 = guests.find((g) => g.name === 'pae32');
  if (!values['no-switch'] && target !== undefined) {
    say(`rehearsing ${target.host}/${target.name} first: a test boot as PVH on a snapshot of its disk while it keeps running`);
    const rehearsal = await rehearse(api, target.id);
    if (rehearsal.status === 'passed') {
      say(`switching ${target.host}/${target.name} to PVH through the API: shut down, rewrite its config (the old one kept), boot, verify, roll back if anything fails`);
      const op = (await (await api(`/v1/guests/${target.id}/switch`, { method: 'POST', body: JSON.stringify({ to: 'pvh' }) })).json()) as { id: number };
      await follow(api, op.id);
    } else {
      say(`not switching ${target.host}/${target.name}: its rehearsal did not pass, as a campaign would not schedule it`);
    }
    if (pae32 !== undefined) {
      say(`switching ${pae32.host}/${pae32.name}, a 32-bit guest this Xen can no longer run as PV, to PVH`);
      const op32 = (await (await api(`/v1/guests/${pae32.id}/switch`, { method: 'POST', body: JSON.stringify({ to: 'pvh' }) })).json()) as { id: number };
      await follow(api, op32.id);
    }
  }
  const fleet = await open(dir, { recover: false });
  let customerToken: string;
  let sshKey: string;
  try {
    customerToken = await fleet.store.addToken('customer', customer);
    sshKey = await demoSshKey(fleet.store, dir, customer);
  } finally {
    await fleet.close();
  }
  const firstGuest = guests.find((g) => g.owner === customer || g.owner === null)?.name;
  say(
    [
      `serving: web UI and API on ${base}/ (OpenAPI at ${base}/openapi.json, metrics at ${base}/metrics with an operator token)`,
      `  operator token: ${token}   (also in ${tokenFile})`,
      `  customer '${customer}' token: ${customerToken}   (sees only ${customer}'s guests)`,
      `  Xen Shell for customer '${customer}' (SSH, its key made for this demo):`,
      `    ssh -i ${sshKey} -p ${shellPort} ${customer}@127.0.0.1`,
      ...(firstGuest !== undefined ? [`    ssh -t -i ${sshKey} -p ${shellPort} ${customer}+${firstGuest}@127.0.0.1   (straight to one server; then 'status', 'console', 'help')`] : []),
      `  CLI on the same store: pvhctl guest list --data-dir ${dir}   (with the checkout's bin/ on PATH)`,
      ...(labLogs !== null ? [`  the lab's logs are copied to ${labLogs} when it stops; the server's are on this terminal`] : []),
      `  Ctrl-C stops the server${values.sim ? '' : ' and the lab'}.`,
    ].join('\n'),
  );
  const code = await exited;
  return code === 0 || code === 130 ? 0 : code;
}

/**
 * The demo customer's SSH key for the Xen Shell: made once in DIR/demo-ssh/CUSTOMER (OpenSSH
 * format, 0600) and registered as the customer's key; returns the private key's path.
 */
async function demoSshKey(store: Parameters<typeof customerKeys>[0], dir: string, customer: string): Promise<string> {
  const keyDir = join(dir, 'demo-ssh');
  const file = join(keyDir, customer);
  if (!existsSync(file) || !existsSync(`${file}.pub`)) {
    mkdirSync(keyDir, { recursive: true, mode: 0o700 });
    const pair = ed25519KeyPair(`${customer}@pvhctl-demo`);
    writeFileSync(file, pair.private, { mode: 0o600 });
    writeFileSync(`${file}.pub`, `${pair.public}\n`);
  }
  const parsed = parsePublicKey(readFileSync(`${file}.pub`, 'utf8'));
  if (!parsed.ok) throw new Error(`${file}.pub: ${parsed.error}`);
  await customerKeys(store).add(customer, parsed.key);
  return file;
}

/** Polls the API until it answers with the operator token, or the server exits (bounded: 30 minutes for a first lab build). */
async function waitUntilUp(base: string, tokenFile: string, exited: Promise<number>): Promise<boolean> {
  let gone = false;
  void exited.then(() => (gone = true));
  for (let i = 0; i < 1800 && !gone; i++) {
    if (existsSync(tokenFile)) {
      const ok = await fetch(`${base}/healthz`).then((r) => r.ok, () => false);
      if (ok) return true;
    }
    await sleep(1000);
  }
  say(gone ? 'the server stopped before it was up (see above)' : 'the server did not come up within 30 minutes');
  return false;
}

/** Gives unowned guests one of two customers (alice, bob), so that the customer views show something; returns alice. */
async function assignOwners(dir: string, guests: GuestView[]): Promise<string> {
  const fleet = await open(dir, { recover: false });
  try {
    let i = 0;
    for (const g of guests) if (g.owner === null) await fleet.store.updateGuest(g.id, { owner: i++ % 2 === 0 ? 'alice' : 'bob' });
    const first = (await fleet.store.getGuestById(guests[0]?.id ?? -1))?.owner;
    return first ?? 'alice';
  } finally {
    await fleet.close();
  }
}

/**
 * Starts a rehearsal of guest `id` through the API and waits for its end (the guest's view lists
 * it), printing its result in the customer's words. A refusal (409) is a result too.
 */
async function rehearse(api: (p: string, i?: RequestInit) => Promise<Response>, id: number): Promise<Pick<RehearsalView, 'status'>> {
  let started: RehearsalView;
  try {
    started = (await (await api(`/v1/guests/${id}/rehearse`, { method: 'POST', body: JSON.stringify({ to: 'pvh' }) })).json()) as RehearsalView;
  } catch (err) {
    process.stderr.write(`  => cannot rehearse: ${printable(String(err))}\n`);
    return { status: 'cannot-rehearse' };
  }
  const t0 = Date.now();
  for (;;) {
    const g = (await (await api(`/v1/guests/${id}`)).json()) as { rehearsals?: RehearsalView[] };
    const r = g.rehearsals?.find((x) => x.id === started.id);
    if (r !== undefined && r.status !== 'running') {
      const why = r.status !== 'passed' && r.reason ? ` at ${printable(r.step)}: ${printable(r.reason)}` : '';
      process.stderr.write(`  => ${r.status} after ${Math.round((Date.now() - t0) / 1000)} s${why}\n  ${printable(r.message)}\n`);
      return r;
    }
    await sleep(2000);
  }
}

/** Prints an operation's steps from its server-sent events until it ends. */
async function follow(api: (p: string, i?: RequestInit) => Promise<Response>, id: number): Promise<void> {
  const r = await api(`/v1/operations/${id}/events`);
  const reader = r.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let at: number;
    while ((at = buf.indexOf('\n\n')) >= 0) {
      const frame = buf.slice(0, at);
      buf = buf.slice(at + 2);
      const event = /^event: (.*)$/m.exec(frame)?.[1];
      const data = JSON.parse(/^data: (.*)$/m.exec(frame)?.[1] ?? 'null') as Record<string, string | null>;
      if (event === 'step') process.stderr.write(`  ${String(data.step).padEnd(14)} ${String(data.phase).padEnd(6)} ${printable(data.detail ?? '')}\n`);
      if (event === 'end') {
        process.stderr.write(`  => ${data.status}${data.reason ? `: ${printable(data.reason)}` : ''}\n`);
        return;
      }
    }
  }
}

/** The first demo: four real Debian 12 kernels, one of each kind (PV+PVH, PVH only, neither). */
async function kernels(): Promise<number> {
  const { debianKernel } = await import('../debian/apt.ts');
  const { run: kernel } = await import('./kernel.ts');
  const files: string[] = [];
  for (const f of ['amd64', 'cloud-amd64', '686-pae', '686'] as const) {
    try {
      files.push((await debianKernel(f)).vmlinuz);
    } catch (err) {
      process.stderr.write(`pvhctl demo: ${f}: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  }
  return files.length === 0 ? 1 : kernel(files);
}
