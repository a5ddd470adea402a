/**
 * The driver table: a host's store row to the driver for its transport. `local` and `ssh` hosts
 * get the xl driver (src/drivers/xl/), `sim` hosts the simulator (src/drivers/sim/, its state in
 * SIM_DIR/NAME.json, or in memory). Nothing above this module knows which driver it talks to.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DriverError, type HostDriver } from './driver.ts';
import { thisMachine } from './machine.ts';
import type { Runner } from './xl/runner.ts';
import { simDriver } from './sim/driver.ts';
import { makeSimHost, type SimSpec } from './sim/fleet.ts';
import { xlDriver } from './xl/driver.ts';
import { localRunner } from './xl/local.ts';
import { parseEndpoint, sshRunner } from './xl/ssh.ts';

/** What the table needs of a host row (src/store/schema.ts Host). */
export type DriverHost = {
  name: string;
  transport: 'local' | 'ssh' | 'sim';
  /** ssh: `user@address:port`; sim: the simulated host's shape (JSON, src/drivers/sim/fleet.ts SimSpec). */
  endpoint: string | null;
  key_path: string | null;
  host_key: string | null;
  /** local: the machine it was added on (src/drivers/machine.ts); null or absent: not known. */
  machine?: string | null;
};

export type OpenOptions = {
  /** Where simulated hosts keep their state; null keeps them in memory. */
  simDir: string | null;
  /** Called with an SSH host's key the first time it is seen (trust on first use). */
  onFirstHostKey?: (key: string) => void;
};

/**
 * Opens the driver for a host.
 * @example
 * openDriver({ name: 'sim1', transport: 'sim', endpoint: '{"guests":3}', key_path: null, host_key: null }, { simDir: null }).name // => 'sim1'
 */
export function openDriver(host: DriverHost, opts: OpenOptions): HostDriver {
  switch (host.transport) {
    case 'sim': {
      // The simulator's shape is its endpoint, so that the product's schema carries nothing of it.
      const spec = JSON.parse(host.endpoint ?? '{}') as SimSpec;
      let file: string | null = null;
      if (opts.simDir !== null) {
        mkdirSync(opts.simDir, { recursive: true });
        file = join(opts.simDir, `${host.name}.json`);
      }
      return simDriver(makeSimHost({ ...spec, name: host.name }, file));
    }
    case 'ssh':
      if (host.endpoint === null || host.key_path === null) throw new Error(`host ${host.name}: ssh needs an endpoint and a key`);
      return xlDriver(
        host.name,
        sshRunner({
          endpoint: parseEndpoint(host.endpoint),
          keyPath: host.key_path,
          hostKey: host.host_key,
          ...(opts.onFirstHostKey ? { onFirstHostKey: opts.onFirstHostKey } : {}),
        }),
      );
    case 'local': {
      const why = localElsewhere(host);
      return xlDriver(host.name, why === null ? localRunner() : elsewhere(why));
    }
  }
}

/**
 * The runner of a `local` host seen from another machine (one store, several machines): this
 * machine's xl is not that host's, so every call is refused, in words, before anything runs.
 */
function elsewhere(why: string): Runner {
  const no = async (): Promise<never> => {
    throw new DriverError('failed', why);
  };
  return { name: 'elsewhere', exec: no, readFile: no, writeFileAtomic: no, listFiles: no, openBlocks: no, close: async () => {} };
}

/**
 * Why a process on this machine must not drive `host`: a `local` host added on another machine
 * (its xl is that machine's); null when it may (any other host, or a local one of unknown machine).
 * @example
 * localElsewhere({ name: 'xen1', transport: 'local', machine: 'hostname:dom0-a' }) // => 'host xen1 is the local xl of machine hostname:dom0-a, not of this one (machine-id:3d12...): run pvhctl there, or add the host with --ssh'
 */
export function localElsewhere(host: Pick<DriverHost, 'name' | 'transport' | 'machine'>): string | null {
  if (host.transport !== 'local' || host.machine == null || host.machine === thisMachine()) return null;
  return `host ${host.name} is the local xl of machine ${host.machine}, not of this one (${thisMachine()}): run pvhctl there, or add the host with --ssh`;
}
