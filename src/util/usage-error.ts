/**
 * The error for a command called wrongly (an unknown option, a bad value, a bad setting): main()
 * turns it into exit status 2. Here, not in src/cli/, because the settings (src/settings/) raise
 * it too and the core never imports a way in.
 */

/** An error in how a command was called; main() turns it into exit code 2. */
export class UsageError extends Error {}
