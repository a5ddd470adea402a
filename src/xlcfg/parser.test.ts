import { test } from 'node:test';
import assert from 'node:assert/strict';
import { effectiveSettings, formatParseError, parseXlConfig } from './parser.ts';
import { printXlConfig, removeSetting, renderValue, setSetting } from './printer.ts';
import type { XlConfig } from './types.ts';

const WEB1 = `# web1: a Debian PV guest
name = "web1"
builder = "generic"   # xm era
kernel = "/boot/vmlinuz-6.1.0-26-amd64"
ramdisk = '/boot/initrd.img-6.1.0-26-amd64'
extra = "console=hvc0"; root = "/dev/xvda1 ro"
memory = 1024
maxmem=2048
vcpus = 2
disk = [ 'phy:/dev/vg0/web1,xvda,w',
         # swap
         'file:/srv/xen/web1-swap.img,xvdb,w', ]
vif = [ "bridge=xenbr0,mac=00:16:3e:00:00:01" ]
vnc = 1
vnclisten = "0.0.0.0"
`;

function parse(text: string): XlConfig {
  const r = parseXlConfig(text, 'web1.cfg');
  assert.ok(r.ok, r.ok ? '' : formatParseError(r.error));
  return r.config;
}

test('reads keys, strings, numbers (as text) and lists; last assignment wins; += joins', () => {
  const c = parse(`${WEB1}memory = 2048\nextra += " quiet"\ndisk += [ "phy:/dev/vg0/web1-data,xvdc,w" ]\n`);
  const e = effectiveSettings(c);
  assert.equal(e.get('memory')!.value, '2048');
  assert.equal(e.get('memory')!.line, 16);
  assert.equal(e.get('extra')!.value, 'console=hvc0 quiet');
  assert.deepEqual(e.get('disk')!.value, ['phy:/dev/vg0/web1,xvda,w', 'file:/srv/xen/web1-swap.img,xvdb,w', 'phy:/dev/vg0/web1-data,xvdc,w']);
  assert.equal(e.get('vcpus')!.number, true);
});

test('printing an unchanged parse gives the input back byte for byte', () => {
  for (const t of [WEB1, '', '\n\n', 'a=1', 'a = 1 -', '# c\r\n', 'a = [ [ 1 ], # x\n ]\n\t;;', 'a = "\\0 5x"\n']) {
    assert.equal(printXlConfig(parse(t)), t);
  }
});

test('errors name the file, line and column, quote the text and say what was expected', () => {
  const cases: [string, string][] = [
    ['a = 1\ntype = PVH\n', "web1.cfg:2:8: config parsing error near `PVH': lexical error"],
    ['a = 1\nb =\n', "web1.cfg:2:4: config parsing error near <newline>: syntax error, unexpected NEWLINE, expecting STRING or NUMBER or '['"],
    ['a = 1\r\n', "web1.cfg:1:6: config parsing error near `\\r': lexical error"],
    ['\ufeffname = "x"\n', "web1.cfg:1:1: config parsing error near `\\ufeffname': lexical error"],
    ['memory = 512 # no newline', "web1.cfg:1:14: config parsing error near `#': lexical error"],
    ['kernel = "/boot/x" + "y"\n', "web1.cfg:1:20: config parsing error near `+': lexical error (the file looks like Python: xm-era Python configs are not supported by xl)"],
    ['a = "\\q"\n', 'web1.cfg:1:5: config parsing error near `"\\q"\': invalid character after backlash in quoted string'],
    ['a = [1,,2]\n', "web1.cfg:1:8: config parsing error near `,': syntax error, unexpected ',', expecting STRING or NUMBER or '[' or ']'"],
    ['a = "x"\na += [ 1 ]\n', `web1.cfg:2:6: config parsing error near \`[ 1 ]': can't add [list] to "string" or vice versa`],
    ['a = [1\n', "web1.cfg:2:1: config parsing error near <end of file>: syntax error, unexpected end of file, expecting ',' or ']'"],
    ['a = "\x1b[31m"x\n', "web1.cfg:1:12: config parsing error near `x': syntax error, unexpected IDENT, expecting NEWLINE or ';' or end of file"],
  ];
  for (const [text, want] of cases) {
    const r = parseXlConfig(text, 'web1.cfg');
    assert.ok(!r.ok, text);
    assert.equal(formatParseError(r.error), want);
  }
});

