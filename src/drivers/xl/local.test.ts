/**
 * The local runner's terminal (what `xl console` runs on when pvhctl runs in dom0): a real pty
 * from python3's pty module, keys in and output back, and a hang-up that ends the program.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { localRunner } from './local.ts';

test('interactive on the local host: a terminal for the program, keys in, output back, close hangs it up', async () => {
  const ch = await localRunner().interactive!(['sh', '-c', 'tty; exec cat']);
  let out = '';
  ch.onData((b) => (out += Buffer.from(b).toString('utf8')));
  const closed = new Promise<void>((resolve) => ch.onClose(resolve));
  try {
    ch.write(new TextEncoder().encode('hello console\r'));
    for (let i = 0; i < 200 && !/\/dev\/pts\/\d+[\s\S]*hello console[\s\S]*hello console|hello console[\s\S]*\/dev\/pts\/\d+[\s\S]*hello console/.test(out); i++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.match(out, /\/dev\/pts\/\d+/, 'tty(1) names a pseudo-terminal');
    // once echoed by the terminal, once written back by cat
    assert.match(out, /hello console[\s\S]*hello console/);
  } finally {
    ch.close();
  }
  await closed;
  await assert.rejects(localRunner().interactive!([]), /empty command/);
});
