/**
 * The floor of a scan's children, for bench/inspect.ts: `node bench/empty-children.ts N JOBS`
 * starts N inspection children that do nothing, JOBS at a time, exactly as pvhctl starts one per
 * guest (child.ts spawnContained: prlimit and setpriv, the same user, limits, Node flags, clean
 * environment, descriptors and loader), each given an empty program and no disk.
 */
import { childProgram, readOnlyCopy } from '../src/guest/bundle.ts';
import { DEFAULT_CHILD_LIMITS, spawnContained } from '../src/guest/child.ts';

const [n, jobs] = process.argv.slice(2).map(Number) as [number, number];
const program = readOnlyCopy(childProgram('', null));
let next = 0;
async function slot(): Promise<void> {
  while (next++ < n) {
    const s = spawnContained(program, [], DEFAULT_CHILD_LIMITS);
    if ('error' in s) throw new Error(s.error);
    s.child.stdout.resume();
    s.child.stderr.resume();
    const code = await new Promise<number | null>((resolve) => s.child.on('close', resolve));
    if (code !== 0) throw new Error(`an empty child exited with ${code}`);
  }
}
await Promise.all(Array.from({ length: jobs }, slot));
