/**
 * The inspection child's containment, seen from inside real children: a probe script (testdata/
 * probe.ts) started exactly as the inspection worker is (spawnContained) reports its credentials,
 * limits, environment and what it can do with its disk; killing pvhctl kills the child and its
 * decompressor; and a pvhctl that is not root still contains its children as far as it can.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { debianKernel, type KernelFlavour } from '../debian/apt.ts';
import { bundle, childProgram, readOnlyCopy } from './bundle.ts';
import { childNodeArgs, DEFAULT_CHILD_LIMITS, inspectInChild, spawnContained, type ChildLimits } from './child.ts';
import { childUser, containedArgv, containmentProblems, JOB_FD } from './containment.ts';
import { guestImage } from './testdata/images.ts';
import { fixtureGuests } from './testdata/guests.ts';

const dir = mkdtempSync(join(tmpdir(), 'pvhctl-child-'));
chmodSync(dir, 0o755);
after(() => rmSync(dir, { recursive: true, force: true }));
const node = process.execPath;
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const probeScript = bundle(here('./testdata/probe.ts')).script;
const probeProgram = readOnlyCopy(childProgram(probeScript, null));
let image = '';
before(async () => {
  const rel = { amd64: '', 'cloud-amd64': '', '686-pae': '', '686': '' } as Record<KernelFlavour, string>;
  for (const f of Object.keys(rel) as KernelFlavour[]) rel[f] = (await debianKernel(f)).release;
  image = await guestImage(fixtureGuests(rel).bare);
});

/** Runs the probe contained with `path` opened and passed to it; its exit and JSON output. */
async function probe(job: object, path: string, limits: Partial<ChildLimits> = {}): Promise<{ out: string; signal: string | null; code: number | null }> {
  const s = spawnContained(probeProgram, [openSync(path, 'r')], { ...DEFAULT_CHILD_LIMITS, ...limits });
  assert.ok(!('error' in s), 'error' in s ? s.error : '');
  (s.child.stdio as unknown as Writable[])[JOB_FD]!.end(JSON.stringify(job));
  let out = '';
  s.child.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
  s.child.stderr.on('data', (b: Buffer) => process.stderr.write(b));
  const [code, signal] = await new Promise<[number | null, string | null]>((r) => s.child.on('close', (c, sig) => r([c, sig])));
  return { out, code, signal };
}

/**
 * A pvhctl stand-in, as a script file: starts the probe contained on the file named by its first
 * argument with `job`, then runs `rest` (which sees the start as `s`).
 */
function parentScript(name: string, job: object, rest: string): string {
  const file = join(dir, name);
  writeFileSync(
    file,
    `import { openSync } from 'node:fs';
import { spawnContained, inspectInChild, DEFAULT_CHILD_LIMITS } from ${JSON.stringify(here('./child.ts'))};
import { childProgram, readOnlyCopy } from ${JSON.stringify(here('./bundle.ts'))};
const s = spawnContained(readOnlyCopy(childProgram(${JSON.stringify(probeScript)}, null)), [openSync(process.argv[2], 'r')], DEFAULT_CHILD_LIMITS);
if ('error' in s) throw new Error(s.error);
s.child.stdio[${JOB_FD}].end(${JSON.stringify(JSON.stringify(job))});
${rest}
`,
  );
  return file;
}

const field = (status: string, name: string) => new RegExp(`^${name}:[ \\t]*(.*)$`, 'm').exec(status)?.[1]?.trim();

