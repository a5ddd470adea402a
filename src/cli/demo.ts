/**
 * `pvhctl demo`: pvhctl's main job on an embedded default, what `npm start` runs. It brings up
 * the Xen lab (real Xen 4.17 under QEMU) as a host reached over SSH, or a simulated host where the
 * lab cannot run, imports and inspects its guests into the SQLite store, switches one real guest
 * from PV to PVH (verified, with automatic rollback), and serves the API, the web UI and the
 * numbers an operator needs, until Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, UsageError } from './args.ts';
import { open } from './fleet-common.ts';

export const help = `usage: pvhctl demo [--sim] [--data-dir DIR] [--port PORT] [--no-switch] [--kernels]

Brings up the Xen lab (pvhctl lab up) as host 'lab', or with --sim (or when the lab cannot
start) a simulated host 'sim' with 200 guests; scans its guests; switches one PV guest to PVH
(the lab's PV-GRUB guest 'pvgrub64'), verified; makes a customer token; then runs
'pvhctl serve' until Ctrl-C. The store lives in DIR (default: data/demo in the checkout).
--kernels instead reports on four real Debian 12 kernels (pvhctl kernel).

exit status: 0 stopped by Ctrl-C; 1 a step failed; 2 usage error
`;

const bin = fileURLToPath(new URL('../../bin/pvhctl.js', import.meta.url));
const repo = fileURLToPath(new URL('../..', import.meta.url));

/** Runs `pvhctl ARGS` as a child with the terminal shared; resolves with its exit code and stdout. */
function pvhctl(args: string[], capture = false): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['inherit', capture ? 'pipe' : 'inherit', 'inherit'] });
    let stdout = '';
    child.stdout?.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    const stop = () => child.kill('SIGINT');
    process.once('SIGINT', stop);
    child.on('close', (code) => {
      process.off('SIGINT', stop);
      resolve({ code: code ?? 1, stdout });
    });
  });
}

const say = (s: string) => process.stderr.write(`\npvhctl demo: ${s}\n`);

type LabEndpoint = { host: string; port: number; user: string; keyPath: string; hostKey: string };

async function labUp(): Promise<LabEndpoint | null> {
  say('bringing up the Xen lab (real Xen 4.17 under QEMU; the first build takes a few minutes, then it is cached)...');
  const r = await pvhctl(['lab', 'up', '--json'], true);
  if (r.code !== 0) return null;
  try {
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as LabEndpoint;
  } catch {
    return null;
  }
}

export async function run(args: string[]): Promise<number> {
  const { values } = parse(args, {
    sim: { type: 'boolean' },
    'data-dir': { type: 'string' },
    port: { type: 'string' },
    'no-switch': { type: 'boolean' },
    kernels: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  if (values.kernels) return kernels();
  const port = values.port ?? '8080';
  if (!/^\d{1,5}$/.test(port)) throw new UsageError('--port takes a port number');
  const dir = values['data-dir'] ?? join(repo, 'data', 'demo');
  mkdirSync(dir, { recursive: true });
  const common = ['--data-dir', dir];

  const lab = values.sim ? null : await labUp();
  if (!values.sim && lab === null) say('the lab could not start (see above): using a simulated host instead');

  // Register the host (or refresh the lab's endpoint: its SSH port changes at every boot) and scan.
  const fleet = await open(dir);
  let hostName: string;
  let guest: string;
  try {
    if (lab !== null) {
      hostName = 'lab';
      const endpoint = `${lab.user}@${lab.host}:${lab.port}`;
      const row = { endpoint, key_path: lab.keyPath, host_key: lab.hostKey };
      const h = await fleet.store.getHost(hostName);
      if (h === undefined) {
        await fleet.store.addHost({
          name: hostName, transport: 'ssh', ...row, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 2,
          sim_spec: null, xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
        });
      } else {
        await fleet.store.updateHost(h.id, row);
      }
      guest = 'pvgrub64';
    } else {
      hostName = 'sim';
      if ((await fleet.store.getHost(hostName)) === undefined) {
        await fleet.store.addHost({
          name: hostName, transport: 'sim', endpoint: null, key_path: null, host_key: null, config_dir: '/etc/xen', role: 'pv-pvh',
          max_parallel: 2, sim_spec: JSON.stringify({ guests: 200, seed: 1, bootMs: 1500, shutdownMs: 800 }),
          xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
        });
      }
      guest = '';
    }
    say(`scanning host '${hostName}': reading every guest's config and disk...`);
    const host = (await fleet.store.getHost(hostName))!;
    const scan = await fleet.scan(host);
    say(`scan done: ${JSON.stringify(scan).slice(0, 300)}`);
    const guests = await fleet.store.listGuests({ hostId: host.id });
    if (lab !== null) {
      // The lab's guests get two customers, so that the customer views have something to show.
      for (const g of guests) if (g.owner === null) await fleet.store.updateGuest(g.id, { owner: ['pvgrub64', 'direct64', 'pae32'].includes(g.name) ? 'alice' : 'bob' });
    } else {
      guest = guests.find((g) => g.current_type === 'pv')?.name ?? guests[0]?.name ?? '';
    }
  } finally {
    await fleet.close();
  }

  if (lab !== null) await pvhctl(['guest', 'list', ...common]);
  else say(`the simulated host's guests: pvhctl guest list --data-dir ${dir}`);
  if (!values['no-switch'] && guest !== '') {
    say(`switching ${guest} to PVH: shut down, rewrite its config (the old one kept), boot, verify; rollback if it fails...`);
    await pvhctl(['switch', `${hostName}/${guest}`, '--to', 'pvh', ...common]);
  }
  const owner = lab !== null ? 'alice' : ((await open(dir).then(async (f) => {
    try {
      return (await f.store.listGuests({ hostId: (await f.store.getHost(hostName))!.id })).find((g) => g.owner !== null)?.owner ?? null;
    } finally {
      await f.close();
    }
  })) ?? 'customer');
  const token = await pvhctl(['token', 'add', '--customer', owner, ...common], true);
  say(
    [
      `serving on http://127.0.0.1:${port}/ (Ctrl-C stops it; the lab keeps running: 'pvhctl lab down' stops it)`,
      `  operator token: in ${join(dir, 'operator-token')} (created on first start)`,
      `  customer '${owner}' token: ${token.stdout.trim()}`,
      `  CLI: pvhctl guest list --data-dir ${dir}`,
    ].join('\n'),
  );
  const served = await pvhctl(['serve', '--port', port, ...common]);
  return served.code === 0 || served.code === 130 ? 0 : served.code;
}

/** The first demo: four real Debian 12 kernels, one of each kind (PV+PVH, PVH only, neither). */
async function kernels(): Promise<number> {
  const { debianKernel } = await import('../debian/apt.ts');
  const { run: kernel } = await import('./kernel.ts');
  const files: string[] = [];
  for (const f of ['amd64', 'cloud-amd64', '686-pae', '686'] as const) {
    try {
      files.push((await debianKernel(f)).vmlinuz);
    } catch (err) {
      process.stderr.write(`pvhctl demo: ${f}: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  }
  return files.length === 0 ? 1 : kernel(files);
}
