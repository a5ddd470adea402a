/**
 * The Xen Shell's SSH server (ssh2): public-key authentication against the customers' keys in
 * the store, then one session per connection: a pty and a shell get the interactive line editor,
 * an exec request runs one shell command (never a system shell). Port forwarding, agent
 * forwarding, X11, subsystems (sftp) and environment variables are all refused.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Connection, ServerChannel } from 'ssh2';
import { ssh2 } from '../util/ssh2.ts';
import type { Fleet } from '../fleet/fleet.ts';
import { CUSTOMER, customerKeys, fingerprint } from '../store/customer-keys.ts';
import { admit, DEFAULT_ADMISSION, DEFAULT_LOGIN_GRACE_MS, type AdmissionLimits } from './admission.ts';
import { fleetBackend, type EventHub, type ShellBackend } from './backend.ts';
import { startSession } from './session.ts';
import { ed25519KeyPair } from '../util/ssh-key.ts';

export type KeyLookup = (customer: string, blob: Uint8Array) => Promise<{ algo: string; key: string; fingerprint: string } | undefined>;

export type ShellServerOptions = {
  backend: ShellBackend;
  findKey: KeyLookup;
  /** Where the host key lives (DATA_DIR/shell/ssh_host_ed25519_key), made on first start. */
  dataDir: string;
  port: number;
  address?: string;
  /** Customers logged in at once (default 64); a login beyond it is closed. */
  maxConnections?: number;
  /** Connections not logged in within this time are closed, banner or not (sshd's LoginGraceTime). */
  loginGraceMs?: number;
  /** Limits on connections that have not logged in yet (sshd's MaxStartups, PerSourceMaxStartups). */
  admission?: AdmissionLimits;
  /** [0, 1) for the early drop; tests pass a fixed one. */
  random?: () => number;
  /** Print one line per login/refusal (operators' log). */
  log?: (line: string) => void;
  /** A connection with no input for this long is closed (default 30 minutes). */
  idleTimeoutMs?: number;
};

export type ShellServer = { port: number; hostKeyPublic: string; close(): Promise<void> };

/** Authentication attempts per connection before it is closed (OpenSSH's MaxAuthTries is 6). */
const MAX_AUTH_TRIES = 6;
/** A login user: `CUSTOMER` or `CUSTOMER+GUEST` (which server to act on). */
const LOGIN = /^([a-z_][a-z0-9_.-]{0,63})(?:\+([A-Za-z0-9][A-Za-z0-9_.@-]{0,128}))?$/;

/**
 * Reads the server's ed25519 host key from `dataDir/shell/`, generating it on first start
 * (written to a temporary file, mode 0600, then renamed, so a crash never leaves half a key).
 * @example
 * hostKey('/var/lib/pvhctl') // => { private: '-----BEGIN OPENSSH PRIVATE KEY-----...', public: 'ssh-ed25519 AAAA...' }
 */
export function hostKey(dataDir: string): { private: string; public: string } {
  const dir = join(dataDir, 'shell');
  const file = join(dir, 'ssh_host_ed25519_key');
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const pair = ed25519KeyPair('pvhctl xen shell');
    writeFileSync(`${file}.tmp`, pair.private, { mode: 0o600 });
    chmodSync(`${file}.tmp`, 0o600);
    renameSync(`${file}.tmp`, file);
    writeFileSync(`${file}.pub`, `${pair.public}\n`, { mode: 0o644 });
  }
  const priv = readFileSync(file, 'utf8');
  const parsed = ssh2().utils.parseKey(priv);
  if (parsed instanceof Error) throw new Error(`${file}: ${parsed.message}`);
  const k = Array.isArray(parsed) ? parsed[0]! : parsed;
  return { private: priv, public: `${k.type} ${k.getPublicSSH().toString('base64')}` };
}

/**
 * Starts the SSH server; resolves once it listens.
 * @example
 * const s = await startShellServer({ backend, findKey, dataDir, port: 2222 });
 * // ssh -p 2222 alice@localhost status
 */
