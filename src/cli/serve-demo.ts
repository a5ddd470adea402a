/**
 * `pvhctl serve --demo`: the control plane on a real Xen host for a newcomer. Where QEMU is
 * installed, boots the Xen lab (lab/), starts its PV guests, adds it as an SSH host and scans it;
 * otherwise adds a simulated host. Returns a function that stops what it started.
 */
import { execFile } from 'node:child_process';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import type { Fleet } from '../fleet/fleet.ts';

const run = promisify(execFile);

/** The lab guests started before the scan, as a customer's PV guests would be running. */
export const DEMO_GUESTS = ['pvgrub64', 'direct64', 'nopvh'];

async function hasQemu(): Promise<boolean> {
  return run('qemu-system-x86_64', ['--version']).then(
    () => true,
    () => false,
  );
}

async function simHost(fleet: Fleet, logger: Logger, guests: number): Promise<void> {
  if ((await fleet.store.getHost('sim')) !== undefined) return;
  const host = await fleet.store.addHost({
    name: 'sim', transport: 'sim', endpoint: JSON.stringify({ guests, seed: 1, bootMs: 2000, shutdownMs: 1000 }), key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 2,
    xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
  });
  const scan = await fleet.scan(host);
  logger.info({ host: 'sim', guests: scan.guests }, 'added and scanned a simulated host');
}

/**
 * Sets up the demo host(s) on an open fleet.
 * @example
 * const stop = await setUpDemo(fleet, logger, { sim: 50 }); ... await stop();
 */
export async function setUpDemo(fleet: Fleet, logger: Logger, opts: { sim: number; lab: boolean; logDir: string }): Promise<() => Promise<void>> {
  if (!opts.lab || !(await hasQemu())) {
    if (opts.lab) logger.warn('qemu-system-x86_64 is not installed: using a simulated host instead of the Xen lab');
    await simHost(fleet, logger, opts.sim);
    return async () => {};
  }
  const { collectLogs, startLab, stopLab, waitForToolstack } = await import('../../lab/lab.ts');
  const { bootGuest } = await import('../../lab/guest-boot.ts');
  logger.info('starting the Xen lab (Xen 4.17 under QEMU; the first build takes a few minutes)');
  const lab = await startLab({ log: (line) => logger.info(line) });
  // The run directory is pruned by later lab runs: the logs are copied into the data directory
  // when the lab stops, and that is where they are announced.
  const labLogs = join(opts.logDir, basename(lab.runDir));
  logger.info({ labLogs }, `the lab's logs (serial console: Xen and dom0; QEMU) will be kept in ${labLogs} when it stops`);
  const stop = async () => {
    await stopLab(lab);
    await collectLogs(lab, labLogs).catch(() => []);
  };
  try {
    await waitForToolstack(lab);
    for (const name of DEMO_GUESTS) {
      const r = await bootGuest(lab, name, `/etc/xen/${name}.cfg`, 180);
      logger.info({ guest: name, result: r.kind }, `started lab guest ${name} in its shipped PV config (${r.kind === 'marker' ? 'booted' : r.kind})`);
    }
    // The lab gets a new port and key each run: refresh the host's endpoint.
    const endpoint = { endpoint: `root@127.0.0.1:${lab.port}`, key_path: lab.keyPath, host_key: lab.hostKey };
    let host = await fleet.store.getHost('lab');
    if (host === undefined) {
      host = await fleet.store.addHost({
        name: 'lab', transport: 'ssh', ...endpoint, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 1,
        xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
      });
    } else {
      await fleet.store.updateHost(host.id, endpoint);
      host = (await fleet.store.getHost('lab'))!;
    }
    logger.info('scanning the lab host (reads each PV-GRUB guest disk block by block over SSH to inspect it)');
    const scan = await fleet.scan(host);
    logger.info({ host: 'lab', guests: scan.guests, errors: scan.errors.length }, 'scanned the Xen lab');
  } catch (err) {
    await stop();
    throw err;
  }
  return stop;
}
