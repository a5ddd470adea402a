/**
 * Which machine this process runs on, to tell where a `--local` host is: a `local` host's xl is
 * the xl of the machine it was added on, and only a process on that machine may drive it.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

/** A machine's identity: `machine-id:HEX` (systemd's machine-id(5)), or `hostname:NAME` where there is none. */
export type MachineId = string & { readonly __brand: 'MachineId' };

/**
 * The identity of the machine with `machineId` file content `text` (null: no such file) and
 * host name `host`. machine-id(5) is 32 lower-case hex digits; anything else is not trusted.
 * @example
 * machineOf('3d1219c7c4c5404aaa1f6d2a48adfda4\n', 'xen1') // => 'machine-id:3d1219c7c4c5404aaa1f6d2a48adfda4'
 * machineOf(null, 'xen1') // => 'hostname:xen1'
 */
export function machineOf(text: string | null, host: string): MachineId {
  const id = text?.trim() ?? '';
  return (/^[0-9a-f]{32}$/.test(id) ? `machine-id:${id}` : `hostname:${host}`) as MachineId;
}

let mine: MachineId | null = null;

/** This machine's identity (read once): /etc/machine-id, else the host name. */
export function thisMachine(): MachineId {
  if (mine === null) {
    let text: string | null = null;
    try {
      text = readFileSync('/etc/machine-id', 'utf8').slice(0, 64);
    } catch {
      // No machine-id (a container without systemd): the host name stands for the machine.
    }
    mine = machineOf(text, hostname());
  }
  return mine;
}