test('guest text in errors is escaped', () => {
  const r = parseXlConfig('a = \x1b[31mred\n', 'web1.cfg');
  assert.ok(!r.ok);
  assert.equal(formatParseError(r.error), "web1.cfg:1:5: config parsing error near `\\x1b[31mred': lexical error");
});

test('size, nesting and count limits give a clear error, not a crash', () => {
  const big = parseXlConfig(`a = "${'x'.repeat(1 << 20)}"\n`, 'big.cfg');
  assert.ok(!big.ok && /more than the 1048576 accepted/.test(big.error.message));
  const deep = parseXlConfig(`a = ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`, 'deep.cfg');
  assert.ok(!deep.ok && /nested deeper than 64/.test(deep.error.message));
  const many = parseXlConfig('a = 1\n'.repeat(10_001), 'many.cfg');
  assert.ok(!many.ok && /more than 10000 settings/.test(many.error.message));
  const values = parseXlConfig(`a = [${'1,'.repeat(100_001)}]\n`, 'values.cfg');
  assert.ok(!values.ok && /more than 100000 values/.test(values.error.message));
});

test('setSetting rewrites only the last statement of a key, keeping its spacing', () => {
  const c = setSetting(parse(WEB1), 'maxmem', { number: '4096' });
  assert.ok(c.ok);
  assert.equal(printXlConfig(c.config), WEB1.replace('maxmem=2048', 'maxmem=4096'));
  const plus = setSetting(parse('extra = "a"\nextra += " b"\n'), 'extra', 'c d');
  assert.ok(plus.ok);
  assert.equal(printXlConfig(plus.config), 'extra = "a"\nextra = "c d"\n');
});

test('setSetting adds a new key after an anchor, or at the end (adding a newline if needed)', () => {
  const a = setSetting(parse(WEB1), 'type', 'pvh', { after: ['builder', 'name'] });
  assert.ok(a.ok);
  assert.equal(printXlConfig(a.config), WEB1.replace('# xm era\n', '# xm era\ntype = "pvh"\n'));
  const b = setSetting(parse('a = 1'), 'vfb', ['vnc=1']);
  assert.ok(b.ok);
  assert.equal(printXlConfig(b.config), 'a = 1\nvfb = [ "vnc=1" ]\n');
  const c = setSetting(parse('a = 1; b = 2'), 'c', 'x', { after: ['a'] });
  assert.ok(c.ok);
  assert.equal(printXlConfig(c.config), 'a = 1; b = 2\nc = "x"');
});

test('removeSetting removes every statement of a key, with its line or its ;', () => {
  const r = removeSetting(parse(WEB1), 'builder');
  assert.ok(r.ok);
  assert.equal(printXlConfig(r.config), WEB1.replace('builder = "generic"   # xm era\n', ''));
  const semi = removeSetting(parse(WEB1), 'extra');
  assert.ok(semi.ok);
  assert.equal(printXlConfig(semi.config), WEB1.replace('extra = "console=hvc0"; ', ''));
  const second = removeSetting(parse(WEB1), 'root');
  assert.ok(second.ok);
  assert.equal(printXlConfig(second.config), WEB1.replace('; root = "/dev/xvda1 ro"', ';'));
  const twice = removeSetting(parse('vnc = 1\na = 2\nvnc = 0\n'), 'vnc');
  assert.ok(twice.ok);
  assert.equal(printXlConfig(twice.config), 'a = 2\n');
  const last = removeSetting(parse('a = 1\nvnc = 1'), 'vnc');
  assert.ok(last.ok);
  assert.equal(printXlConfig(last.config), 'a = 1\n');
});

test('an edit that would break the file or change another key is refused', () => {
  // A stray last character is dropped by xl; appending a line after it would make it an error.
  const r = setSetting(parse('a = 1 -'), 'b', 'x');
  assert.ok(!r.ok && /unreadable/.test(r.error));
  assert.ok(!setSetting(parse('a = 1\n'), 'B', 'x').ok);
  assert.ok(!setSetting(parse('a = 1\n'), 'b', 'nul\0').ok);
});

test('renderValue quotes and escapes strings so that xl reads them back unchanged', () => {
  const tricky = 'say "hi"\\ \t\n\r\x07\b\f\v é';
  const text = `a = ${renderValue(tricky)}\nb = ${renderValue([tricky, { number: '0x10' }, []])}\n`;
  const e = effectiveSettings(parse(text));
  assert.equal(e.get('a')!.value, tricky);
  assert.deepEqual(e.get('b')!.value, [tricky, '0x10', []]);
});
