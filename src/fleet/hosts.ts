/**
 * The drivers of one process's hosts, opened from their store rows through the driver table
 * (src/drivers/open.ts) and cached per host. Simulated hosts keep their state in
 * DATA_DIR/sim/NAME.json.
 */
import { join } from 'node:path';
import type { HostDriver } from '../drivers/driver.ts';
import { openDriver } from '../drivers/open.ts';
import type { Host } from '../store/schema.ts';

export type HostRegistry = {
  driverFor(host: Host): HostDriver;
  closeAll(): Promise<void>;
};

/**
 * The driver cache for one process. `dataDir` null keeps simulated hosts in memory only.
 * @example
 * const hosts = hostRegistry('/var/lib/pvhctl');
 * await hosts.driverFor(host).info()
 */
export function hostRegistry(dataDir: string | null, onFirstHostKey?: (host: Host, key: string) => void): HostRegistry {
  const drivers = new Map<number, HostDriver>();
  const simDir = dataDir === null ? null : join(dataDir, 'sim');
  return {
    driverFor(host) {
      let d = drivers.get(host.id);
      if (d === undefined) {
        d = openDriver(host, { simDir, ...(onFirstHostKey ? { onFirstHostKey: (key: string) => onFirstHostKey(host, key) } : {}) });
        drivers.set(host.id, d);
      }
      return d;
    },
    async closeAll() {
      await Promise.all([...drivers.values()].map((d) => d.close().catch(() => {})));
      drivers.clear();
    },
  };
}
