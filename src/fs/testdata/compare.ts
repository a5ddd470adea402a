/**
 * Test helper shared by the filesystem readers' tests: walks a source directory tree beside the
 * reader's view of the filesystem built from it and checks every listing, file and symlink.
 */
import { lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import type { Filesystem, FsNode } from '../types.ts';

export type CompareOptions = {
  /** Names the filesystem has that the tree does not (`lost+found`). */
  extraNames?: string[];
  /** Symlinks (`/path` in the tree) the reader must refuse, with the error it must give. */
  refused?: Map<string, RegExp>;
};

/**
 * Compares the tree under `src` with directory `node` of `fs`; returns how many entries were checked.
 * @example
 * compareTree(fs, '/tmp/tree', fs.root()) // => 3261
 */
export function compareTree(fs: Filesystem, src: string, node: FsNode, opts: CompareOptions = {}, rel = ''): number {
  let checked = 0;
  const names = readdirSync(src).sort();
  const listed = fs.list(node).map((e) => e.name).filter((n) => !opts.extraNames?.includes(n)).sort();
  assert.deepEqual(listed, names, `listing of /${rel}`);
  for (const n of names) {
    const p = join(src, n);
    const child = fs.lookup(node, n);
    assert.ok(child, `${rel}/${n} found`);
    const st = lstatSync(p);
    if (st.isSymbolicLink()) {
      assert.equal(child.kind, 'symlink');
      const refused = opts.refused?.get(`${rel}/${n}`);
      if (refused !== undefined) assert.throws(() => fs.readlink(child), refused);
      else assert.equal(fs.readlink(child), readlinkSync(p), `${rel}/${n} target`);
    } else if (st.isDirectory()) {
      assert.equal(child.kind, 'dir');
      checked += compareTree(fs, p, child, opts, `${rel}/${n}`);
    } else {
      assert.equal(child.kind, 'file');
      assert.equal(child.size, st.size, `${rel}/${n} size`);
      assert.ok(Buffer.from(fs.read(child, 64 << 20)).equals(readFileSync(p)), `${rel}/${n} content`);
    }
    checked++;
  }
  return checked;
}
