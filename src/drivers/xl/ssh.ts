/**
 * The SSH Runner (ssh2): one connection per host, commands run through `exec` with every argument
 * checked by `shellJoin`, file content sent on stdin (works with OpenSSH and Dropbear, no SFTP
 * subsystem needed in a minimal dom0).
 */
import { readFileSync } from 'node:fs';
import type { Client, ClientChannel, ConnectConfig } from 'ssh2';
import { ssh2 } from '../../util/ssh2.ts';
import { randomBytes } from 'node:crypto';
import { DriverError, hostPath, keptName, type ConfigListing, type ConsoleChannel, type HostPath } from '../driver.ts';
import { checkExit, shellJoin, type ExecResult, type Runner } from './runner.ts';
import { MAX_OUTPUT } from './parse.ts';
import { BLOCK_TIMEOUT_MS, blockReader, blockServerScript } from './blocks.ts';

export type SshEndpoint = { user: string; address: string; port: number };

/**
 * Parses `user@address:port` (port defaults to 22, user to root).
 * @example
 * parseEndpoint('root@127.0.0.1:2222') // => { user: 'root', address: '127.0.0.1', port: 2222 }
 */
export function parseEndpoint(s: string): SshEndpoint {
  const m = /^(?:([a-z_][a-z0-9_-]{0,31})@)?([A-Za-z0-9.-]{1,253}|\[[0-9a-fA-F:]+\])(?::(\d{1,5}))?$/.exec(s);
  const port = m?.[3] === undefined ? 22 : Number(m[3]);
  if (!m || port < 1 || port > 65535) throw new DriverError('invalid', `invalid SSH endpoint ${JSON.stringify(s.slice(0, 80))} (want user@address:port)`);
  return { user: m[1] ?? 'root', address: m[2]!.replace(/^\[|\]$/g, ''), port };
}

export type SshOptions = {
  endpoint: SshEndpoint;
  /** The private key file. */
  keyPath: string;
  /** The host key to accept, as in known_hosts (`ssh-ed25519 AAAA...`); no other key is accepted. */
  hostKey?: string | null;
  /** Called with the key seen when `hostKey` is unset (trust on first use: the caller records it). */
  onFirstHostKey?: (key: string) => void;
  readyTimeoutMs?: number;
};

/**
 * The Runner for a host reached over SSH. Connects lazily and reconnects after a lost connection.
 * @example
 * xlDriver('xen1', sshRunner({ endpoint: parseEndpoint('root@10.0.0.5'), keyPath: '/root/.ssh/id_ed25519' }))
 */
