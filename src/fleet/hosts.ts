/**
 * Opening a host's driver from its store row: `local` and `ssh` hosts get the xl driver, `sim`
 * hosts the simulator (its state kept in DATA_DIR/sim/NAME.json). Drivers are cached per host.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { HostDriver } from '../drivers/driver.ts';
import { simDriver } from '../drivers/sim/driver.ts';
import { makeSimHost, type SimSpec } from '../drivers/sim/fleet.ts';
import type { SimHost } from '../drivers/sim/world.ts';
import { xlDriver } from '../drivers/xl/driver.ts';
import { localRunner } from '../drivers/xl/local.ts';
import { parseEndpoint, sshRunner } from '../drivers/xl/ssh.ts';
import type { Host } from '../store/schema.ts';

export type HostRegistry = {
  driverFor(host: Host): HostDriver;
  /** The simulated host behind a sim driver (for sim inspection and fault injection). */
  simFor(host: Host): SimHost | null;
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
  const sims = new Map<number, SimHost>();
  const open = (host: Host): HostDriver => {
    if (host.transport === 'sim') {
      const spec = JSON.parse(host.sim_spec ?? '{}') as SimSpec;
      let file: string | null = null;
      if (dataDir !== null) {
        mkdirSync(join(dataDir, 'sim'), { recursive: true });
        file = join(dataDir, 'sim', `${host.name}.json`);
      }
      const sim = makeSimHost({ ...spec, name: host.name }, file);
      sims.set(host.id, sim);
      return simDriver(sim);
    }
    if (host.transport === 'ssh') {
      if (host.endpoint === null || host.key_path === null) throw new Error(`host ${host.name}: ssh needs an endpoint and a key`);
      return xlDriver(
        host.name,
        sshRunner({
          endpoint: parseEndpoint(host.endpoint),
          keyPath: host.key_path,
          hostKey: host.host_key,
          ...(onFirstHostKey ? { onFirstHostKey: (key: string) => onFirstHostKey(host, key) } : {}),
        }),
      );
    }
    return xlDriver(host.name, localRunner());
  };
  return {
    driverFor(host) {
      let d = drivers.get(host.id);
      if (d === undefined) {
        d = open(host);
        drivers.set(host.id, d);
      }
      return d;
    },
    simFor(host) {
      if (host.transport !== 'sim') return null;
      this.driverFor(host);
      return sims.get(host.id) ?? null;
    },
    async closeAll() {
      await Promise.all([...drivers.values()].map((d) => d.close().catch(() => {})));
      drivers.clear();
    },
  };
}
