/**
 * What contains an inspection child, as values: who it runs as, its limits, the command line that
 * applies them (util-linux prlimit, then setpriv), and the check the child makes of itself before
 * it reads a byte of guest data (its /proc/self/status and /proc/self/limits), so that a
 * containment that did not take effect stops the inspection instead of passing unnoticed.
 */

/** The descriptor the child reads its job from; the disks its parent opened for it follow. */
export const JOB_FD = 5;
export const FIRST_PASSED_FD = 6;

/**
 * Who the child runs as. `dropped`: pvhctl is root, the child gets another uid and gid, no
 * supplementary groups and no capabilities at all. `unchanged`: pvhctl is not root, so it cannot
 * change user; the child keeps pvhctl's uid, with no-new-privs, no inheritable or ambient
 * capabilities, the limits, a clean environment and its disks passed in, as in the other case.
 */
export type ChildUser = { kind: 'dropped'; uid: number; gid: number } | { kind: 'unchanged'; uid: number };

export type Containment = { user: ChildUser; addressSpaceBytes: number; cpuSeconds: number };

/**
 * The user the children of a process with effective uid `euid` run as: $PVHCTL_INSPECT_USER
 * (`USER[:GROUP]`, names or numbers), else nobody:nogroup. An error (a string) for a spec naming
 * no such user, or root.
 * @example
 * childUser(undefined, passwd, group, 0) // => { kind: 'dropped', uid: 65534, gid: 65534 }
 * childUser('pvhinspect', passwd, group, 0) // => { kind: 'dropped', uid: 998, gid: 998 } (that user's own group)
 * childUser(undefined, passwd, group, 1000) // => { kind: 'unchanged', uid: 1000 }
 */
export function childUser(spec: string | undefined, passwd: string, group: string, euid: number): ChildUser | string {
  if (euid !== 0) return { kind: 'unchanged', uid: euid };
  const [userPart, groupPart] = (spec === undefined || spec === '' ? 'nobody:nogroup' : spec).split(':', 2) as [string, string | undefined];
  const entry = (text: string, name: string) => text.split('\n').map((l) => l.split(':')).find((f) => f[0] === name && f.length >= 3);
  const user = /^\d+$/.test(userPart) ? { id: Number(userPart), gid: null } : (() => {
    const f = entry(passwd, userPart);
    return f === undefined ? null : { id: Number(f[2]), gid: Number(f[3]) };
  })();
  if (user === null || !Number.isSafeInteger(user.id)) return `PVHCTL_INSPECT_USER: no user ${JSON.stringify(userPart)}`;
  let gid: number | null;
  if (groupPart === undefined || groupPart === '') gid = user.gid;
  else if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
  else {
    const f = entry(group, groupPart);
    // nogroup is Debian's; elsewhere nobody's own group stands in for it.
    gid = f !== undefined ? Number(f[2]) : spec === undefined || spec === '' ? user.gid : null;
  }
  if (gid === null || !Number.isSafeInteger(gid)) return `PVHCTL_INSPECT_USER: no group ${JSON.stringify(groupPart ?? '')}`;
  if (user.id === 0 || gid === 0) return 'PVHCTL_INSPECT_USER: inspection children must not run as root (uid or gid 0)';
  return { kind: 'dropped', uid: user.id, gid };
}

/**
 * The command that runs `command` contained: prlimit sets the hard limits (setpriv sets none),
 * then setpriv drops the user, groups and capabilities, sets no-new-privs and asks for SIGKILL
 * when the parent dies, and executes the command. The CPU limit's soft step (SIGXCPU) comes a
 * second before the hard one, so that the cause can be named.
 * @example
 * containedArgv({ prlimit: '/usr/bin/prlimit', setpriv: '/usr/bin/setpriv' }, { user: { kind: 'dropped', uid: 65534, gid: 65534 }, addressSpaceBytes: 2 ** 31, cpuSeconds: 120 }, ['node', 'x'])
 * // => ['/usr/bin/prlimit', '--as=2147483648', '--cpu=120:121', '/usr/bin/setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--bounding-set=-all', '--inh-caps=-all', '--ambient-caps=-all', '--no-new-privs', '--pdeathsig=KILL', '--', 'node', 'x']
 */
export function containedArgv(tools: { prlimit: string; setpriv: string }, c: Containment, command: string[]): string[] {
  const drop = c.user.kind === 'dropped' ? [`--reuid=${c.user.uid}`, `--regid=${c.user.gid}`, '--clear-groups', '--bounding-set=-all'] : [];
  return [
    tools.prlimit,
    `--as=${c.addressSpaceBytes}`,
    `--cpu=${c.cpuSeconds}:${c.cpuSeconds + 1}`,
    tools.setpriv,
    ...drop,
    '--inh-caps=-all',
    '--ambient-caps=-all',
    '--no-new-privs',
    '--pdeathsig=KILL',
    '--',
    ...command,
  ];
}

/**
 * What of the containment is not in force, from the child's /proc/self/status and
 * /proc/self/limits (empty when all is).
 * @example
 * containmentProblems(status, limits, c) // => [] or ['NoNewPrivs is 0, not 1', 'Max cpu time is unlimited, not 120']
 */
export function containmentProblems(status: string, limits: string, c: Containment): string[] {
  const field = (name: string) => new RegExp(`^${name}:[ \\t]*(.*)$`, 'm').exec(status)?.[1]?.trim() ?? '(missing)';
  const problems: string[] = [];
  const want = (name: string, ok: (v: string) => boolean, expected: string) => {
    const v = field(name);
    if (!ok(v)) problems.push(`${name} is ${v}, not ${expected}`);
  };
  const zeroCaps = (v: string) => /^0+$/.test(v);
  want('NoNewPrivs', (v) => v === '1', '1');
  want('CapInh', zeroCaps, '0');
  want('CapAmb', zeroCaps, '0');
  if (c.user.kind === 'dropped') {
    const { uid, gid } = c.user;
    want('Uid', (v) => v.split(/\s+/).every((x) => x === String(uid)), `${uid} (real, effective, saved and filesystem)`);
    want('Gid', (v) => v.split(/\s+/).every((x) => x === String(gid)), `${gid} (real, effective, saved and filesystem)`);
    want('Groups', (v) => v === '', 'empty');
    for (const set of ['CapPrm', 'CapEff', 'CapBnd']) want(set, zeroCaps, '0');
  }
  const limit = (name: string, soft: number, hard: number) => {
    const m = new RegExp(`^${name}\\s+(\\S+)\\s+(\\S+)`, 'm').exec(limits);
    if (m === null) problems.push(`${name} is not listed`);
    else if (m[1] !== String(soft) || m[2] !== String(hard)) problems.push(`${name} is ${m[1]}/${m[2]}, not ${soft}/${hard}`);
  };
  limit('Max address space', c.addressSpaceBytes, c.addressSpaceBytes);
  limit('Max cpu time', c.cpuSeconds, c.cpuSeconds + 1);
  return problems;
}
