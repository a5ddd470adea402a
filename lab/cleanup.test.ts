/**
 * QEMU never outlives the process that started the lab: not when that process is told to stop
 * (SIGTERM: the exit hook kills QEMU's process group) and not when it is killed outright (SIGKILL:
 * the watchdog notices and ends QEMU). Starts a real lab QEMU in a child process each time.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { alive, type LabEndpoint } from './lab.ts';

const CHILD = `
const { startLab } = await import(${JSON.stringify(new URL('./lab.ts', import.meta.url).href)});
const lab = await startLab();
console.log(JSON.stringify(lab));
setInterval(() => {}, 1000);
`;

async function startInChild(): Promise<{ child: ReturnType<typeof spawn>; lab: LabEndpoint }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  for await (const line of lines) {
    if (line.startsWith('{')) return { child, lab: JSON.parse(line) as LabEndpoint };
  }
  throw new Error('the child exited before it started the lab');
}

/** Waits (bounded) for a process to go away; true when it did. */
async function gone(pid: number, seconds: number): Promise<boolean> {
  for (let i = 0; i < seconds * 10; i++) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return !alive(pid);
}

for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
  test(`QEMU ends when the process that started the lab gets ${signal}`, async () => {
    const { child, lab } = await startInChild();
    try {
      assert.ok(alive(lab.pid), 'QEMU runs');
      child.kill(signal);
      assert.ok(await gone(lab.pid, 60), `QEMU pid ${lab.pid} still runs after its parent got ${signal}`);
    } finally {
      if (alive(lab.pid)) process.kill(-lab.pid, 'SIGKILL');
    }
  });
}
