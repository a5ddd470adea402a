/** `pvhctl rollback GUEST`: see switch.ts. */
import { run as switchRun } from './switch.ts';

export const run = (args: string[]): Promise<number> => switchRun(args, 'rollback');
