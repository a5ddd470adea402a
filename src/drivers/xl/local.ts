/**
 * The local Runner: pvhctl runs in dom0 and calls xl directly (spawn with an argument array, no
 * shell), and reads and writes configs with node:fs.
 */
import { spawn } from 'node:child_process';
import { openSync, closeSync, constants, fstatSync, lstatSync, readdirSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { ChangedSinceRead, replaceFileAtomically } from '../../util/atomic.ts';
import { type ConfigListing, DriverError, hostPath } from '../driver.ts';
import type { ExecResult, Runner } from './runner.ts';
import { MAX_OUTPUT } from './parse.ts';
import { BLOCK_TIMEOUT_MS, blockReader, blockServerScript } from './blocks.ts';

/** Runs argv[1:] on a new pseudo-terminal and relays it to stdin/stdout; exits with its status. */
const PTY_RELAY = 'import os, pty, sys\nsys.exit(os.waitstatus_to_exitcode(pty.spawn(sys.argv[1:])) & 255)';

/** Runs argv[0] with the rest as arguments; stdout capped at MAX_OUTPUT, killed after timeoutMs. */
export function execArgv(argv: string[], opts: { stdin?: Uint8Array; timeoutMs?: number } = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = argv;
    if (cmd === undefined) return reject(new DriverError('invalid', 'empty command'));
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: opts.timeoutMs ?? 120_000 });
    const out: Buffer[] = [];
    let outLen = 0;
    let err = '';
    child.stdout.on('data', (b: Buffer) => {
      outLen += b.length;
      if (outLen > MAX_OUTPUT) child.kill('SIGKILL');
      else out.push(b);
    });
    child.stderr.on('data', (b: Buffer) => {
      if (err.length < 65536) err += b.toString('utf8');
    });
    child.on('error', (e) => reject(new DriverError('failed', `${cmd}: ${e.message}`)));
    child.on('close', (code, signal) => {
      if (outLen > MAX_OUTPUT) return reject(new DriverError('failed', `${cmd}: output over ${MAX_OUTPUT} bytes`));
      resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out), stderr: signal ? `${err}\nkilled by ${signal}` : err });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(opts.stdin ?? undefined);
  });
}

function readBounded(path: string, maxBytes: number): Uint8Array {
  let fd: number;
  try {
    // Not through a symbolic link (O_NOFOLLOW), and without blocking on a FIFO (O_NONBLOCK): the
    // checks below are then made on the file actually opened, not on a name that can change.
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw new DriverError('invalid', `${path}: a symbolic link; not followed`);
    throw new DriverError('not-found', `${path}: no such file`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new DriverError('invalid', `${path}: not a regular file`);
    if (st.size > maxBytes) throw new DriverError('invalid', `${path}: ${st.size} bytes, over the ${maxBytes}-byte limit`);
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < st.size) {
      const n = readSync(fd, buf, off, st.size - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off);
  } finally {
    closeSync(fd);
  }
}

/**
 * The Runner for pvhctl running on the host itself.
 * @example
 * xlDriver('localhost', localRunner())
 */
export function localRunner(): Runner {
  return {
    name: 'local',
    exec: execArgv,
    readFile: async (path, maxBytes) => readBounded(path, maxBytes),
    async writeFileAtomic(path, content, expect) {
      try {
        await replaceFileAtomically(path, content, expect === undefined ? {} : { expect });
      } catch (err) {
        throw new DriverError('failed', err instanceof Error ? err.message : String(err), err instanceof ChangedSinceRead ? 'config-changed' : null);
      }
    },
    async listFiles(dir) {
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        throw new DriverError('not-found', `${dir}: cannot list`);
      }
      const out: ConfigListing = { files: [], skipped: [] };
      for (const n of names.sort()) {
        try {
          const p = hostPath(join(dir, n));
          // lstat: the entry itself, as `find -type f` sees it over SSH; a link is named, never followed.
          const st = lstatSync(p);
          if (st.isSymbolicLink()) out.skipped.push({ path: p, why: 'symlink' });
          else if (st.isFile()) out.files.push(p);
        } catch {
          // a name that is not a plain path part cannot be acted on safely: skip it
        }
      }
      return out;
    },
    async interactive(argv) {
      // Node has no pty of its own; python3's pty module (a dom0 with xl has python3: pygrub needs
      // it) gives the program a terminal, as xl console requires, and relays bytes both ways.
      if (argv.length === 0 || argv[0] === '') throw new DriverError('invalid', 'empty command');
      const child = spawn('python3', ['-c', PTY_RELAY, ...argv], { stdio: ['pipe', 'pipe', 'ignore'] });
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', (e) => reject(new DriverError('failed', `python3 (for a terminal): ${e.message}`)));
      });
      let closed = false;
      const closers: (() => void)[] = [];
      child.on('close', () => {
        closed = true;
        for (const fn of closers.splice(0)) fn();
      });
      child.stdin.on('error', () => {});
      return {
        onData: (fn) => child.stdout.on('data', (b: Buffer) => fn(new Uint8Array(b))),
        onClose: (fn) => (closed ? fn() : closers.push(fn)),
        write: (bytes) => {
          if (!closed) child.stdin.write(Buffer.from(bytes));
        },
        // Hang up: the relay goes, the terminal's master side closes, and the program gets SIGHUP.
        close: () => {
          if (!closed) child.kill('SIGHUP');
        },
      };
    },
    async openBlocks(path) {
      // The same host-side program as over SSH (the local shell, the local dd), so both paths are one.
      const child = spawn('sh', ['-c', blockServerScript(path)], { stdio: ['pipe', 'pipe', 'ignore'] });
      return blockReader(path, { stdin: child.stdin, stdout: child.stdout, close: () => child.kill() }, BLOCK_TIMEOUT_MS);
    },
    close: async () => {},
  };
}
