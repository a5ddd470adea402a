/**
 * Measures how often the installed pvhctl (the .deb's own Node 24) dies by a signal on the lab's
 * dom0 (#15: V8's "Check failed: it->second.Size() > offset", or a silent signal): boots the lab
 * once, installs the package with dpkg, adds dom0 as a local host, then runs the command (default
 * `pvhctl scan`; several --command options take turns) --runs times, one at a time, recording each run's exit status (a shell's 128+N
 * is signal N) and the end of its stderr. lab/jit-probe.ts, a JIT and GC stress for the packaged
 * Node, is copied to dom0's /tmp/jit-probe.ts for commands that run it:
 * `--command '/usr/lib/pvhctl/runtime/bin/node --expose-gc --allow-natives-syntax /tmp/jit-probe.ts 60 1'`.
 * Run it under the lab lock, as every lab user:
 *
 *   flock /tmp/pvhctl-lab.lock node lab/jit.ts --runs 30 [--deb FILE] [--cpu MODEL] [--accel ACCEL] [--smp N] [--dom0-mem MIB] [--command CMD] [--max-minutes M] [--suites GLOB]...
 *
 * --suites runs those test files on the booted lab first, as npm test's lab stage does
 * (`--suites 'lab/*.test.ts' --suites 'test/e2e/*.test.ts'`), before the package is installed.
 *
 * The summary goes to stdout; every run to RUNDIR/jit.jsonl (exit or signal, the last line of its
 * stdout, the end of its stderr, and after a signal the end of dom0's dmesg and `free -m`) and the
 * lab's logs to RUNDIR/logs.
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync, spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { thePackage } from '../test/support/deb.ts';
import { SHARED_LAB_ENV } from '../test/support/lab.ts';
import { collectLogs, labExec, startLab, stopLab, waitForToolstack } from './lab.ts';

/** How one run of the command ended. */
export type RunEnd = { kind: 'exit'; code: number } | { kind: 'signal'; signal: number } | { kind: 'lost'; why: string };

/**
 * Reads the `rc=N` line the dom0 wrapper prints after the command: a shell reports a death by
 * signal N as 128+N.
 * @example
 * runEnd('rc=139\n') // => { kind: 'signal', signal: 11 }
 */
