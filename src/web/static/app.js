// @ts-check
/**
 * pvhctl's web UI: one page, hash routes, the REST API underneath. Operators get the fleet at a
 * glance, guests, hosts and the guest page; customers get their own servers only (the API enforces
 * that; the UI only shows what the API returns).
 */
import { api, ApiError, sse, token } from './api.js';
import { campaignPage } from './campaign.js';
import { donut, legend, stackedBar } from './charts.js';
import { canWords, h, modeName, nextWords, pill, replace, when } from './dom.js';
import { STEP } from './words.js';
import { drawMaintenance } from './maintenance.js';

const main = /** @type {HTMLElement} */ (document.getElementById('main'));
const nav = /** @type {HTMLElement} */ (document.getElementById('nav'));
const who = /** @type {HTMLElement} */ (document.getElementById('who'));

/** @type {{ role: 'operator' | 'customer', owner: string | null } | null} */
let me = null;
/** Timers and streams of the page on screen, stopped when the route changes. */
/** @type {(() => void)[]} */
let cleanups = [];

/** Journal steps in a customer's words: the SSH shell's (src/fleet/words.ts), served as /ui/words.js. */
/** @param {string} step */
const stepWords = (step) => (Object.hasOwn(STEP, step) ? STEP[step] : step);

/**
 * An operator's answer to a populate-on-demand refusal (src/xlcfg/rewrite.ts PodChoice), with the
 * guest's memory in MB for the words.
 * @typedef {{ pod: 'maxmem-equals-memory' | 'accept', memory: number }} PodAnswer
 */

/** @type {Record<string,string>} */
const STATUS = { done: 'Done', 'rolled-back': 'Rolled back', refused: 'Not started', 'needs-attention': 'Needs attention', running: 'Running', pending: 'Waiting' };

// ---------------------------------------------------------------- routing