export async function startShellServer(opts: ShellServerOptions): Promise<ShellServer> {
  const key = hostKey(opts.dataDir);
  const log = opts.log ?? (() => {});
  const maxConnections = opts.maxConnections ?? 64;
  const limits = opts.admission ?? DEFAULT_ADMISSION;
  const graceMs = opts.loginGraceMs ?? DEFAULT_LOGIN_GRACE_MS;
  const random = opts.random ?? Math.random;
  let open = 0;
  const clients = new Set<Connection>();
  // Connections that have not logged in, by source address, and their sockets by remote
  // address:port (how ssh2 names a connection to its listener).
  const pendingFrom = new Map<string, number>();
  let pendingTotal = 0;
  const pending = new Map<string, { socket: Socket; done: () => void }>();

  const ssh = new (ssh2().Server)({ hostKeys: [key.private], ident: 'pvhctl-xen-shell' }, (client, info) => {
    const from = `${info.ip}:${info.port}`;
    // Until a login, the connection holds a place in the pending table (taken by the TCP
    // listener below, freed by the login or the close).
    const place = pending.get(from);
    // Idle connections are closed: a forgotten session must not hold a console open for ever.
    let idle: NodeJS.Timeout | undefined;
    const touch = () => {
      clearTimeout(idle);
      idle = setTimeout(() => client.end(), opts.idleTimeoutMs ?? 30 * 60_000);
    };
    touch();
    let tries = 0;
    let who: { customer: string; guest: string | null; fingerprint: string } | null = null;

    client.on('authentication', (ctx) => {
      tries++;
      if (tries > MAX_AUTH_TRIES) {
        ctx.reject();
        client.end();
        return;
      }
      if (ctx.method !== 'publickey') return ctx.reject(['publickey']);
      const m = LOGIN.exec(ctx.username);
      if (m === null || !CUSTOMER.test(m[1]!)) return ctx.reject(['publickey']);
      const customer = m[1]!;
      const blob = ctx.key.data;
      opts
        .findKey(customer, blob)
        .then((stored) => {
          if (stored === undefined) {
            log(`shell: refused ${customer} from ${from}: key ${fingerprint(blob)} not registered`);
            return ctx.reject(['publickey']);
          }
          if (ctx.signature === undefined) return ctx.accept(); // the client asks whether the key would do
          const parsed = ssh2().utils.parseKey(`${stored.algo} ${stored.key}`);
          const pk = parsed instanceof Error ? null : Array.isArray(parsed) ? parsed[0] : parsed;
          if (pk == null || pk.verify(ctx.blob!, ctx.signature, ctx.hashAlgo) !== true) {
            log(`shell: refused ${customer} from ${from}: bad signature`);
            return ctx.reject(['publickey']);
          }
          who = { customer, guest: m[2] ?? null, fingerprint: stored.fingerprint };
          log(`shell: ${customer} logged in from ${from} with ${stored.fingerprint}`);
          ctx.accept();
        })
        .catch(() => ctx.reject(['publickey']));
    });

    client.on('ready', () => {
      const user = who!;
      place?.done();
      if (open >= maxConnections) {
        log(`shell: ${user.customer} from ${from} turned away: ${maxConnections} customers are logged in`);
        client.end();
        return;
      }
      open++;
      clients.add(client);
      client.once('close', () => {
        open--;
        clients.delete(client);
      });
      client.on('session', (acceptSession) => {
        const session = acceptSession();
        let pty = false;
        let started = false;
        session.on('pty', (accept) => {
          pty = true;
          accept?.();
        });
        session.on('window-change', (accept) => accept?.());
        session.on('env', (_accept, reject) => reject?.());
        session.on('x11', (_accept, reject) => reject?.());
        session.on('auth-agent', (_accept, reject) => reject?.());
        session.on('subsystem', (_accept, reject) => reject?.());
        session.on('signal', (accept) => accept?.());
        const attach = (stream: ServerChannel, interactive: boolean) => {
          started = true;
          const io = {
            write: (text: string) => {
              if (stream.writable) stream.write(text);
            },
            end: (code: number) => {
              try {
                stream.exit(code);
              } catch {
                // the client already went away
              }
              stream.end();
            },
          };
          const s = startSession(opts.backend, { customer: user.customer, guest: user.guest, from: `${from} key ${user.fingerprint}` }, io, interactive);
          stream.on('close', () => s.close());
          return s;
        };
        session.on('shell', (accept, reject) => {
          if (started) return reject?.();
          const stream = accept();
          const s = attach(stream, pty);
          const decoder = new TextDecoder('utf-8');
          stream.on('data', (d: Buffer) => {
            touch();
            s.input(decoder.decode(d, { stream: true }));
          });
        });
        session.on('exec', (accept, reject, info) => {
          if (started) return reject?.();
          const stream = accept();
          const s = attach(stream, false);
          void s.exec(info.command.slice(0, 1024));
        });
      });
      client.on('tcpip', (_accept, reject) => reject());
      client.on('openssh.streamlocal', (_accept, reject) => reject());
      client.on('request', (_accept, reject) => reject?.());
    });

    client.on('error', () => {});
    client.on('close', () => clearTimeout(idle));
  });

  // The TCP listener admits a socket before ssh2 sees a byte of it: a socket that never sends
  // its banner still holds a pending place, and the grace timer closes it as any other.
  const server = createServer((socket) => {
    const ip = socket.remoteAddress ?? '?';
    const verdict = admit({ total: pendingTotal, fromSource: pendingFrom.get(ip) ?? 0 }, limits, random());
    if (verdict.kind === 'drop') {
      log(`shell: dropped a connection from ${ip}: ${verdict.why} (${pendingTotal} not logged in yet)`);
      socket.destroy();
      return;
    }
    const name = `${ip}:${socket.remotePort}`;
    pendingTotal++;
    pendingFrom.set(ip, (pendingFrom.get(ip) ?? 0) + 1);
    let held = true;
    const done = () => {
      if (!held) return;
      held = false;
      clearTimeout(grace);
      pending.delete(name);
      pendingTotal--;
      const n = (pendingFrom.get(ip) ?? 1) - 1;
      if (n === 0) pendingFrom.delete(ip);
      else pendingFrom.set(ip, n);
    };
    const grace = setTimeout(() => {
      log(`shell: closed a connection from ${name}: not logged in within ${graceMs / 1000} s`);
      socket.destroy();
    }, graceMs);
    pending.set(name, { socket, done });
    socket.once('close', done);
    ssh.injectSocket(socket);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.address ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    hostKeyPublic: key.public,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of clients) c.end();
        for (const p of pending.values()) p.socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * The Xen Shell on an open fleet: its customer keys, its backend, its SSH server. `hub` is the
 * event bus the fleet reports progress to (`pvhctl serve` shares its own).
 * @example
 * const bus = eventBus(); const fleet = await openFleet({ dataDir, onEvent: bus.emit });
 * const shell = await startFleetShell(fleet, bus, { dataDir, port: 2222 });
 */
export function startFleetShell(fleet: Fleet, hub: EventHub, opts: Omit<ShellServerOptions, 'backend' | 'findKey'>): Promise<ShellServer> {
  const keys = customerKeys(fleet.store);
  return startShellServer({ ...opts, backend: fleetBackend(fleet, hub), findKey: (customer, blob) => keys.find(customer, blob) });
}
