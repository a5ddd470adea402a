/**
 * The `xl` host driver: HostDriver over a Runner (local or SSH). Every command line is an array of
 * validated values; configs travel as file content through the runner.
 */
import { DriverError, type Domain, type DomainName, type HostDriver, type HostPath } from '../driver.ts';
import { checkExit, type Runner } from './runner.ts';
import { mergeLists, parseFrontends, parseXlInfo, parseXlList, parseXlListLong } from './parse.ts';

/** Where xenconsoled --log=guest writes guest consoles. */
export const CONSOLE_LOG_DIR = '/var/log/xen/console';

export type XlOptions = {
  /** How often shutdown polls for the domain to go away. */
  pollMs?: number;
  /** Time limit of one xl command (xl create of a PV-GRUB guest returns once the domain is built). */
  commandTimeoutMs?: number;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Makes the xl driver for one host.
 * @example
 * const d = xlDriver('xen1', localRunner());
 * (await d.info()).xenCaps // => ['xen-3.0-x86_64', 'hvm-3.0-x86_32', ...]
 */
export function xlDriver(name: string, runner: Runner, opts: XlOptions = {}): HostDriver {
  const pollMs = opts.pollMs ?? 500;
  const timeoutMs = opts.commandTimeoutMs ?? 120_000;
  const run = async (argv: string[]) => checkExit(argv, await runner.exec(argv, { timeoutMs }));
  const text = async (argv: string[]) => (await run(argv)).stdout.toString('utf8');

  const listDomains = async (): Promise<Domain[]> => {
    const long = parseXlListLong(await text(['xl', 'list', '-l']));
    const plain = parseXlList(await text(['xl', 'list']));
    return mergeLists(long, plain);
  };
  const domain = async (n: DomainName): Promise<Domain | null> => {
    const r = await runner.exec(['xl', 'list', '-l', n], { timeoutMs });
    // xl exits 1 with "is an invalid domain identifier" when the domain does not exist.
    if (r.code !== 0) {
      if (/invalid domain identifier|not found/i.test(r.stderr)) return null;
      checkExit(['xl', 'list', '-l', n], r);
    }
    const long = parseXlListLong(r.stdout.toString('utf8'));
    const plain = parseXlList(await text(['xl', 'list', n]).catch(() => ''));
    return mergeLists(long, plain)[0] ?? null;
  };

  return {
    name,
    info: async () => parseXlInfo(await text(['xl', 'info'])),
    listDomains,
    domain,
    listConfigs: (dir: HostPath) => runner.listFiles(dir),
    readFile: (path: HostPath, maxBytes: number) => runner.readFile(path, maxBytes),
    openDisk: (path: HostPath) => runner.openBlocks(path),
    writeConfig: (path: HostPath, content: Uint8Array, expect?: Uint8Array) => runner.writeFileAtomic(path, content, expect),
    async shutdown(n: DomainName, limitMs: number) {
      const r = await runner.exec(['xl', 'shutdown', n], { timeoutMs });
      if (r.code !== 0 && (await domain(n)) !== null) checkExit(['xl', 'shutdown', n], r);
      const deadline = Date.now() + limitMs;
      for (;;) {
        const d = await domain(n);
        if (d === null) return 'stopped';
        if (Date.now() >= deadline) return 'timeout';
        await sleep(Math.min(pollMs, Math.max(1, deadline - Date.now())));
      }
    },
    async destroy(n: DomainName) {
      const r = await runner.exec(['xl', 'destroy', n], { timeoutMs });
      if (r.code !== 0 && (await domain(n)) !== null) checkExit(['xl', 'destroy', n], r);
    },
    async create(path: HostPath) {
      await run(['xl', 'create', path]);
    },
    async frontends(domid: number) {
      if (!Number.isSafeInteger(domid) || domid <= 0) throw new DriverError('invalid', `invalid domid ${domid}`);
      const r = await runner.exec(['xenstore-ls', '-f', `/local/domain/${domid}/device`], { timeoutMs });
      if (r.code !== 0) return { vbd: [], vif: [] };
      return parseFrontends(r.stdout.toString('utf8'), domid);
    },
    async consoleTail(n: DomainName, maxBytes: number) {
      const argv = ['tail', '-c', String(Math.max(1, Math.floor(maxBytes))), `${CONSOLE_LOG_DIR}/guest-${n}.log`];
      const r = await runner.exec(argv, { timeoutMs });
      return r.code === 0 ? r.stdout.toString('utf8') : '';
    },
    // `xl console` needs a terminal on the host: the SSH runner asks sshd for one, the local runner python3's pty.
    ...(runner.interactive ? { console: (n: DomainName) => runner.interactive!(['xl', 'console', n]) } : {}),
    async probe() {
      const r = await runner.exec(['xl', 'info'], { timeoutMs: Math.min(timeoutMs, 30_000) }).catch((err: unknown) => {
        throw err instanceof DriverError ? err : new DriverError('unreachable', String(err));
      });
      checkExit(['xl', 'info'], r);
    },
    close: () => runner.close(),
  };
}
