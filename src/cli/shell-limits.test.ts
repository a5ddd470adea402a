import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_ADMISSION } from '../compose/servers.ts';
import { UsageError } from './args.ts';
import { shellLimits } from './shell-limits.ts';

test('the Xen Shell limits come from the options, and a bad one is a usage error in words', () => {
  assert.deepEqual(shellLimits({}), { loginGraceMs: 30_000, admission: DEFAULT_ADMISSION });
  assert.deepEqual(shellLimits({ 'login-grace-time': '5', 'max-startups': '4:50:8', 'per-source-max-startups': '2' }), {
    loginGraceMs: 5000,
    admission: { maxStartups: { start: 4, rate: 50, full: 8 }, perSource: 2 },
  });
  const bad: [Record<string, string>, RegExp][] = [
    [{ 'login-grace-time': '0' }, /^--login-grace-time: seconds, 1\.\.3600$/],
    [{ 'login-grace-time': '1e309' }, /^--login-grace-time/],
    [{ 'max-startups': '10:30' }, /^--max-startups: expected START:RATE:FULL/],
    [{ 'per-source-max-startups': '-1' }, /^--per-source-max-startups: /],
  ];
  for (const [values, want] of bad) assert.throws(() => shellLimits(values), (e: unknown) => e instanceof UsageError && want.test(e.message));
});
