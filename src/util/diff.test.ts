import { test } from 'node:test';
import assert from 'node:assert/strict';
import { unifiedDiff } from './diff.ts';

test('unified diff: hunks with 3 lines of context, merged when close, no-newline marker', () => {
  const a = 'a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\nm\nn\n';
  assert.equal(unifiedDiff(a, a, 'x', 'y'), '');
  assert.equal(unifiedDiff('a\nb\n', 'a\nc\n', 'x', 'y'), '--- x\n+++ y\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n');
  const b = a.replace('b\n', 'B\n').replace('n\n', 'n');
  assert.equal(
    unifiedDiff(a, b, 'x', 'y'),
    '--- x\n+++ y\n@@ -1,5 +1,5 @@\n a\n-b\n+B\n c\n d\n e\n@@ -11,4 +11,4 @@\n k\n l\n m\n-n\n+n\n\\ No newline at end of file\n',
  );
  assert.equal(unifiedDiff('', 'x = 1\n', 'x', 'y'), '--- x\n+++ y\n@@ -0,0 +1,1 @@\n+x = 1\n');
  // Past the bound the whole file is shown as replaced rather than searched.
  assert.equal(unifiedDiff('a\nb\n', 'a\nc\n', 'x', 'y', 1), '--- x\n+++ y\n@@ -1,2 +1,2 @@\n-a\n-b\n+a\n+c\n');
});