async function route() {
  for (const c of cleanups) c();
  cleanups = [];
  if (token.get() === null) return loginPage();
  if (me === null) {
    try {
      me = await api('/v1/me');
    } catch (err) {
      token.clear();
      // The API says why (no such token, expired, revoked): show it after the plain refusal.
      return loginPage(err instanceof ApiError && err.status === 401 ? `That token was not accepted. ${err.message.charAt(0).toUpperCase()}${err.message.slice(1)}.` : String(err));
    }
  }
  renderChrome();
  const hash = location.hash.replace(/^#/, '') || '/';
  const guest = /^\/guest\/(\d{1,9})$/.exec(hash);
  try {
    if (guest) return await guestPage(Number(guest[1]));
    if (me?.role === 'operator') {
      if (hash === '/hosts') return await hostsPage();
      if (hash === '/campaign') return void cleanups.push(await campaignPage(main));
      if (hash === '/guests' || hash.startsWith('/guests?')) return await guestsPage(new URLSearchParams(hash.split('?')[1] ?? ''));
      return await dashboard();
    }
    return await customerHome();
  } catch (err) {
    replace(main, errorBox(err));
  }
}

function renderChrome() {
  const here = location.hash || '#/';
  const link = (/** @type {string} */ href, /** @type {string} */ text) => h('a', { href, class: here === href || (href !== '#/' && here.startsWith(href)) ? 'active' : null }, text);
  if (me?.role === 'operator') replace(nav, link('#/', 'Overview'), link('#/campaign', 'Campaign'), link('#/guests', 'Guests'), link('#/hosts', 'Hosts'));
  else replace(nav, link('#/', 'My servers'));
  replace(
    who,
    h('span', { class: 'role' }, me?.role === 'operator' ? 'Operator' : `Customer ${me?.owner ?? ''}`),
    h('button', { class: 'link', onclick: () => { token.clear(); me = null; location.hash = '#/'; route(); } }, 'Sign out'),
  );
}

/**
 * The start of a sentence saying whether the server runs, as pvhctl last saw it.
 * @param {string | null} state
 */
function runWords(state) {
  return state === 'running' ? 'Running, in' : state === 'stopped' ? 'Stopped; set up for' : 'Set up for';
}

/** @param {unknown} err */
function errorBox(err) {
  const msg = err instanceof ApiError ? (err.status === 404 ? 'Not found (or not yours).' : err.message) : String(err);
  return h('div', { class: 'card error', role: 'alert' }, h('b', {}, 'Something went wrong: '), msg);
}

/** @param {string} [message] */
function loginPage(message) {
  replace(nav);
  replace(who);
  const input = /** @type {HTMLInputElement} */ (h('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'off', placeholder: 'pvh_…', required: true }));
  const form = h(
    'form',
    {
      class: 'card login',
      onsubmit: (/** @type {Event} */ e) => {
        e.preventDefault();
        token.set(input.value.trim());
        me = null;
        route();
      },
    },
    h('h1', {}, 'Sign in to pvhctl'),
    h('p', { class: 'muted' }, 'Paste the API token you were given. Operators see the whole fleet; customers see their own servers.'),
    h('label', { for: 'token' }, 'Token'),
    input,
    message ? h('p', { class: 'error-text', role: 'alert' }, message) : null,
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
  );
  replace(main, form);
  input.focus();
}

// ---------------------------------------------------------------- operator: overview

/** @param {Record<string, number>} byType @param {number} attention */
function typeSegments(byType, attention = 0) {
  return [
    { label: 'PVH', value: byType.pvh ?? 0, cls: 'c-pvh' },
    { label: 'PVH (shim)', value: byType['pvh-shim'] ?? 0, cls: 'c-shim' },
    { label: 'PV', value: byType.pv ?? 0, cls: 'c-pv' },
    { label: 'HVM', value: byType.hvm ?? 0, cls: 'c-hvm' },
    ...(attention ? [{ label: 'Needs attention', value: attention, cls: 'c-att' }] : []),
  ];
}

async function dashboard() {
  const draw = async () => {
    const sum = await api('/v1/summary');
    const t = sum.totals;
    const moved = (t.byType.pvh ?? 0) + (t.byType['pvh-shim'] ?? 0);
    const pct = t.guests ? Math.round((moved / t.guests) * 100) : 0;
    const tile = (/** @type {string} */ label, /** @type {number} */ n, /** @type {string} */ cls, /** @type {string} */ href) => h('a', { class: `tile ${cls}`, href }, h('span', { class: 'n' }, n.toLocaleString('en')), h('span', {}, label));
    const tiles = h(
      'section',
      { class: 'tiles' },
      tile('guests', t.guests, '', '#/guests'),
      tile('still PV', t.byType.pv ?? 0, 't-pv', '#/guests?type=pv'),
      tile('on PVH', t.byType.pvh ?? 0, 't-pvh', '#/guests?type=pvh'),
      tile('on PVH shim', t.byType['pvh-shim'] ?? 0, 't-pvh-shim', '#/guests?type=pvh-shim'),
      tile('switching now', t.switching, 't-run', '#/guests?health=switching'),
      tile('need attention', t.attention, t.attention ? 't-att' : '', '#/guests?health=needs-attention'),
    );
    const segs = typeSegments(t.byType);
    const progress = h('section', { class: 'card' }, h('h2', {}, 'Migration progress'), h('div', { class: 'donut-wrap' }, donut(segs, `${pct}%`, 'off PV'), legend(segs)));
    replace(main, h('h1', {}, 'Fleet overview'), tiles, h('div', { class: 'grid2' }, progress, matrixCard(sum.matrix)), hostsProgressCard(sum.hosts), h('div', { class: 'grid2' }, attentionCard(sum), guests32Card(sum.guests32)), runningCard(sum.running));
  };
  await draw();
  const timer = setInterval(() => draw().catch(() => {}), 5000);
  cleanups.push(() => clearInterval(timer));
}

/** @param {{ type: string, arch: string, verdict: string, n: number }[]} matrix */
function matrixCard(matrix) {
  const verdicts = ['pvh', 'pvh-shim', 'none', 'unknown'];
  const rows = [...new Set(matrix.map((m) => `${m.type}|${m.arch}`))];
  const max = Math.max(1, ...matrix.map((m) => m.n));
  const cell = (/** @type {string} */ row, /** @type {string} */ v) => {
    const [type, arch] = row.split('|');
    const m = matrix.find((x) => x.type === type && x.arch === arch && x.verdict === v);
    const td = h('td', { class: `heat v-${v}`, title: m ? `${m.n} ${modeName(type ?? '')} ${arch} guests: ${canWords(v)}` : '' }, m ? m.n.toLocaleString('en') : '·');
    const a = m ? 0.15 + 0.85 * (m.n / max) : 0;
    if (m) td.style.setProperty('--a', String(a));
    if (a > 0.55) td.classList.add('dark');
    return td;
  };
  return h(
    'section',
    { class: 'card' },
    h('h2', {}, 'Guests by type × architecture × what they can become'),
    h(
      'table',
      { class: 'matrix' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Now'), h('th', {}, 'Arch'), verdicts.map((v) => h('th', { title: canWords(v) }, v === 'none' ? 'neither' : modeName(v))))),
      h('tbody', {}, rows.map((r) => h('tr', {}, h('td', {}, pill(r.split('|')[0] ?? '')), h('td', { class: 'mono' }, r.split('|')[1] ?? ''), verdicts.map((v) => cell(r, v))))),
    ),
    h('p', { class: 'muted small' }, 'Columns: what the last inspection says each guest can become. Darker cells hold more guests.'),
  );
}

const HOSTS_SHOWN = 25;
/** @param {any[]} hosts */
function hostsProgressCard(hosts) {
  const sorted = [...hosts].sort((a, b) => b.attention - a.attention || b.byType.pv / (b.total || 1) - a.byType.pv / (a.total || 1) || a.name.localeCompare(b.name));
  const max = Math.max(1, ...hosts.map((x) => x.total));
  const rows = sorted.slice(0, HOSTS_SHOWN).map((x) =>
    h(
      'tr',
      {},
      h('td', { class: 'mono' }, x.name),
      h('td', { class: 'barcell' }, stackedBar(typeSegments(x.byType), max)),
      h('td', { class: 'num' }, `${x.total ? Math.round(((x.byType.pvh + x.byType['pvh-shim']) / x.total) * 100) : 0}%`),
      h('td', {}, x.switching ? h('span', { class: 'badge run' }, `${x.switching} switching`) : null, x.attention ? h('span', { class: 'badge att' }, `${x.attention} attention`) : null, !x.hvm ? h('span', { class: 'badge warn', title: 'no hvm in virt_caps' }, 'no PVH') : null),
    ),
  );
  return h(
    'section',
    { class: 'card' },
    h('h2', {}, 'Progress per host', hosts.length > HOSTS_SHOWN ? h('span', { class: 'muted small' }, ` — the ${HOSTS_SHOWN} furthest behind of ${hosts.length}`) : null),
    legend(typeSegments(Object.fromEntries(['pv', 'pvh', 'pvh-shim', 'hvm'].map((t) => [t, hosts.reduce((a, y) => a + (y.byType[t] ?? 0), 0)])))),
    h('table', { class: 'hosts-progress' }, h('tbody', {}, rows)),
  );
}

/** @type {Record<string,string>} */
const PATH = { done: 'done', pvh: 'PVH', 'pvh-shim': 'PVH shim', blocked: 'blocked', unknown: 'not inspected' };
/** @param {any[]} list */
function guests32Card(list) {
  return h(
    'section',
    { class: 'card' },
    h('h2', {}, '32-bit guests and their path'),
    list.length === 0
      ? h('p', { class: 'muted' }, 'No 32-bit guests.')
      : h(
          'table',
          { class: 'list' },
          h('thead', {}, h('tr', {}, h('th', {}, 'Guest'), h('th', {}, 'Host'), h('th', {}, 'Arch'), h('th', {}, 'Now'), h('th', {}, 'Path'))),
          h('tbody', {}, list.map((g) => h('tr', {}, h('td', {}, h('a', { href: `#/guest/${g.id}` }, g.name)), h('td', { class: 'mono' }, g.host), h('td', { class: 'mono' }, g.arch), h('td', {}, pill(g.type)), h('td', { title: g.why }, h('span', { class: `path p-${g.path}` }, PATH[g.path] ?? g.path), ' ', h('span', { class: 'muted small' }, g.why))))),
        ),
  );
}

/** @param {any} sum */
function attentionCard(sum) {
  const items = [
    ...sum.attention.map((/** @type {any} */ a) => h('li', { class: 'att' }, h('a', { href: `#/guest/${a.id}` }, a.name), h('span', { class: 'muted' }, ` on ${a.host} — `), a.reason)),
    ...sum.failures.filter((/** @type {any} */ f) => !sum.attention.some((/** @type {any} */ a) => a.id === f.guestId)).slice(0, 10).map((/** @type {any} */ f) => h('li', { class: 'rb' }, h('a', { href: `#/guest/${f.guestId}` }, f.guest), h('span', { class: 'muted' }, ` → ${modeName(f.to)}, ${STATUS[f.status] ?? f.status} ${when(f.at)} — `), f.reason)),
  ];
  return h('section', { class: `card ${sum.attention.length ? 'alert' : ''}` }, h('h2', {}, 'Needs attention and recent failed switches'), items.length ? h('ul', { class: 'events' }, items) : h('p', { class: 'muted' }, 'Nothing needs attention.'));
}

/** @param {any[]} running */
function runningCard(running) {
  if (running.length === 0) return null;
  return h('section', { class: 'card' }, h('h2', {}, `Switching now (${running.length})`), h('ul', { class: 'events' }, running.slice(0, 50).map((r) => h('li', {}, h('a', { href: `#/guest/${r.guestId}` }, r.guest), h('span', { class: 'muted' }, ` on ${r.host} → ${modeName(r.to)}: `), stepWords(r.step)))));
}

// ---------------------------------------------------------------- operator: guests and hosts

/** @param {URLSearchParams} q */
async function guestsPage(q) {
  replace(main, h('h1', {}, 'Guests'), h('p', { class: 'muted' }, 'Loading the guest list…'));
  const guests = await api('/v1/guests?limit=10000');
  const filter = /** @type {HTMLInputElement} */ (h('input', { type: 'search', placeholder: 'Filter by guest, host or owner', value: q.get('q') ?? '', 'aria-label': 'filter' }));
  const type = /** @type {HTMLSelectElement} */ (h('select', { 'aria-label': 'type' }, h('option', { value: '' }, 'any type'), ['pv', 'pvh', 'pvh-shim', 'hvm'].map((t) => h('option', { value: t, selected: q.get('type') === t }, modeName(t)))));
  const health = /** @type {HTMLSelectElement} */ (h('select', { 'aria-label': 'health' }, h('option', { value: '' }, 'any health'), ['ok', 'switching', 'needs-attention'].map((t) => h('option', { value: t, selected: q.get('health') === t }, t))));
  const body = h('tbody');
  const count = h('span', { class: 'muted' });
  const draw = () => {
    const f = filter.value.toLowerCase();
    const rows = guests.filter((/** @type {any} */ g) => (!f || `${g.name} ${g.host} ${g.owner}`.toLowerCase().includes(f)) && (!type.value || g.type === type.value) && (!health.value || g.health === health.value));
    replace(count, `${rows.length.toLocaleString('en')} of ${guests.length.toLocaleString('en')}${rows.length > 500 ? ' (the first 500 shown; filter to narrow)' : ''}`);
    replace(
      body,
      rows.slice(0, 500).map((/** @type {any} */ g) =>
        h('tr', {}, h('td', {}, h('a', { href: `#/guest/${g.id}` }, g.name)), h('td', { class: 'mono' }, g.host ?? ''), h('td', {}, g.owner ?? '—'), h('td', {}, pill(g.type)), h('td', { class: 'mono' }, g.arch ?? '?'), h('td', {}, h('span', { class: `can v-${g.canBecome}` }, g.canBecome)), h('td', { class: 'state', title: g.runStateAt ? `as of ${when(g.runStateAt)}` : 'not seen yet' }, g.runState ?? '?'), h('td', {}, g.health === 'ok' ? '' : h('span', { class: `badge ${g.health === 'switching' ? 'run' : 'att'}` }, g.health))),
      ),
    );
  };
  for (const el of [filter, type, health]) el.addEventListener('input', draw);
  replace(main, h('h1', {}, 'Guests'), h('div', { class: 'toolbar' }, filter, type, health, count), h('section', { class: 'card' }, h('table', { class: 'list' }, h('thead', {}, h('tr', {}, ['Guest', 'Host', 'Owner', 'Now', 'Arch', 'Can become', 'State', 'Health'].map((x) => h('th', {}, x)))), body)));
  draw();
}

async function hostsPage() {
  const [hosts, sum] = await Promise.all([api('/v1/hosts'), api('/v1/summary')]);
  const prog = new Map(sum.hosts.map((/** @type {any} */ x) => [x.name, x]));
  const chips = (/** @type {string | null} */ caps, /** @type {string[]} */ important) => h('span', { class: 'chips' }, (caps ?? '').split(/\s+/).filter(Boolean).map((c) => h('span', { class: `chip ${important.includes(c) ? 'key' : ''}` }, c)));
  const max = Math.max(1, ...sum.hosts.map((/** @type {any} */ x) => x.total));
  replace(
    main,
    h('h1', {}, 'Hosts and their capabilities'),
    h(
      'section',
      { class: 'card' },
      h(
        'table',
        { class: 'list hosts' },
        h('thead', {}, h('tr', {}, ['Host', 'Reached by', 'Role', 'Xen', 'xen_caps', 'virt_caps', 'PVH', '32-bit PV', 'Parallel', 'Guests', ''].map((x) => h('th', {}, x)))),
        h(
          'tbody',
          {},
          hosts.map((/** @type {any} */ x) => {
            const p = /** @type {any} */ (prog.get(x.name));
            return h(
              'tr',
              {},
              h('td', { class: 'mono' }, x.name),
              h('td', {}, x.transport),
              h('td', {}, x.role),
              h('td', { class: 'mono' }, x.xen_version ?? '—'),
              h('td', {}, chips(x.xen_caps, ['xen-3.0-x86_32p', 'hvm-3.0-x86_64'])),
              h('td', {}, chips(x.virt_caps, ['hvm'])),
              h('td', {}, p?.hvm ? h('span', { class: 'yes' }, 'yes') : h('span', { class: 'no' }, 'no')),
              h('td', {}, p?.pv32 ? h('span', { class: 'yes' }, 'yes') : h('span', { class: 'no' }, 'off')),
              h('td', { class: 'num' }, String(x.max_parallel)),
              h('td', { class: 'barcell' }, p ? stackedBar(typeSegments(p.byType), max) : null, p ? h('span', { class: 'small muted' }, ` ${p.total}`) : null),
              h('td', {}, scanButton(x.name)),
            );
          }),
        ),
      ),
    ),
  );
}

/** Re-reads a host's capabilities, domains and configs, and re-inspects its guests. */
function scanButton(/** @type {string} */ name) {
  const out = h('span', { class: 'small muted' });
  const button = /** @type {HTMLButtonElement} */ (h('button', { 'data-scan': name }, 'Scan'));
  button.addEventListener('click', async () => {
    button.disabled = true;
    replace(out, ' scanning…');
    try {
      const r = await api(`/v1/hosts/${encodeURIComponent(name)}/scan`, { method: 'POST' });
      replace(out, ` ${r.guests} guests, ${r.added} new${r.errors.length ? `, ${r.errors.length} errors` : ''}`);
    } catch (err) {
      replace(out, ` ${err instanceof Error ? err.message : String(err)}`);
    }
    button.disabled = false;
  });
  return h('span', { class: 'nowrap' }, button, out);
}

// ---------------------------------------------------------------- customer home

async function customerHome() {
  const guests = await api('/v1/guests');
  replace(
    main,
    h('h1', {}, 'My servers'),
    guests.length === 0
      ? h('p', { class: 'card muted' }, 'You have no servers here.')
      : h(
          'div',
          { class: 'servers' },
          guests.map((/** @type {any} */ g) =>
            h(
              'a',
              { class: 'card server', href: `#/guest/${g.id}`, 'data-guest': g.name },
              h('div', { class: 'server-head' }, h('h2', {}, g.name), pill(g.type)),
              h('p', { class: 'muted' }, `${runWords(g.runState)} ${modeName(g.type)} mode.`),
              h('p', {}, g.type === 'pv' ? canWords(g.canBecome) : 'Switched. "Undo" on its page puts the old settings back.'),
              g.health === 'needs-attention' ? h('p', { class: 'error-text' }, g.attention ?? 'Needs attention') : g.health === 'switching' ? h('p', { class: 'badge run' }, 'A change is in progress') : null,
              h('span', { class: 'more' }, 'Open →'),
            ),
          ),
        ),
  );
}

// ---------------------------------------------------------------- the guest page

/** @param {number} id */
async function guestPage(id) {
  const [g, ops] = await Promise.all([api(`/v1/guests/${id}`), api(`/v1/guests/${id}/operations`)]);
  const operator = me?.role === 'operator';
  const v = g.verdict;
  const progressBox = h('div', { class: 'progress', 'aria-live': 'polite' });
  const preview = h('div', { class: 'preview' });
  let busy = g.health === 'switching';

  const yesno = (/** @type {boolean} */ b) => h('span', { class: b ? 'yes' : 'no' }, b ? 'yes' : 'no');
  const inspection = h(
    'section',
    { class: 'card' },
    h('h2', {}, operator ? 'Inspection report' : 'What this server can run as'),
    v
      ? h(
          'dl',
          { class: 'facts' },
          h('dt', {}, 'PV'),
          h('dd', {}, yesno(v.pv.capable), operator && v.pv.abi ? h('span', { class: 'mono small' }, ` ${v.pv.abi}`) : null, operator ? h('div', { class: 'muted small' }, v.pv.reason) : null),
          h('dt', {}, 'PVH'),
          h('dd', {}, yesno(v.pvh.capable), operator ? h('div', { class: 'muted small' }, v.pvh.reason) : null),
          h('dt', {}, 'Kernel'),
          h('dd', { class: 'mono' }, v.kernelVersion ?? 'not identified'),
          h('dt', {}, 'Architecture'),
          h('dd', { class: 'mono' }, v.arch ?? g.arch ?? '?'),
          operator ? h('dt', {}, 'Source') : null,
          operator ? h('dd', {}, v.source) : null,
          h('dt', {}, 'Inspected'),
          h('dd', {}, when(g.verdictAt)),
        )
      : h('p', { class: 'muted' }, 'Not inspected yet.'),
    h('p', { class: 'verdict' }, canWords(g.canBecome)),
    g.type !== 'pvh' && g.next ? h('p', { class: 'verdict next' }, nextWords(g.next)) : null,
  );

  /**
   * memory < maxmem would make the guest populate-on-demand (refusal code 'pod'): the operator's
   * two ways on, each checked again before anything is switched. Customers get the words only.
   */
  const podChoices = (/** @type {string} */ to, /** @type {number} */ memory) =>
    h(
      'p',
      { class: 'choices' },
      h('button', { 'data-action': 'pod-maxmem-equals-memory', onclick: () => previewFor(to, { pod: 'maxmem-equals-memory', memory }) }, `Set maxmem to memory (${memory} MB) and check again`),
      ' ',
      h('button', { 'data-action': 'pod-accept', onclick: () => previewFor(to, { pod: 'accept', memory }) }, 'Accept populate-on-demand and check again'),
    );

  /** @param {string} to @param {PodAnswer | null} [answer] the operator's PoD choice, for this check and its switch */
  const previewFor = async (to, answer = null) => {
    replace(preview, h('p', { class: 'muted' }, 'Checking…'));
    const body = answer === null ? { to } : { to, pod: answer.pod };
    try {
      const r = await api(`/v1/guests/${id}/check`, { method: 'POST', body });
      if (!r.allowed) {
        replace(preview, h('div', { class: 'refusal', role: 'status' }, h('b', {}, `${modeName(to)}: not possible. `), r.reason, operator && r.code === 'pod' ? podChoices(to, r.params.memory) : null));
        return;
      }
      const choice = answer === null ? '' : answer.pod === 'accept' ? ', as a populate-on-demand guest' : `, with maxmem set to memory (${answer.memory} MB)`;
      // The switch restarts the server: it is asked for once more, with the downtime to expect.
      const confirmBox = h('div', { class: 'confirm', role: 'alertdialog', hidden: '' },
        h('p', {}, h('b', {}, `Restart ${g.name} in ${modeName(to)} mode now${choice}?`), ` It will be down for ${r.downtime.words}.`),
        h('button', { class: 'primary', 'data-action': 'confirm-switch', onclick: () => start(`/v1/guests/${id}/switch`, body) }, `Yes, restart it in ${modeName(to)} mode`),
        ' ',
        h('button', { class: 'link', 'data-action': 'cancel-switch', onclick: () => confirmBox.setAttribute('hidden', '') }, 'Cancel'),
      );
      replace(
        preview,
        h('div', { class: 'ok-box' }, h('b', {}, `${modeName(to)}: possible${choice}.`), ' What will change:', h('ul', {}, r.changes.map((/** @type {string} */ c) => h('li', { class: operator ? 'mono' : null }, c)))),
        h('p', { class: 'downtime' }, `Expected downtime: ${r.downtime.words}.`),
        r.diff !== null ? h('details', { open: operator }, h('summary', {}, 'Settings file diff'), diffView(r.diff)) : null,
        h('button', { class: 'primary', 'data-action': `switch-${to}`, onclick: () => confirmBox.removeAttribute('hidden') }, `Switch to ${modeName(to)}`),
        confirmBox,
      );
    } catch (err) {
      replace(preview, errorBox(err));
    }
  };

  /** Starts a switch or rollback and follows its progress live. */
  const start = async (/** @type {string} */ path, /** @type {unknown} */ body) => {
    replace(preview);
    for (const b of buttons.querySelectorAll('button')) b.setAttribute('disabled', '');
    try {
      const op = await api(path, { method: 'POST', body });
      await follow(op.id, op.kind);
    } catch (err) {
      replace(progressBox, errorBox(err));
    }
  };

  const follow = async (/** @type {number} */ opId, /** @type {string} */ kind) => {
    const steps = h('ol', { class: 'steps' });
    const status = h('p', { class: 'status running' }, kind === 'rollback' ? 'Rolling back…' : kind === 'switch' ? 'Switching…' : 'Working…');
    replace(progressBox, h('h3', {}, `Operation ${opId}`), steps, status);
    /** @type {Map<string, HTMLElement>} */
    const seen = new Map();
    const ctl = new AbortController();
    cleanups.push(() => ctl.abort());
    await sse(
      `/v1/operations/${opId}/events`,
      (event, data) => {
        if (event === 'step') {
          let li = seen.get(data.step);
          if (!li) {
            li = h('li', { 'data-step': data.step }, stepWords(data.step), operator && data.detail ? h('span', { class: 'mono small muted' }, ` ${data.detail}`) : null);
            seen.set(data.step, li);
            steps.append(li);
          }
          li.className = data.phase;
        } else if (event === 'end') {
          status.className = `status s-${data.status}`;
          status.setAttribute('data-status', data.status);
          replace(status, h('b', {}, `${STATUS[data.status] ?? data.status}. `), data.reason ?? '');
          for (const li of seen.values()) if (li.className === 'begin') li.className = 'failed';
          setTimeout(() => { if (location.hash === `#/guest/${id}`) refresh(); }, 1500);
        }
      },
      ctl.signal,
    ).catch(() => {});
  };

  const refresh = async () => {
    const [g2, ops2] = await Promise.all([api(`/v1/guests/${id}`), api(`/v1/guests/${id}/operations`)]);
    replace(modeNow, pill(g2.type));
    replace(history, historyList(ops2, operator));
    busy = g2.health === 'switching';
    drawButtons(g2.type, ops2);
  };

  const modeNow = h('span', {}, pill(g.type));
  const history = h('div', {}, historyList(ops, operator));
  const buttons = h('div', { class: 'buttons' });
  /** The checks for the modes the guest is not in, and undo when there is a switch to undo. */
  const drawButtons = (/** @type {string} */ type, /** @type {any[]} */ operations) => {
    const lastSwitch = operations.find((o) => o.kind === 'switch' && (o.status === 'done' || o.status === 'needs-attention'));
    replace(
      buttons,
      ['pvh', 'pvh-shim', 'pv'].filter((t) => t !== type).map((t) => h('button', { 'data-action': `check-${t}`, disabled: busy, onclick: () => previewFor(t) }, `Check ${modeName(t)}`)),
      lastSwitch ? h('button', { class: 'danger', 'data-action': 'rollback', disabled: busy, onclick: () => start(`/v1/guests/${id}/rollback`, undefined) }, 'Undo last switch') : null,
    );
  };
  drawButtons(g.type, ops);
  const actions = h(
    'section',
    { class: 'card' },
    h('h2', {}, 'Change mode'),
    busy ? h('p', { class: 'badge run' }, 'A change is in progress.') : null,
    buttons,
    h('p', { class: 'muted small' }, 'A switch shuts the server down cleanly, changes its settings, starts it and checks it came up. If it does not, the old settings are put back and it is started as before.'),
    preview,
    progressBox,
  );

  const testBoot = h('section', { class: 'card rehearsals' });
  /** Draws the test boots (rehearsals) of the guest, newest per kernel, and the button that starts one. */
  const drawTestBoots = (/** @type {any[]} */ list) => {
    const running = list.some((r) => r.status === 'running');
    replace(
      testBoot,
      h('h2', {}, 'Test boot in PVH mode'),
      h('p', { class: 'muted small' }, 'A test boot starts a copy of this server in PVH mode from a snapshot of its disk, while the server itself keeps running untouched, then removes the copy.'),
      list.length === 0 ? h('p', { class: 'muted', 'data-rehearsal': 'none' }, 'Not test-booted yet.') : null,
      ...list.map((r) =>
        h(
          'div',
          { class: r.status === 'passed' ? 'ok-box' : r.status === 'running' ? 'progress' : 'refusal', 'data-rehearsal': r.status },
          h('p', { class: 'rehearsal-message' }, r.message),
          operator
            ? h(
                'dl',
                { class: 'facts small' },
                h('dt', {}, 'Outcome'), h('dd', { class: 'mono' }, `${r.status}${r.status === 'passed' ? '' : ` at ${r.step}`}${r.rule ? ` (${r.rule})` : ''}`),
                h('dt', {}, 'Kernel'), h('dd', { class: 'mono' }, r.kernel),
                h('dt', {}, 'Mode'), h('dd', {}, modeName(r.to)),
                h('dt', {}, 'When'), h('dd', {}, when(r.at)),
                r.detail ? h('dt', {}, 'Detail') : null, r.detail ? h('dd', { class: 'mono small' }, r.detail) : null,
              )
            : null,
          // The console's last lines are the guest's own text: h() puts them in as text, never markup.
          operator && r.consoleTail ? h('details', {}, h('summary', {}, 'Console, last lines'), h('pre', { class: 'diff console' }, r.consoleTail)) : null,
        ),
      ),
      h('button', { 'data-action': 'rehearse', disabled: running || busy, onclick: startTestBoot }, running ? 'Test boot running…' : 'Test-boot in PVH mode'),
    );
  };
  const startTestBoot = async () => {
    try {
      await api(`/v1/guests/${id}/rehearse`, { method: 'POST', body: {} });
    } catch (err) {
      testBoot.append(errorBox(err));
      return;
    }
    // The result lands in the guest's record: read it again until the test boot has ended.
    for (;;) {
      const g2 = await api(`/v1/guests/${id}`);
      drawTestBoots(g2.rehearsals ?? []);
      if (!(g2.rehearsals ?? []).some((/** @type {any} */ r) => r.status === 'running') || location.hash !== `#/guest/${id}`) return;
      await new Promise((res) => setTimeout(res, 1500));
    }
  };
  drawTestBoots(g.rehearsals ?? []);
  // The guest's maintenance slot in a campaign and the customer's choices (src/web/static/maintenance.js).
  const maintenance = h('div', {});
  void drawMaintenance(id, maintenance, () => void route());

  replace(
    main,
    h('p', { class: 'crumbs' }, h('a', { href: operator ? '#/guests' : '#/' }, operator ? 'Guests' : 'My servers'), ' / ', g.name),
    h('div', { class: 'guest-head' }, h('h1', {}, g.name), modeNow, g.health !== 'ok' ? h('span', { class: `badge ${g.health === 'switching' ? 'run' : 'att'}` }, g.health) : null, h('span', { class: 'run-state', title: g.runStateAt ? `as of ${when(g.runStateAt)}` : '' }, g.runState ?? 'state unknown'), h('span', { class: 'muted' }, `on ${g.host ?? '?'}`, operator && g.owner ? ` · owner ${g.owner}` : '')),
    g.attention ? h('div', { class: 'card error', role: 'alert' }, g.attention) : null,
    h('div', { class: 'grid2' }, inspection, actions),
    maintenance,
    testBoot,
    h('section', { class: 'card' }, h('h2', {}, 'History'), history),
  );
  const running = ops.find((/** @type {any} */ o) => o.status === 'running' || o.status === 'pending');
  if (running) follow(running.id, running.kind);
}

/** @param {string} diff */
function diffView(diff) {
  return h('pre', { class: 'diff' }, diff.split('\n').map((line) => h('span', { class: line.startsWith('+++') || line.startsWith('---') ? 'd-file' : line.startsWith('+') ? 'd-add' : line.startsWith('-') ? 'd-del' : line.startsWith('@@') ? 'd-hunk' : '' }, `${line}\n`)));
}

/** @param {any[]} ops @param {boolean} operator */
function historyList(ops, operator) {
  if (ops.length === 0) return h('p', { class: 'muted' }, 'No changes yet.');
  return h(
    'table',
    { class: 'list' },
    h('thead', {}, h('tr', {}, ['When', 'What', 'Outcome', ''].map((x) => h('th', {}, x)))),
    h(
      'tbody',
      {},
      ops.map((o) => {
        const detail = h('td', { colspan: 4, class: 'journal' });
        const row = h('tr', { class: 'hidden' }, detail);
        const toggle = async () => {
          if (row.classList.toggle('hidden')) return;
          const full = await api(`/v1/operations/${o.id}`);
          replace(detail, h('ol', { class: 'steps small' }, full.journal.map((/** @type {any} */ j) => h('li', { class: j.phase }, `${when(j.at)} · ${stepWords(j.step)} · ${j.phase}`, operator && j.detail ? h('span', { class: 'mono muted' }, ` ${j.detail}`) : null))));
        };
        return [
          h('tr', {}, h('td', {}, when(o.created_at)), h('td', {}, o.kind === 'switch' ? `${modeName(o.from_type)} → ${modeName(o.to_type)}` : o.kind === 'rollback' ? `undo (back to ${modeName(o.from_type)})` : o.kind), h('td', {}, h('span', { class: `st s-${o.status}` }, STATUS[o.status] ?? o.status), ' ', h('span', { class: 'muted small' }, o.reason ?? '')), h('td', {}, h('button', { class: 'link', onclick: toggle }, 'steps'))),
          row,
        ];
      }),
    ),
  );
}

window.addEventListener('hashchange', route);
route();
