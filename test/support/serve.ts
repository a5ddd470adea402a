/**
 * Starts `pvhctl serve ARGS` as a child process for a test and waits for the address it logs;
 * the child is stopped (SIGTERM, waited for) when the test ends.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'pvhctl.js');

/**
 * The base URL (`http://127.0.0.1:PORT` or `https://…`) of a `pvhctl serve` started with `args`.
 * @example
 * const base = await startServe(t, ['--sim', '6', '--port', '0'], env) // => 'http://127.0.0.1:40123'
 */
export async function startServe(t: TestContext, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const server = spawn(process.execPath, [BIN, 'serve', ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(async () => {
    server.kill('SIGTERM');
    if (server.exitCode === null) await new Promise((r) => server.once('exit', r));
  });
  return new Promise<string>((resolve, reject) => {
    let log = '';
    server.stdout.on('data', (b: Buffer) => {
      log += b.toString();
      const m = /"address":"(https?:\/\/127\.0\.0\.1:\d+)".*"pvhctl serving"/.exec(log);
      if (m) resolve(m[1]!);
    });
    server.once('exit', (code) => reject(new Error(`serve exited ${code}: ${log}`)));
  });
}
