/**
 * `pvhctl demo`: pvhctl's main job on an embedded default, what `npm start` runs. Today: fetch
 * real Debian 12 kernels (one of each kind: PV+PVH, PVH only, neither) and report on them.
 */
import { debianKernel, type KernelFlavour } from '../debian/apt.ts';
import { run as kernel } from './kernel.ts';

export async function run(args: string[]): Promise<number> {
  const flavours: KernelFlavour[] = ['amd64', 'cloud-amd64', '686-pae', '686'];
  process.stderr.write(`pvhctl demo: fetching Debian 12 kernels (${flavours.join(', ')}) with apt-get download (cached)...\n`);
  const files: string[] = [];
  for (const f of flavours) {
    try {
      files.push((await debianKernel(f)).vmlinuz);
    } catch (err) {
      process.stderr.write(`pvhctl demo: ${f}: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  }
  if (files.length === 0) return 1;
  return kernel([...args, ...files]);
}
