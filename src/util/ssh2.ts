/**
 * ssh2, loaded at its first use instead of with every module that names it: loading it
 * instantiates its poly1305 WebAssembly module, and a command that never speaks SSH (any on a local
 * or simulated host) then compiles no WebAssembly, so the installed pvhctl also runs under
 * `node --jitless`.
 */
import { createRequire } from 'node:module';
import type * as Ssh2 from 'ssh2';

const require = createRequire(import.meta.url);
let loaded: typeof Ssh2 | undefined;

/**
 * The ssh2 module, required on the first call.
 * @example
 * ssh2().utils.parseKey('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB...') // => ParsedKey
 */
export function ssh2(): typeof Ssh2 {
  loaded ??= require('ssh2') as typeof Ssh2;
  return loaded;
}
