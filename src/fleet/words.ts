/**
 * The switch's journal steps (src/fleet/steps.ts) in a customer's words, for the shell's and the
 * web UI's live progress.
 */

/** Served to the web UI as /ui/words.js (src/web/routes.ts), so both say the same. */
export const WORDS: Record<string, string> = {
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
};

/**
 * One step's words; an unknown step (a newer fleet) is shown by its name.
 * @example
 * stepWords('verify') // => 'Waiting for it to boot, and checking its disks and network came up'
 */
export function stepWords(step: string): string {
  return Object.hasOwn(WORDS, step) ? WORDS[step]! : step;
}
