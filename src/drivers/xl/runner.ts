/**
 * A Runner is how the xl driver reaches a host: run a program with arguments, read a file, replace
 * a file atomically, list a directory. local.ts does it on this machine (no shell involved);
 * ssh.ts does it over SSH, where the remote shell sees only arguments that passed `safeArg`.
 */
import { xlFailure } from './failure.ts';
import { DriverError, type BlockReader, type ConfigListing, type ConsoleChannel, type HostPath } from '../driver.ts';

export type ExecResult = { code: number; stdout: Buffer; stderr: string };

export type Runner = {
  readonly name: string;
  exec(argv: string[], opts?: { stdin?: Uint8Array; timeoutMs?: number }): Promise<ExecResult>;
  readFile(path: HostPath, maxBytes: number): Promise<Uint8Array>;
  /** Replaces PATH atomically, keeping the old one as `keptName(PATH)`; `expect` as in HostDriver.writeConfig. */
  writeFileAtomic(path: HostPath, content: Uint8Array, expect?: Uint8Array): Promise<void>;
  /** The regular files directly in `dir`, and its symbolic links (skipped, never followed). */
  listFiles(dir: HostPath): Promise<ConfigListing>;
  /** Opens a host file or block device for random-access reads (blocks.ts). */
  openBlocks(path: HostPath): Promise<BlockReader>;
  /** Runs a program on a terminal, interactively (for `xl console`); optional. */
  interactive?(argv: string[]): Promise<ConsoleChannel>;
  close(): Promise<void>;
};

// Arguments that mean the same to every POSIX shell when single-quoted, and contain no quote.
const SAFE_ARG = /^[A-Za-z0-9_./:=@,+%-]{1,4096}$/;

/**
 * Checks that every argument is a plain word (validated names, paths and flags) and quotes it.
 * @example
 * shellJoin(['xl', 'create', '/etc/xen/web.cfg']) // => "'xl' 'create' '/etc/xen/web.cfg'"
 * shellJoin(['xl', 'create', '$(reboot)']) // throws DriverError 'invalid'
 */
export function shellJoin(argv: string[]): string {
  return argv
    .map((a) => {
      if (!SAFE_ARG.test(a)) throw new DriverError('invalid', `refusing to pass ${JSON.stringify(a.slice(0, 80))} to a shell`);
      return `'${a}'`;
    })
    .join(' ');
}

/** Turns a failed command into a one-line DriverError naming the command. */
export function checkExit(argv: string[], r: ExecResult): ExecResult {
  if (r.code === 0) return r;
  // xl explains itself over several libxl lines (the cause first, then "cannot (re-)build domain"):
  // keep them all, on one line, so that the cause can be recognised.
  const lines = r.stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('Parsing config from'));
  const why = lines.length === 0 ? `exit code ${r.code}` : lines.join(' | ');
  throw new DriverError('failed', `${argv.join(' ')}: ${why.length > 800 ? `…${why.slice(-800)}` : why}`, xlFailure(`${argv.join(' ')}: ${why}`));
}