test('a child runs as nobody: no capabilities, no groups, no-new-privs, hard limits, a clean environment, its disk read-only', async () => {
  process.env.SSH_AUTH_SOCK = '/tmp/ssh-agent.sock';
  const r = await probe({ mode: 'facts', path: image }, image);
  delete process.env.SSH_AUTH_SOCK;
  assert.equal(r.code, 0);
  const f = JSON.parse(r.out) as { status: string; limits: string; env: Record<string, string>; fdinfo: string; writeFd: string; readFd: string; openRead: string; openWrite: string; reopenWrite: string };
  assert.equal(field(f.status, 'Uid'), '65534\t65534\t65534\t65534');
  assert.equal(field(f.status, 'Gid'), '65534\t65534\t65534\t65534');
  assert.equal(field(f.status, 'Groups'), '');
  for (const caps of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) assert.equal(field(f.status, caps), '0000000000000000', caps);
  assert.equal(field(f.status, 'NoNewPrivs'), '1');
  assert.match(f.limits, new RegExp(`^Max address space\\s+${DEFAULT_CHILD_LIMITS.addressSpaceMiB * 1024 * 1024}\\s+${DEFAULT_CHILD_LIMITS.addressSpaceMiB * 1024 * 1024}\\s`, 'm'));
  assert.match(f.limits, new RegExp(`^Max cpu time\\s+${DEFAULT_CHILD_LIMITS.cpuSeconds}\\s+${DEFAULT_CHILD_LIMITS.cpuSeconds + 1}\\s`, 'm'));
  // What the worker checks of itself before reading the guest agrees.
  assert.deepEqual(containmentProblems(f.status, f.limits, { user: { kind: 'dropped', uid: 65534, gid: 65534 }, addressSpaceBytes: DEFAULT_CHILD_LIMITS.addressSpaceMiB * 1024 * 1024, cpuSeconds: DEFAULT_CHILD_LIMITS.cpuSeconds }), []);
  assert.deepEqual(Object.keys(f.env).sort(), ['LC_ALL', 'PATH']);
  // The disk: open read-only (O_ACCMODE 0); writing fails; the path itself cannot be opened, nor reopened for writing.
  assert.equal(Number.parseInt(/^flags:\s*([0-7]+)$/m.exec(f.fdinfo)![1]!, 8) & 3, 0);
  assert.equal(f.writeFd, 'EBADF');
  assert.equal(f.readFd, 'ok');
  assert.equal(f.openRead, 'EACCES');
  assert.equal(f.openWrite, 'EACCES');
  assert.equal(f.reopenWrite, 'EACCES');
  // The inspection itself works from the descriptor alone (nobody cannot read the image's path).
  const report = await inspectInChild([{ path: image, vdev: 'xvda' }], { dataDir: null, name: 'bare' });
  assert.ok(!('error' in report && typeof report.error === 'string'), JSON.stringify(report).slice(0, 300));
  assert.equal((report as { verdict: { verdict: string } }).verdict.verdict, 'ready');
});

test('the CPU limit is in force: a child that spins is stopped by SIGXCPU', async () => {
  const r = await probe({ mode: 'spin' }, image, { cpuSeconds: 1 });
  assert.equal(r.signal, 'SIGXCPU');
});

test('killing pvhctl kills the child and its decompressor, which runs contained too', async () => {
  const payload = join(dir, 'zeros.xz');
  execFileSync('sh', ['-c', `head -c 67108864 /dev/zero | xz -0 -T1 > '${payload}'`]);
  // A pvhctl stand-in: starts the contained probe, relays its line, and is then killed -9.
  const parent = parentScript('parent.ts', { mode: 'decompress' }, 's.child.stdout.pipe(process.stdout);\ns.child.stderr.pipe(process.stderr);');
  const p = spawn(node, ['--disable-warning=ExperimentalWarning', parent, payload], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve) => {
    let buf = '';
    (p.stdout as Readable).on('data', (b: Buffer) => {
      buf += b.toString('utf8');
      if (buf.includes('\n')) resolve(buf.split('\n')[0]!);
    });
  });
  const { child, decompressors } = JSON.parse(line) as { child: number; decompressors: number[] };
  assert.equal(decompressors.length, 1);
  const xz = readFileSync(`/proc/${decompressors[0]}/status`, 'utf8');
  assert.equal(field(xz, 'Name'), 'xz');
  assert.equal(field(xz, 'Uid'), '65534\t65534\t65534\t65534');
  assert.equal(field(xz, 'NoNewPrivs'), '1');
  assert.match(readFileSync(`/proc/${decompressors[0]}/limits`, 'utf8'), /^Max cpu time\s+120\s+121\s/m);
  // Stopped, as a process busy computing is: neither would notice a closed pipe; only the
  // parent-death signal (SIGKILL reaches a stopped process) ends them.
  process.kill(child, 'SIGSTOP');
  process.kill(decompressors[0]!, 'SIGSTOP');
  p.kill('SIGKILL');
  const gone = (pid: number) => !existsSync(`/proc/${pid}`) || field(readFileSync(`/proc/${pid}/status`, 'utf8'), 'State')?.startsWith('Z');
  for (let i = 0; i < 600 && !(gone(child) && gone(decompressors[0]!)); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(gone(child), 'the child outlived pvhctl');
  assert.ok(gone(decompressors[0]!), 'the decompressor outlived pvhctl');
});

