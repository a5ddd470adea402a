/**
 * The `xl` host driver: HostDriver over a Runner (local or SSH). Every command line is an array of
 * validated values; configs travel as file content through the runner.
 */
import { DriverError, isRehearsalPath, PVHCTL_FILE, REHEARSAL_PREFIX, type Domain, type DomainName, type HostDriver, type HostPath, type SnapshotSpec } from '../driver.ts';
import { LVS_FIELDS, parseDmTargets, parseFreeMemory, parseLvs, parseStat } from './lvm.ts';
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
    freeMemory: async () => parseFreeMemory(await text(['xl', 'info'])),
    async dmTargets() {
      const r = await runner.exec(['dmsetup', 'targets'], { timeoutMs });
      // A kernel without device-mapper at all has no snapshot target either.
      if (r.code !== 0 && /Failure to communicate with kernel device-mapper driver|\/dev\/mapper\/control: open failed/.test(r.stderr)) return [];
      const targets = parseDmTargets(checkExit(['dmsetup', 'targets'], r).stdout.toString('utf8'));
      if (targets.includes('snapshot')) return targets;
      // `dmsetup targets` lists only loaded targets; lvcreate loads dm-snapshot itself (modprobe)
      // when the module is there, as on a production dom0 that has made no snapshot since boot.
      const m = await runner.exec(['modprobe', '-n', 'dm-snapshot'], { timeoutMs });
      return m.code === 0 ? [...targets, 'snapshot'] : targets;
    },
    async diskBacking(path: HostPath) {
      const lvs = await runner.exec(['lvs', '--noheadings', '--nosuffix', '--units', 'b', '--separator', ':', '-o', LVS_FIELDS, path], { timeoutMs });
      if (lvs.code === 0) return parseLvs(lvs.stdout.toString('utf8'), path);
      // Not an LV (or no LVM at all): what else is it?
      const st = await runner.exec(['stat', '-L', '-c', '%F:%s', path], { timeoutMs });
      if (st.code !== 0) return { kind: 'other', path, what: `not found on the host (${st.stderr.trim().split('\n')[0]?.slice(0, 200) ?? ''})` };
      return parseStat(st.stdout.toString('utf8'), path);
    },
    async snapshotDisk(s: SnapshotSpec) {
      if (!isRehearsalPath(s.path)) throw new DriverError('invalid', `${s.path}: not a rehearsal snapshot name`);
      if (s.method === 'lvm-snapshot') {
        if (!Number.isSafeInteger(s.cowBytes) || s.cowBytes <= 0) throw new DriverError('invalid', `invalid CoW size ${s.cowBytes}`);
        await run(['lvcreate', '--snapshot', '--name', s.name, '--size', `${s.cowBytes}b`, s.origin]);
      } else {
        // GNU cp leaves an empty destination behind when the clone fails: remove it, then report.
        await run(['cp', '--reflink=always', s.origin, s.path]).catch(async (err: unknown) => {
          await runner.exec(['rm', '-f', s.path], { timeoutMs });
          throw err;
        });
      }
    },
    async removeSnapshot(s: SnapshotSpec) {
      if (!isRehearsalPath(s.path)) throw new DriverError('invalid', `${s.path}: not a rehearsal snapshot name; not removed`);
      if (s.method === 'reflink') {
        await run(['rm', '-f', s.path]);
        return;
      }
      const lvs = await runner.exec(['lvs', '--noheadings', '--nosuffix', '--units', 'b', '--separator', ':', '-o', LVS_FIELDS, s.path], { timeoutMs });
      if (lvs.code !== 0) return; // already gone
      const lv = parseLvs(lvs.stdout.toString('utf8'), s.path);
      // Only ever a snapshot: lvremove of an origin would take the guest's data with it.
      if (lv.kind !== 'lv' || lv.origin === null) throw new DriverError('invalid', `${s.path}: not a snapshot LV; not removed`);
      await run(['lvremove', '-f', `${lv.vg}/${lv.lv}`]);
    },
    async removeFile(path: HostPath) {
      if (!PVHCTL_FILE.test(path) || !isRehearsalPath(path)) throw new DriverError('invalid', `${path}: not a file pvhctl wrote for a rehearsal; not removed`);
      await run(['rm', '-f', path]);
    },
    async clearConsoleLog(n: DomainName) {
      if (!n.startsWith(REHEARSAL_PREFIX)) throw new DriverError('invalid', `${n}: not a rehearsal domain; its console log is kept`);
      await run(['rm', '-f', `${CONSOLE_LOG_DIR}/guest-${n}.log`]);
    },
    async probe() {
      const r = await runner.exec(['xl', 'info'], { timeoutMs: Math.min(timeoutMs, 30_000) }).catch((err: unknown) => {
        throw err instanceof DriverError ? err : new DriverError('unreachable', String(err));
      });
      checkExit(['xl', 'info'], r);
    },
    close: () => runner.close(),
  };
}
