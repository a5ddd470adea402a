/**
 * Runs a test helper process until it prints `AT n` (the journal entry it stops after), then kills
 * it with SIGKILL, as a crash would; used by the kill -9 tests of switches and rehearsals.
 */
import { spawn } from 'node:child_process';

/**
 * Runs `node CHILD ...args`; 'killed' once it was SIGKILLed after `AT`, 'ended' if it finished first.
 * @example
 * await runUntilAt(CHILD, [dir, 'web1', '3']) // => 'killed'
 */
export function runUntilAt(child: string, args: string[]): Promise<'killed' | 'ended'> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let killed = false;
    p.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (!killed && out.includes('AT ')) {
        killed = true;
        p.kill('SIGKILL');
      }
    });
    p.stderr.on('data', (b: Buffer) => (err += b.toString()));
    p.on('close', (code, signal) => {
      if (killed && signal === 'SIGKILL') resolve('killed');
      else if (code === 0) resolve('ended');
      else reject(new Error(`child exited ${code} ${signal}: ${err.slice(-2000)}`));
    });
  });
}