export function runEnd(stdout: string): RunEnd {
  const m = /^rc=(\d{1,3})$/m.exec(stdout);
  if (m === null) return { kind: 'lost', why: `no rc line in ${JSON.stringify(stdout.slice(0, 200))}` };
  const rc = Number(m[1]);
  return rc > 128 ? { kind: 'signal', signal: rc - 128 } : { kind: 'exit', code: rc };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '30' }, deb: { type: 'string' }, cpu: { type: 'string' }, accel: { type: 'string' },
      smp: { type: 'string' }, 'dom0-mem': { type: 'string' }, command: { type: 'string', multiple: true, default: ['pvhctl scan'] },
      'max-minutes': { type: 'string', default: '60' }, suites: { type: 'string', multiple: true, default: [] },
    },
  });
  const runs = Number(values.runs);
  const maxMs = Number(values['max-minutes']) * 60_000;
  if (!Number.isInteger(runs) || runs < 1 || runs > 1000) throw new Error(`--runs takes 1 to 1000, not '${values.runs}'`);
  const smp = values.smp === undefined ? undefined : Number(values.smp);
  const dom0MemMiB = values['dom0-mem'] === undefined ? undefined : Number(values['dom0-mem']);
  const deb = values.deb ?? thePackage();
  const log = (l: string) => process.stderr.write(l + '\n');
  const t0 = Date.now();
  const lab = await startLab({ log, cpu: values.cpu, accel: values.accel, smp, dom0MemMiB, memoryMiB: dom0MemMiB === undefined ? undefined : dom0MemMiB + 2048 });
  try {
    await waitForToolstack(lab);
    log(`lab up after ${Math.round((Date.now() - t0) / 1000)} s`);
    if (values.suites.length > 0) {
      // The whole suite's conditions: the installed pvhctl died only on a dom0 that had run the
      // other lab suites first. They attach to this lab as they attach to npm test's shared one.
      const code = await new Promise<number | null>((resolve, reject) => {
        const child = spawn(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=dot', ...values.suites],
          { env: { ...process.env, [SHARED_LAB_ENV]: join(lab.runDir, 'endpoint.json') }, stdio: ['ignore', 'inherit', 'inherit'] });
        child.once('error', reject);
        child.once('exit', resolve);
      });
      log(`suites ${values.suites.join(' ')}: exit ${code}, ${Math.round((Date.now() - t0) / 1000)} s since the lab started`);
    }
    const knownHosts = join(lab.runDir, 'known_hosts');
    writeFileSync(knownHosts, `[${lab.host}]:${lab.port} ${lab.hostKey}\n`);
    const scp = (from: string, to: string) => execFileSync('scp', ['-O', '-q', '-P', String(lab.port), '-i', lab.keyPath, '-o', `UserKnownHostsFile=${knownHosts}`,
      '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', from, `${lab.user}@${lab.host}:${to}`], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 300_000 });
    scp(deb, '/tmp/pvhctl.deb');
    scp(fileURLToPath(new URL('jit-probe.ts', import.meta.url)), '/tmp/jit-probe.ts');
    const install = await labExec(lab, '/usr/bin/dpkg -i /tmp/pvhctl.deb && rm /tmp/pvhctl.deb && pvhctl --version && pvhctl host add dom0 --local', 900_000);
    if (install.code !== 0) throw new Error(`install: ${install.stdout}${install.stderr}`);
    log(install.stdout.trim().split('\n').at(-2) ?? '');
    const out = join(lab.runDir, 'jit.jsonl');
    const commands = values.command;
    const ends: { command: string; end: RunEnd }[] = [];
    const start = Date.now();
    for (let i = 0; i < runs && Date.now() - start < maxMs; i++) {
      const t = Date.now();
      const command = commands[i % commands.length]!;
      // The last line of stdout (the probe's summary) goes on the rc line's heels, then stderr's end.
      const r = await labExec(lab, `${command} >/tmp/jit.out 2>/tmp/jit.err; echo "rc=$?"; tail -n 1 /tmp/jit.out | tail -c 300; tail -c 1500 /tmp/jit.err`, 600_000)
        .catch((err: Error) => ({ code: -1, stdout: `ssh: ${err.message}`, stderr: '' }));
      const end = runEnd(r.stdout);
      const output = r.stdout.replace(/^rc=\d+\n/m, '');
      ends.push({ command, end });
      // A death by a signal: what dom0's kernel said (an OOM kill, a segfault line with its ip) and its memory then.
      const kernel = end.kind === 'signal' ? (await labExec(lab, 'dmesg | tail -n 20; free -m', 60_000).catch((err: Error) => ({ stdout: `ssh: ${err.message}` }))).stdout : undefined;
      appendFileSync(out, JSON.stringify({ i, command, end, ms: Date.now() - t, output, kernel, at: new Date().toISOString() }) + '\n');
      const fatal = /Fatal error|Check failed[^\n]*/.exec(output)?.[0] ?? '';
      const summary = /^threads \d+ rounds .*$/m.exec(output)?.[0] ?? '';
      log(`run ${i + 1} (${command.slice(0, 40)}): ${end.kind === 'exit' ? `exit ${end.code}` : end.kind === 'signal' ? `SIGNAL ${end.signal} ${fatal}` : `lost (${end.why})`} in ${Date.now() - t} ms ${summary}`);
    }
    await collectLogs(lab, join(lab.runDir, 'logs'));
    const lines = [`installed-pvhctl runs: -cpu ${values.cpu ?? 'default'} -accel ${values.accel ?? 'default'} -smp ${smp ?? 'default'} dom0_mem ${dom0MemMiB ?? 'default'}`];
    for (const command of commands) {
      const mine = ends.filter((e) => e.command === command).map((e) => e.end);
      const exits = mine.flatMap((e) => (e.kind === 'exit' ? [e.code] : []));
      lines.push(`'${command.slice(0, 60)}': runs ${mine.length}; died by a signal ${mine.filter((e) => e.kind === 'signal').length}; lost ${mine.filter((e) => e.kind === 'lost').length}; exit codes ${exits.join(',')}`);
    }
    lines.push(`${Math.round((Date.now() - start) / 1000)} s of runs; logs: ${lab.runDir}`);
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    await stopLab(lab);
  }
}

if (import.meta.main) {
  main().catch((err) => {
    process.stderr.write(`lab/jit.ts: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
