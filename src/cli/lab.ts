/**
 * `pvhctl lab up|down|status`: the Xen-in-QEMU lab (lab/) as a long-lived local Xen host. `up`
 * builds it if needed, boots it detached, waits for dom0's toolstack and prints the SSH endpoint;
 * the state file (QEMU pid and endpoint) lives in the cache directory.
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LabEndpoint } from '../../lab/lab.ts';
import { cacheDir } from '../debian/apt.ts';
import { parse, UsageError } from './args.ts';

const USAGE = 'usage: pvhctl lab up|down|status [--json]';

function stateFile(): string {
  return join(cacheDir('lab'), 'state.json');
}

/**
 * Reads the state file into an endpoint, or null when there is none or it is not one of ours.
 * @example
 * parseState('{"host":"127.0.0.1","port":40000,...}') // => { host: '127.0.0.1', port: 40000, ... }
 */
export function parseState(text: string): LabEndpoint | null {
  let v: unknown;
  try {
    v = JSON.parse(text.slice(0, 65536));
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  const str = (k: string) => typeof o[k] === 'string';
  const okPort = Number.isInteger(o.port) && (o.port as number) > 0 && (o.port as number) < 65536;
  const okPid = Number.isInteger(o.pid) && (o.pid as number) > 1;
  if (o.host !== '127.0.0.1' || o.user !== 'root' || !okPort || !okPid) return null;
  if (!['keyPath', 'hostKey', 'runDir', 'serialLog', 'buildDir', 'startedAt'].every(str)) return null;
  return o as unknown as LabEndpoint;
}

function readState(): LabEndpoint | null {
  const f = stateFile();
  return existsSync(f) ? parseState(readFileSync(f, 'utf8')) : null;
}

function writeState(lab: LabEndpoint): void {
  const f = stateFile();
  writeFileSync(`${f}.tmp`, JSON.stringify(lab, null, 2) + '\n');
  renameSync(`${f}.tmp`, f);
}

function sshCommand(lab: LabEndpoint): string {
  return `ssh -i ${lab.keyPath} -p ${lab.port} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null root@127.0.0.1`;
}

function report(lab: LabEndpoint, state: string, json: boolean): void {
  if (json) process.stdout.write(JSON.stringify({ state, ...lab }) + '\n');
  else process.stdout.write(`lab ${state}: dom0 SSH at ${lab.user}@${lab.host}:${lab.port} (QEMU pid ${lab.pid})\n  ${sshCommand(lab)}\n  logs: ${lab.runDir}\n`);
}

/** Runs `pvhctl lab ARGS`; see USAGE. */
export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } });
  if (values.help) {
    process.stdout.write(`${USAGE}\n  up      build (cached) and boot the lab, wait for dom0's toolstack, print the SSH endpoint\n  down    stop the lab\n  status  say whether the lab runs and its toolstack answers\n`);
    return 0;
  }
  const json = values.json === true;
  if (positionals.length !== 1) throw new UsageError(USAGE);
  // The lab is test tooling (lab/), loaded only when this command runs.
  const { alive, disconnect, labExec, startLab, stopLab, waitForToolstack } = await import('../../lab/lab.ts');
  const current = readState();
  const running = current !== null && alive(current.pid) ? current : null;
  switch (positionals[0]) {
    case 'up': {
      if (running !== null) {
        report(running, 'already up', json);
        return 0;
      }
      const lab = await startLab({ detach: true, log: (l) => process.stderr.write(l + '\n') });
      writeState(lab);
      try {
        const ms = await waitForToolstack(lab);
        process.stderr.write(`lab: toolstack up ${Math.round(ms / 1000)} s after QEMU started\n`);
      } catch (err) {
        await stopLab(lab);
        rmSync(stateFile(), { force: true });
        throw err;
      }
      await disconnect(lab);
      report(lab, 'up', json);
      return 0;
    }
    case 'down': {
      if (current === null) {
        process.stderr.write('lab: not running\n');
        return 0;
      }
      await stopLab(current);
      rmSync(stateFile(), { force: true });
      process.stderr.write(`lab: stopped (logs in ${current.runDir})\n`);
      return 0;
    }
    case 'status': {
      if (running === null) {
        if (current !== null) rmSync(stateFile(), { force: true });
        process.stderr.write('lab: not running\n');
        return 1;
      }
      const ok = await labExec(running, 'xl info >/dev/null', 15_000).then((r) => r.code === 0, () => false);
      await disconnect(running);
      report(running, ok ? 'up' : 'booting or unreachable', json);
      return ok ? 0 : 1;
    }
    default:
      throw new UsageError(USAGE);
  }
}
