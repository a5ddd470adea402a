/**
 * /openapi.json for real clients: served by a real `pvhctl serve` on a simulated fleet, clean
 * under Redocly's recommended rules, turned into types by openapi-typescript, and those types
 * used by a small client (list-and-switch.ts) that type-checks, lists the guests and follows a
 * switch to its end over server-sent events.
 */
import { startServe } from '../support/serve.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cacheDir } from '../../src/debian/apt.ts';

const repo = join(import.meta.dirname, '..', '..');

/** openapi-typescript with the TypeScript 5 it needs, installed from its own lock file once. */
function openapiTypescript(): string {
  const src = join(import.meta.dirname, 'openapi-typescript');
  const lock = readFileSync(join(src, 'package-lock.json'));
  const dir = cacheDir('openapi-typescript', createHash('sha256').update(lock).digest('hex').slice(0, 16));
  const cli = join(dir, 'node_modules', 'openapi-typescript', 'bin', 'cli.js');
  if (!existsSync(cli)) {
    for (const f of ['package.json', 'package-lock.json']) copyFileSync(join(src, f), join(dir, f));
    execFileSync('npm', ['ci', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  return cli;
}

function tsc(dir: string, files: string[]) {
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      strict: true, noEmit: true, target: 'esnext', module: 'nodenext', moduleResolution: 'nodenext', allowImportingTsExtensions: true,
      types: ['node'], typeRoots: [join(repo, 'node_modules', '@types')], skipLibCheck: true,
    },
    files,
  }));
  return spawnSync(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { encoding: 'utf8' });
}

test('/openapi.json: Redocly-clean, and a client generated from it lists guests and follows a switch', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-client-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const env = { ...process.env, PVHCTL_CONFIG: '/dev/null', PVHCTL_DATA_DIR: join(dir, 'data') };
  const base = await startServe(t, ['--sim', '6', '--port', '0'], env);
  const token = readFileSync(join(dir, 'data', 'operator-token'), 'utf8').trim();

  const res = await fetch(`${base}/openapi.json`);
  assert.equal(res.status, 200);
  const doc = await res.json();
  writeFileSync(join(dir, 'openapi.json'), JSON.stringify(doc, null, 1));
  const lint = spawnSync(process.execPath, [join(repo, 'node_modules', '@redocly', 'cli', 'bin', 'cli.js'), 'lint', '--extends=recommended', join(dir, 'openapi.json')], { encoding: 'utf8', env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' } });
  assert.equal(lint.status, 0, lint.stdout + lint.stderr);
  assert.doesNotMatch(lint.stdout + lint.stderr, /warning/i, lint.stdout + lint.stderr);
  assert.match(lint.stdout + lint.stderr, /is valid/);

  execFileSync(process.execPath, [openapiTypescript(), join(dir, 'openapi.json'), '-o', join(dir, 'openapi.gen.ts')], { stdio: ['ignore', 'ignore', 'inherit'] });
  copyFileSync(join(import.meta.dirname, 'list-and-switch.ts'), join(dir, 'list-and-switch.ts'));
  const checked = tsc(dir, ['list-and-switch.ts']);
  assert.equal(checked.status, 0, checked.stdout + checked.stderr);
  // The types are real: a switch to a type the API does not have does not compile.
  writeFileSync(join(dir, 'wrong.ts'), "import type { paths } from './openapi.gen.ts';\nconst body: NonNullable<paths['/v1/guests/{id}/switch']['post']['requestBody']>['content']['application/json'] = { to: 'hvm' };\nconsole.log(body);\n");
  const wrong = tsc(dir, ['wrong.ts']);
  assert.notEqual(wrong.status, 0, 'a wrong request body type-checks');
  assert.match(wrong.stdout, /'"hvm"' is not assignable/);

  const run = spawnSync(process.execPath, [join(dir, 'list-and-switch.ts'), base, token], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines[0].guests, 6);
  assert.equal(lines[1].status, 'pending');
  const end = lines.at(-1);
  assert.equal(end.event, 'end', run.stdout);
  assert.equal(end.data.status, 'done', run.stdout);
  assert.ok(lines.some((l) => l.event === 'step' && l.data.step === 'verify'), run.stdout);
  const guests = (await (await fetch(`${base}/v1/guests`, { headers: { authorization: `Bearer ${token}` } })).json()) as { name: string; type: string }[];
  assert.equal(guests.find((g) => g.name === lines[1].guest)?.type, 'pvh');
});
