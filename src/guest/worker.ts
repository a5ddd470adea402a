/**
 * The child process that inspects one guest: reads `{ disks, options }` as JSON on stdin, writes
 * the GuestReport as JSON on stdout, and exits. It runs with a capped heap and under a time and
 * output limit set by child.ts, so a hostile disk can at worst kill its own inspection.
 */
import module from 'node:module';
import type { InspectOptions } from './inspect.ts';
import type { DiskSpec } from './volumes.ts';

// Cache the type-stripped modules on disk before loading them: a child starts per guest, and
// start-up is most of the time of a guest whose kernel verdict is cached. (child.ts also sets
// NODE_COMPILE_CACHE, which covers this file too.)
if (process.env.NODE_COMPILE_CACHE === undefined) module.enableCompileCache?.();
const { inspectGuest } = await import('./inspect.ts');

async function main(): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const { disks, options } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { disks: DiskSpec[]; options: InspectOptions };
  const report = await inspectGuest(disks, options);
  process.stdout.write(JSON.stringify(report));
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message.split('\n')[0] : String(err)}\n`);
  process.exit(1);
});