test('a pvhctl that is not root: its children keep its user, with no-new-privs, the limits and a clean environment', async () => {
  const img = join(dir, 'guest.img');
  execFileSync('cp', ['--sparse=always', image, img]);
  chmodSync(img, 0o644);
  const data = join(dir, 'data');
  execFileSync('install', ['-d', '-o', 'nobody', data]);
  const parent = parentScript(
    'unprivileged.ts',
    { mode: 'facts', path: img },
    `let out = '';
s.child.stdout.on('data', (b) => (out += b));
await new Promise((r) => s.child.on('close', r));
const report = await inspectInChild([{ path: process.argv[2], vdev: 'xvda' }], { dataDir: process.env.PVHCTL_DATA, name: 'g' });
process.stdout.write(JSON.stringify({ facts: JSON.parse(out), containment: s.containment, report }));`,
  );
  const out = execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', node, '--disable-warning=ExperimentalWarning', parent, img], {
    env: { PATH: process.env.PATH, PVHCTL_DATA: data, SSH_AUTH_SOCK: '/tmp/ssh-agent.sock' },
    encoding: 'utf8',
    cwd: '/',
  });
  const r = JSON.parse(out) as { facts: { status: string; limits: string; env: object }; containment: object; report: { verdict?: { verdict: string }; error?: string } };
  assert.deepEqual(r.containment, { user: { kind: 'unchanged', uid: 65534 }, addressSpaceBytes: DEFAULT_CHILD_LIMITS.addressSpaceMiB * 1024 * 1024, cpuSeconds: DEFAULT_CHILD_LIMITS.cpuSeconds });
  assert.equal(field(r.facts.status, 'Uid'), '65534\t65534\t65534\t65534');
  assert.equal(field(r.facts.status, 'NoNewPrivs'), '1');
  assert.equal(field(r.facts.status, 'CapEff'), '0000000000000000');
  assert.equal(field(r.facts.status, 'CapAmb'), '0000000000000000');
  assert.deepEqual(containmentProblems(r.facts.status, r.facts.limits, r.containment as never), []);
  assert.deepEqual(Object.keys(r.facts.env).sort(), ['LC_ALL', 'PATH']);
  assert.equal(r.report.verdict?.verdict, 'ready', JSON.stringify(r.report).slice(0, 300));
});

test('containment values: the inspection user, the command line, and what a child without containment finds wrong', () => {
  const passwd = 'root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\npvhinspect:x:998:997::/:/usr/sbin/nologin\n';
  const group = 'root:x:0:\nnogroup:x:65534:\npvhinspect:x:997:\n';
  assert.deepEqual(childUser(undefined, passwd, group, 0), { kind: 'dropped', uid: 65534, gid: 65534 });
  assert.deepEqual(childUser('pvhinspect', passwd, group, 0), { kind: 'dropped', uid: 998, gid: 997 });
  assert.deepEqual(childUser('4000:4001', passwd, group, 0), { kind: 'dropped', uid: 4000, gid: 4001 });
  assert.deepEqual(childUser(undefined, passwd, group, 1000), { kind: 'unchanged', uid: 1000 });
  assert.match(childUser('root', passwd, group, 0) as string, /must not run as root/);
  assert.match(childUser('nobody:root', passwd, group, 0) as string, /must not run as root/);
  assert.match(childUser('ghost', passwd, group, 0) as string, /no user "ghost"/);
  assert.match(childUser('nobody:ghosts', passwd, group, 0) as string, /no group "ghosts"/);
  const argv = containedArgv({ prlimit: 'P', setpriv: 'S' }, { user: { kind: 'unchanged', uid: 1000 }, addressSpaceBytes: 1 << 30, cpuSeconds: 5 }, ['node']);
  assert.deepEqual(argv, ['P', '--as=1073741824', '--cpu=5:6', 'S', '--inh-caps=-all', '--ambient-caps=-all', '--no-new-privs', '--pdeathsig=KILL', '--', 'node']);
  // This test process is root with no limits: everything a dropped child checks is wrong here.
  const problems = containmentProblems(readFileSync('/proc/self/status', 'utf8'), readFileSync('/proc/self/limits', 'utf8'), {
    user: { kind: 'dropped', uid: 65534, gid: 65534 },
    addressSpaceBytes: 1 << 30,
    cpuSeconds: 5,
  });
  for (const what of ['NoNewPrivs', 'Uid', 'Gid', 'CapEff', 'CapBnd', 'Max address space', 'Max cpu time']) assert.ok(problems.some((p) => p.startsWith(what)), `${what}: ${problems.join('; ')}`);
});

test("a child's young generation holds what an inspection allocates: no scavenge, which would copy everything it keeps", () => {
  // A child with a cached verdict allocates over 1 MiB (V8's default young generation) before it
  // exits, all of it kept to the end; 20,000 small live objects and their array stand for that here.
  const probe =
    "const g = new (require('node:v8').GCProfiler)(); g.start(); const keep = []; for (let i = 0; i < 20_000; i++) keep.push({ i }); process.stdout.write(JSON.stringify(g.stop().statistics.map((s) => s.gcType)) + ' ' + keep.length);";
  const r = spawnSync(node, [...childNodeArgs(DEFAULT_CHILD_LIMITS), '-e', probe], { encoding: 'utf8' });
  assert.equal(r.stderr, '');
  assert.equal(r.stdout, '[] 20000');
});
