/**
 * The switch's journal steps (src/fleet/steps.ts) in a customer's words, for the shell's and the
 * web UI's live progress, and what a guest must do first to reach PVH.
 */
import type { NextStep } from './become.ts';
import type { Step } from './steps.ts';

/** Served to the web UI as /ui/words.js (src/web/routes.ts), so both say the same. */
export const WORDS = {
  'pre-check': 'Checking that the server can run in the new mode',
  'keep-config': 'Saving a copy of the current settings',
  shutdown: 'Shutting the server down cleanly',
  'write-config': 'Writing the new settings',
  create: 'Starting the server in the new mode',
  verify: 'Waiting for it to boot, and checking its disks and network came up',
  // Both an automatic rollback and a customer's `undo` run this step: say what it does, not why.
  'rollback-stop': 'Stopping the server to put back its saved settings',
  'rollback-restore': 'Restoring the saved settings',
  'rollback-create': 'Starting the server with its saved settings',
  'rollback-verify': 'Checking that it runs again as before',
  'power-stop': 'Asking the server to shut down',
  'power-start': 'Starting the server',
  done: 'Done',
  'rolled-back': 'Put back as it was',
  refused: 'Not started',
  'needs-attention': 'Our team has been alerted',
} satisfies Record<Step | 'done' | 'rolled-back' | 'refused' | 'needs-attention', string>;

/**
 * One step's words; an unknown step (a newer fleet) is shown by its name.
 * @example
 * stepWords('verify') // => 'Waiting for it to boot, and checking its disks and network came up'
 */
export function stepWords(step: string): string {
  return Object.hasOwn(WORDS, step) ? (WORDS as Record<string, string>)[step]! : step;
}

/**
 * What would make native PVH possible (src/fleet/become.ts NextStep), in a customer's words, with
 * `{name}` for the step's parameters. Served to the web UI in /ui/words.js beside WORDS.
 */
export const NEXT_WORDS = {
  'install-kernel': 'To run in PVH mode without the shim, install {install} and restart the server once.',
  'reboot-into': 'Its kernel {kernel} can run in PVH mode: make "{entry}" the default boot entry and restart the server once.',
  'reboot-into-no-entry': 'Its kernel {kernel} can run in PVH mode, but no boot entry starts it: update the boot menu (update-grub), make it the default and restart the server once.',
} as const;

/**
 * A next step in a customer's words. The kernel, entry and package names come from the guest's
 * disk: escape them on output.
 * @example
 * nextWords({ kind: 'install-kernel', install: 'linux-image-amd64' })
 * // => 'To run in PVH mode without the shim, install linux-image-amd64 and restart the server once.'
 */
export function nextWords(next: NextStep): string {
  const key = next.kind === 'reboot-into' && next.entry === null ? 'reboot-into-no-entry' : next.kind;
  const params: Record<string, string | null> = next;
  // One pass: a name from the guest that itself contains {kernel} is not expanded again.
  return NEXT_WORDS[key].replace(/\{(\w+)\}/g, (_, k: string) => params[k] ?? '');
}
