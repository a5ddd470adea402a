import { test } from 'node:test';
import assert from 'node:assert/strict';
import { printable } from './escape.ts';

test('printable escapes control characters, quotes nothing else', () => {
  assert.equal(printable('linux\x1b[31m\n'), 'linux\\x1b[31m\\n');
  assert.equal(printable('xen-3.0'), 'xen-3.0');
  assert.equal(printable('a\u202eb'), 'a\\u202eb');
});
