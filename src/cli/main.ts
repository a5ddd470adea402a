/**
 * pvhctl's command line: one table of subcommands, each in its own module under src/cli/.
 * A subcommand module exports `run(args: string[]): Promise<number>` and returns the exit code:
 * 0 success, 1 some input could not be handled (each with a one-line error), 2 usage error.
 */
import { readFileSync } from 'node:fs';
import { UsageError } from './args.ts';

type Command = { summary: string; load: () => Promise<{ run(args: string[]): Promise<number> }> };

const commands: Record<string, Command> = {
  // One line per subcommand; keep them alphabetical so that parallel work merges cleanly.
  campaign: { summary: 'plan, create and run PV to PVH campaigns: waves in maintenance windows, customer notice, pause on failures', load: () => import('./campaign.ts') },
  config: { summary: 'check xl domain configs, and convert them between PV, PVH and PVH with the PV shim', load: () => import('./config.ts') },
  demo: { summary: "run pvhctl's main job on an embedded default (what `npm start` runs)", load: () => import('./demo.ts') },
  guest: { summary: 'list and show guests: type, what they can become, history', load: () => import('./guest.ts') },
  host: { summary: 'add, list and show Xen hosts (ssh, local or simulated)', load: () => import('./host.ts') },
  inspect: { summary: 'read guest disks offline and say whether each guest can boot as PVH', load: () => import('./inspect.ts') },
  kernel: { summary: 'tell whether Xen can boot kernel images as PV, PVH, both or neither', load: () => import('./kernel.ts') },
  lab: { summary: 'the Xen 4.17 lab under QEMU: lab up|down|status', load: () => import('./lab.ts') },
  overview: { summary: "the campaign page's figures: PV guests left per week, progress per host and wave, failures, readiness", load: () => import('./overview.ts') },
  owner: { summary: "set and list guest owners' contact addresses for campaign mail", load: () => import('./owner.ts') },
  readiness: { summary: 'say per host whether it could boot a Xen without 32-bit PV, or without PV, today; and which guests are in the way', load: () => import('./readiness.ts') },
  rehearse: { summary: 'test-boot a guest as PVH on snapshots of its disks while it keeps running', load: () => import('./rehearse.ts') },
  rollback: { summary: "put a guest back to the config it had before its last switch", load: () => import('./rollback.ts') },
  scan: { summary: "import hosts' guests and inspect what each can become", load: () => import('./scan.ts') },
  settings: { summary: "show pvhctl's effective settings (/etc/pvhctl/pvhctl.conf, environment, flags)", load: () => import('./settings.ts') },
  serve: { summary: 'run the REST API (OpenAPI, SSE progress, /metrics) on the data directory', load: () => import('./serve.ts') },
  shell: { summary: "serve the customers' Xen Shell over SSH; manage their keys", load: () => import('./shell.ts') },
  store: { summary: "copy a dom0's SQLite store into PostgreSQL, verified by counts and checksums", load: () => import('./store.ts') },
  switch: { summary: 'switch a guest to pvh, pvh-shim or pv, verified, with automatic rollback', load: () => import('./switch.ts') },
  token: { summary: 'create, list, expire and revoke API tokens for operators and customers', load: () => import('./token.ts') },
  worker: { summary: 'run switches from the PostgreSQL job queue (start one per machine)', load: () => import('./worker.ts') },
};

export function usage(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `usage: pvhctl [--store URL] COMMAND [ARGS...]\n\ncommands:\n${lines.join('\n')}\n\n'pvhctl COMMAND --help' describes one command; 'pvhctl --version' prints the version.\n--store postgresql://USER@HOST/DB (or $PVHCTL_STORE) puts the fleet's store on PostgreSQL; the default is\nthe SQLite file in the data directory.\n`;
}

/**
 * `pvhctl --version`: pvhctl's version (package.json's, the one source of it) and the Node.js
 * running it, which matters because pvhctl needs Node 24's type stripping.
 * @example
 * version() // => 'pvhctl 0.1.0 (Node.js v24.21.0)\n'
 */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return `pvhctl ${pkg.version} (Node.js ${process.version})\n`;
}

/**
 * Takes `--store URL` (or `--store=URL`) out of the arguments, wherever it is, into $PVHCTL_STORE,
 * so every command and the processes it starts open the same store.
 */
export function takeStoreOption(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (a === '--store') {
      if (argv[i + 1] === undefined) throw new UsageError('--store needs a URL');
      process.env.PVHCTL_STORE = argv[++i]!;
    } else if (a.startsWith('--store=')) {
      process.env.PVHCTL_STORE = a.slice('--store='.length);
    } else {
      out.push(a);
    }
  }
  return out;
}

/** Runs one pvhctl command line and returns its exit code. */
export async function main(args: string[]): Promise<number> {
  let argv: string[];
  try {
    argv = takeStoreOption(args);
  } catch (err) {
    process.stderr.write(`pvhctl: ${(err as Error).message}\n`);
    return 2;
  }
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    process.stdout.write(version());
    return 0;
  }
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (command === undefined) {
    process.stderr.write(`pvhctl: unknown command '${name}'\n${usage()}`);
    return 2;
  }
  try {
    const mod = await command.load();
    return await mod.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`pvhctl ${name}: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`pvhctl ${name}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