export function sshRunner(opts: SshOptions): Runner {
  let client: Client | null = null;
  let connecting: Promise<Client> | null = null;
  const name = `${opts.endpoint.user}@${opts.endpoint.address}:${opts.endpoint.port}`;

  const connect = (): Promise<Client> => {
    if (client) return Promise.resolve(client);
    if (connecting) return connecting;
    connecting = new Promise<Client>((resolve, reject) => {
      const c = new (ssh2().Client)();
      const config: ConnectConfig = {
        host: opts.endpoint.address,
        port: opts.endpoint.port,
        username: opts.endpoint.user,
        privateKey: readFileSync(opts.keyPath),
        readyTimeout: opts.readyTimeoutMs ?? 20_000,
        keepaliveInterval: 10_000,
      };
      const pinned = opts.hostKey ? Buffer.from(opts.hostKey.trim().split(/\s+/)[1] ?? '', 'base64') : null;
      config.hostVerifier = (key: Buffer) => {
        if (pinned !== null) return pinned.equals(key);
        // The key blob starts with its type as an SSH string (RFC 4253 6.6).
        const type = key.subarray(4, 4 + key.readUInt32BE(0)).toString('latin1');
        opts.onFirstHostKey?.(`${type} ${key.toString('base64')}`);
        return true;
      };
      c.on('ready', () => {
        client = c;
        connecting = null;
        resolve(c);
      });
      c.on('error', (e) => {
        client = null;
        connecting = null;
        reject(new DriverError('unreachable', `${name}: ${e.message}`));
      });
      c.on('close', () => {
        client = null;
      });
      c.connect(config);
    });
    return connecting;
  };

  /**
   * Opens an exec channel. A server may refuse one while it tears another down (dropbear closes
   * the new channel before starting anything: ssh2's "Unable to exec"); nothing ran, so try again.
   */
  const channel = async (command: string, o: { pty?: boolean } = {}): Promise<ClientChannel> => {
    for (let attempt = 0; ; attempt++) {
      const c = await connect();
      try {
        return await new Promise<ClientChannel>((resolve, reject) => {
          const done = (err: Error | undefined, ch: ClientChannel) => (err ? reject(err) : resolve(ch));
          if (o.pty) c.exec(command, { pty: { term: 'vt100', rows: 24, cols: 80 } }, done);
          else c.exec(command, done);
        });
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        if (attempt < 3 && /Unable to exec/.test(msg)) {
          await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
          continue;
        }
        throw new DriverError('unreachable', `${name}: ${msg}`);
      }
    }
  };

  const exec = async (argv: string[], o: { stdin?: Uint8Array; timeoutMs?: number } = {}): Promise<ExecResult> => {
    const command = shellJoin(argv);
    const stream = await channel(command);
    return new Promise((resolve, reject) => {
      const out: Buffer[] = [];
      let outLen = 0;
      let stderr = '';
      const timer = setTimeout(() => {
        stream.close();
        reject(new DriverError('failed', `${argv[0]}: no answer from ${name} within ${o.timeoutMs ?? 120_000} ms`));
      }, o.timeoutMs ?? 120_000);
      stream.on('data', (b: Buffer) => {
        outLen += b.length;
        if (outLen <= MAX_OUTPUT) out.push(b);
      });
      stream.stderr.on('data', (b: Buffer) => {
        if (stderr.length < 65536) stderr += b.toString('utf8');
      });
      stream.on('close', (code: number | null) => {
        clearTimeout(timer);
        if (outLen > MAX_OUTPUT) return reject(new DriverError('failed', `${argv[0]}: output over ${MAX_OUTPUT} bytes`));
        resolve({ code: code ?? 255, stdout: Buffer.concat(out), stderr });
      });
      stream.end(o.stdin === undefined ? undefined : Buffer.from(o.stdin));
    });
  };

  const readFile = async (path: HostPath, maxBytes: number): Promise<Uint8Array> => {
    // Opened as the local runner opens (O_NOFOLLOW, O_NONBLOCK): a symbolic link is refused, never
    // followed, and a FIFO cannot block the read. max+1 bytes tell "too large" from "exactly max"
    // without a second round trip. /bin/dd by its path: a busybox dom0's shell runs its own dd
    // applet for `dd`, which has no nofollow (the lab's does); Debian's coreutils is Essential.
    const argv = ['/bin/dd', `if=${path}`, 'iflag=nofollow,nonblock,count_bytes', 'bs=1M', `count=${maxBytes + 1}`, 'status=none'];
    const r = await exec(argv);
    if (r.code !== 0) {
      if (/No such file/i.test(r.stderr)) throw new DriverError('not-found', `${path}: no such file`);
      if (/Too many levels of symbolic links/i.test(r.stderr)) throw new DriverError('invalid', `${path}: a symbolic link; not followed`);
      checkExit(argv, r);
    }
    if (r.stdout.length > maxBytes) throw new DriverError('invalid', `${path}: over the ${maxBytes}-byte limit`);
    return new Uint8Array(r.stdout);
  };

  return {
    name,
    exec,
    readFile,
    async writeFileAtomic(path: HostPath, content: Uint8Array, expect?: Uint8Array) {
      const tmp = hostPath(`${path}.pvhctl-${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
      // Fixed programs with validated paths only; the content itself goes on stdin.
      checkExit(['dd'], await exec(['dd', `of=${tmp}`, 'conv=fsync'], { stdin: content }));
      try {
        const exists = (await exec(['test', '-f', path])).code === 0;
        if (expect !== undefined) {
          // A longer file is over the bound: changed, like any other difference.
          const now = exists ? await readFile(path, expect.length).catch(() => null) : null;
          if (now === null || !Buffer.from(now).equals(Buffer.from(expect))) throw new DriverError('failed', `${path}: changed since it was read; not replaced`, 'config-changed');
        }
        if (exists) {
          let n = 0;
          while (n < 100 && (await exec(['test', '-e', keptName(path, new Date(), n)])).code === 0) n++;
          checkExit(['cp'], await exec(['cp', '-p', path, hostPath(keptName(path, new Date(), n))]));
        }
        checkExit(['mv'], await exec(['mv', '-f', tmp, path]));
      } catch (err) {
        await exec(['rm', '-f', tmp]).catch(() => {});
        throw err;
      }
      await exec(['sync']);
    },
    async listFiles(dir: HostPath) {
      // Two POSIX finds (GNU -printf is not in busybox, which some dom0s are built on): regular
      // files, then symbolic links (named, never followed). One path per line.
      const list = async (type: 'f' | 'l') => {
        const r = await exec(['find', dir, '-maxdepth', '1', '-type', type]);
        if (r.code !== 0) throw new DriverError('not-found', `${dir}: cannot list`);
        return r.stdout.toString('utf8').split('\n').sort();
      };
      const out: ConfigListing = { files: [], skipped: [] };
      for (const [type, names] of [['f', await list('f')], ['l', await list('l')]] as const) {
        for (const path of names) {
          // A name holding a newline would split into lines that could name any path: keep only direct children.
          if (!path.startsWith(`${dir}/`) || path.slice(dir.length + 1).includes('/')) continue;
          try {
            if (type === 'f') out.files.push(hostPath(path));
            else out.skipped.push({ path: hostPath(path), why: 'symlink' });
          } catch {
            // names with shell or control characters are not acted on
          }
        }
      }
      return out;
    },
    async openBlocks(path: HostPath) {
      const stream = await channel(blockServerScript(path));
      stream.stderr.resume();
      return blockReader(`${name}:${path}`, { stdin: stream, stdout: stream, close: () => stream.close() }, BLOCK_TIMEOUT_MS);
    },
    async interactive(argv: string[]): Promise<ConsoleChannel> {
      // A terminal on the host: xl console needs one, and it passes the guest's bytes through raw.
      const stream = await channel(shellJoin(argv), { pty: true });
      let closed = false;
      const closers: (() => void)[] = [];
      const finish = () => {
        closed = true;
        for (const fn of closers.splice(0)) fn();
      };
      stream.on('close', finish);
      return {
        onData: (fn) => stream.on('data', (b: Buffer) => fn(new Uint8Array(b))),
        onClose: (fn) => (closed ? fn() : closers.push(fn)),
        write: (bytes) => {
          if (!closed) stream.write(Buffer.from(bytes));
        },
        close: () => {
          if (closed) return;
          // Hang up the terminal (as closing an xl console window does) and do not wait for the far side.
          stream.signal('HUP');
          stream.close();
          finish();
        },
      };
    },
    async close() {
      client?.end();
      client = null;
    },
  };
}
