/**
 * pvhctl's xl config parser against Xen's own (libxlutil, Debian's libxen-dev): the same configs
 * accepted and refused, and the same value, operator and line for every key. Hand-written cases
 * for each rule of the grammar, then generated and mutated configs (bounded, seeded: set
 * PVHCTL_FUZZ_SEED to replay; the seed is printed on failure).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { effectiveSettings, parseXlConfig } from './parser.ts';
import { buildXluDump, haveLibxlutil, runXlu, type XluResult } from '../../test/support/xlu/harness.ts';
import { generateConfig, mutateConfig, rng } from './gen.ts';

const HAND_WRITTEN = [
  '', '\n', 'a = 1\n', 'a = 1', 'a=1;b=2;', 'a = "x"\nb = \'y\'\n', 'name = "web1"\nmemory = 1024\nvcpus = "4"\n',
  'a = [ ]\n', 'a = []\n', 'a = [\n]\n', 'a = [ 1, ]\n', 'a = [ 1 , 2 ,\n 3 ]\n', 'a = [,]\n', 'a = [1,,2]\n',
  'a = [ [ 1, [ "x" ] ], [] ]\n', 'disk = [ "phy:/dev/vg/web1,xvda,w", # root\n  "file:/srv/swap.img,xvdb,w",\n]\n',
  'a = 1 # comment\n', '# only a comment\n', '# final comment without newline', 'a = 1\n#', '#', 'a = 1 #', 'a = 1 # c',
  'A = 1\n', 'Name = "x"\n', 'a.b_c.9 = 1\n', '_a = 1\n', '9a = 1\n', 'a = abc\n', 'a = -1\n', 'a = 1.5\n', 'a = (1)\n',
  'a = 1 -', 'a = 1\n-', 'a = 1 $', 'a = 1 $x', 'a = 1\r\n', 'a = 1 # crlf comment\r\n', '\ufeffa = 1\n', 'a = 1 \\\n',
  'a = 0x1fg\n', 'a = 0512\n', 'a = 1e3\n', 'a = 1 2\n', 'a = 1 = 2\n', 'a\n', '= 1\n', 'a =\n', 'a = [1\n', 'a = [1] [2]\n',
  'a = "unterminated\n', 'a = "\n', 'a = "x\\\n"\n', 'a = "\\q"\n', 'a = "\\x41"\n', 'a = "\\x"\n', 'a = "\\0"\n', 'a = "\\0 5x"\n',
  'a = "\\01x"\n', 'a = "x\\777z"\n', 'a = "\\1+5z"\n', 'a = "\\1-"\n', 'a = "\\7\\t9"\n', "a = '\\''\n", 'a = "\\"\\\\\\a\\b\\f\\n\\r\\t\\v"\n',
  'a += 1\n', 'a = 1\na += 2\n', 'a = "x"\na += "y"\na += "z"\n', 'a = [1]\na += [2]\na += []\n', 'a = "x"\na += [1]\n',
  'a = [1]\na += "x"\n', 'a = 1\na = [2]\na += [3]\n', 'a += [1]\na = "x"\n', 'a + = 1\n', 'a =+ 1\n', 'a = 1;;;\n', ';\n;;\n',
  'a = "é ü"\n', 'a = é\n', 'é = 1\n', 'a = "tab\there"\n', 'a = "cr\rhere"\n', 'a = 1 ; b = 2 ; # x\n', 'vif = [ \'bridge=xenbr0\' ]\n',
];

function compare(text: string, xl: XluResult): string | null {
  const ours = parseXlConfig(text, 'CONFIG', { maxDepth: 1000 });
  if (xl.kind === 'crash') return ours.ok ? `libxlutil crashed (signal ${xl.signal}) but pvhctl accepted` : null;
  if (xl.kind === 'error') {
    if (ours.ok) return `libxlutil refused (${xl.report.trim().split('\n').at(-1)}) but pvhctl accepted`;
    // Lexical and string errors are reported on the same line by both. Not compared: xl's
    // syntax-error lines (off by one after a newline token) and its `+=` clash line (where the
    // value ends; we point at where it starts).
    const first = xl.report.split('\n').find((l) => l.startsWith('CONFIG:'));
    const lexical = first !== undefined && (first.endsWith(': lexical error') || first.endsWith(' in quoted string'));
    const xlLine = Number(first?.split(':')[1]);
    if (lexical && !/^(syntax error|can't add)/.test(ours.error.message) && xlLine !== ours.error.line) {
      return `error line differs: libxlutil ${first} pvhctl ${ours.error.line}:${ours.error.col} ${ours.error.message}`;
    }
    return null;
  }
  if (!ours.ok) return `libxlutil accepted but pvhctl refused: ${ours.error.line}:${ours.error.col} near ${ours.error.near}: ${ours.error.message}`;
  const mine = [...effectiveSettings(ours.config).values()].map((e) => ({ key: e.key, op: e.op, line: e.line, value: e.value }));
  const theirs = xl.settings.map((s) => ({ key: s.key, op: s.op, line: s.line, value: s.value }));
  const byKey = (a: { key: string }, b: { key: string }) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  try {
    assert.deepEqual(mine.sort(byKey), theirs.sort(byKey));
  } catch {
    return `values differ: pvhctl ${JSON.stringify(mine)} libxlutil ${JSON.stringify(theirs)}`;
  }
  return null;
}

async function check(texts: string[], label: string): Promise<void> {
  const bin = buildXluDump();
  const results = await runXlu(bin, texts);
  const failures: string[] = [];
  texts.forEach((t, k) => {
    const why = compare(t, results[k]!);
    if (why !== null) failures.push(`${JSON.stringify(t)}: ${why}`);
  });
  assert.equal(failures.length, 0, `${label}: ${failures.length} disagreement(s) with libxlutil:\n${failures.slice(0, 10).join('\n')}`);
}

test('libxlutil (libxen-dev) is installed: scripts/setup.sh installs it', () => {
  assert.ok(haveLibxlutil(), 'install libxen-dev (scripts/apt-packages.txt) to test against Xen\'s own parser');
});

test('hand-written configs: pvhctl and libxlutil accept, refuse and read alike', async () => {
  await check(HAND_WRITTEN, 'hand-written');
});

test('libxlutil aborts on a NUL inside quotes; pvhctl refuses the file with an error', async () => {
  const texts = ['a = "x\x00y"\n', "a = 'x\x00'\n", '# nul \x00 in a comment\na = 1\n', 'a = 1\x00\n'];
  const results = await runXlu(buildXluDump(), texts);
  assert.equal(results[0]!.kind, 'crash');
  assert.equal(results[1]!.kind, 'crash');
  for (const t of texts) {
    const r = parseXlConfig(t, 'f');
    if (t.startsWith('#')) assert.ok(r.ok, 'a NUL inside a comment is accepted, as by xl');
    else assert.ok(!r.ok);
  }
  assert.equal(compare(texts[2]!, results[2]!), null);
  assert.equal(compare(texts[3]!, results[3]!), null);
});

const SEED = Number(process.env.PVHCTL_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const CASES = Number(process.env.PVHCTL_XLU_CASES ?? 4000);

test(`generated and mutated configs agree with libxlutil (seed ${SEED}, ${CASES} of each)`, async () => {
  const r = rng(SEED);
  const generated: string[] = [];
  const mutated: string[] = [];
  for (let k = 0; k < CASES; k++) {
    const g = generateConfig(r);
    generated.push(g);
    mutated.push(mutateConfig(r, g));
  }
  const accepted = generated.filter((t) => parseXlConfig(t, 'f').ok).length;
  // The generator must mostly produce valid configs, or the value comparison tests little.
  assert.ok(accepted > CASES / 4, `only ${accepted} of ${CASES} generated configs parse (seed ${SEED})`);
  await check(generated, `generated (seed ${SEED}; PVHCTL_FUZZ_SEED=${SEED} replays)`);
  await check(mutated, `mutated (seed ${SEED}; PVHCTL_FUZZ_SEED=${SEED} replays)`);
});
