// @ts-check
/**
 * The operators' campaign page: each campaign's progress (state, pause reason, wave, guests by
 * where they are, next slot, held guests and why), PV guests left per week, switches per week,
 * each host's progress and Xen-upgrade readiness, the plan's waves, and the failures needing attention; all from
 * GET /v1/campaign/overview. Guest names and words go in as text (dom.js h), never as HTML.
 */
import { api } from './api.js';
import { columns, legend, lineChart, stackedBar } from './charts.js';
import { h, modeName, replace, when } from './dom.js';

/** @param {string} week YYYY-MM-DD */
const short = (week) => week.slice(5);

/** A chart's figures as a table, for those who would rather read them. @param {string[]} head @param {(string|number)[][]} rows */
const asTable = (head, rows) =>
  h('details', { class: 'as-table' }, h('summary', {}, 'As a table'), h('table', { class: 'list' }, h('thead', {}, h('tr', {}, head.map((x) => h('th', {}, x)))), h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => h('td', { class: typeof c === 'number' ? 'num' : null }, typeof c === 'number' ? c.toLocaleString('en') : c)))))));

/** @param {any} o */
function tiles(o) {
  const t = o.totals;
  const r = o.readiness.totals;
  const tile = (/** @type {string} */ label, /** @type {string|number} */ n, /** @type {string} */ cls, /** @type {string} */ key) => h('div', { class: `tile ${cls}`, 'data-tile': key }, h('span', { class: 'n' }, typeof n === 'number' ? n.toLocaleString('en') : n), h('span', {}, label));
  return h(
    'section',
    { class: 'tiles' },
    tile('PV guests left', t.pvLeft, 't-pv', 'pv-left'),
    tile('32-bit PV left', t.pv32Left, t.pv32Left ? 't-pv' : '', 'pv32-left'),
    tile(`moved off PV in ${o.weeks.length} weeks`, t.offPv, 't-pvh', 'off-pv'),
    tile('rolled back, still PV', t.rolledBackLeft, t.rolledBackLeft ? 't-att' : '', 'rolled-back'),
    tile('need attention', t.attention, t.attention ? 't-att' : '', 'attention'),
    tile('hosts ready for Xen without 32-bit PV', `${r.readyWithoutPv32} / ${r.hosts}`, r.readyWithoutPv32 === r.hosts ? 't-pvh' : '', 'ready-pv32'),
  );
}

/** @param {any[]} weeks */
function weeklyCards(weeks) {
  const known = weeks.filter((w) => w.pvLeft !== null);
  const first = known[0];
  const last = known.at(-1);
  const desc = first && last ? `From ${first.pvLeft} PV guests in the week of ${first.week} to ${last.pvLeft} in the week of ${last.week}.` : 'No counts for these weeks.';
  const pvChart = lineChart(
    weeks.map((w) => ({ label: short(w.week), value: w.pvLeft, title: w.pvLeft === null ? `Week of ${w.week}: not known` : `Week of ${w.week}: ${w.pvLeft} PV guests left` })),
    { title: 'PV guests left per week', desc, cls: 'c-pv' },
  );
  const series = [{ label: 'Moved off PV', cls: 'c-pvh' }, { label: 'Switch rolled back', cls: 'c-att' }];
  const sw = columns(weeks.map((w) => short(w.week)), series, [weeks.map((w) => w.offPv), weeks.map((w) => w.rolledBack)], {
    title: 'Switches per week',
    desc: `${weeks.reduce((n, w) => n + w.offPv, 0)} guests moved off PV and ${weeks.reduce((n, w) => n + w.rolledBack, 0)} switches rolled back in ${weeks.length} weeks.`,
  });
  return h(
    'div',
    { class: 'grid2' },
    h('section', { class: 'card', 'data-chart': 'pv-per-week' }, h('h2', {}, 'PV guests left per week', first && last ? h('span', { class: 'muted small' }, ` — ${first.pvLeft.toLocaleString('en')} → ${last.pvLeft.toLocaleString('en')}`) : null), pvChart, h('p', { class: 'muted small' }, 'At the end of each week (this week: now), rebuilt from the switches and rollbacks in the journal.'), asTable(['Week of', 'PV left'], weeks.map((w) => [w.week, w.pvLeft ?? 'not known']))),
    h('section', { class: 'card', 'data-chart': 'switches-per-week' }, h('h2', {}, 'Switches per week'), legend(series.map((x, i) => ({ ...x, value: weeks.reduce((n, w) => n + (i === 0 ? w.offPv : w.rolledBack), 0) }))), sw, asTable(['Week of', 'Moved off PV', 'Rolled back', 'Back onto PV (undone)'], weeks.map((w) => [w.week, w.offPv, w.rolledBack, w.backToPv]))),
  );
}

/** @param {any} x a readiness state @param {string} words */
const readyCell = (x, words) => h('td', { class: 'ready', title: words }, h('span', { class: x.kind === 'not-ready' ? 'no' : 'yes' }, x.kind === 'not-ready' ? 'no' : x.kind === 'already' ? 'already' : 'yes'));

/** @param {any} o */
function hostsCard(o) {
  const ready = new Map(o.readiness.hosts.map((/** @type {any} */ r) => [r.host, r]));
  const max = Math.max(1, ...o.hosts.map((/** @type {any} */ x) => x.byType.pv + x.byType.pvh + x.byType['pvh-shim'] + x.byType.hvm));
  const segs = (/** @type {any} */ b) => [
    { label: 'PVH', value: b.pvh, cls: 'c-pvh' },
    { label: 'PVH (shim)', value: b['pvh-shim'], cls: 'c-shim' },
    { label: 'PV', value: b.pv, cls: 'c-pv' },
    { label: 'HVM', value: b.hvm, cls: 'c-hvm' },
  ];
  const total = (/** @type {any} */ b) => b.pv + b.pvh + b['pvh-shim'] + b.hvm;
  const rows = o.hosts.map((/** @type {any} */ x) => {
    const r = /** @type {any} */ (ready.get(x.host));
    const n = total(x.byType);
    const bar = stackedBar(segs(x.byType), max);
    bar.setAttribute('aria-label', `${x.host}: ${segs(x.byType).map((s) => `${s.value} ${s.label}`).join(', ')}`);
    const why = [r.withoutPv32.kind === 'not-ready' ? `Without 32-bit PV: ${r.words.withoutPv32}` : null, r.words.needsHvm.length ? `Needs HVM: ${r.words.needsHvm.join('; ')}` : null].filter(Boolean);
    return [
      h(
        'tr',
        { 'data-host': x.host },
        h('td', { class: 'mono' }, x.host),
        h('td', { class: 'barcell' }, bar),
        h('td', { class: 'num', 'data-pv': x.byType.pv }, `${n ? Math.round(((n - x.byType.pv) / n) * 100) : 100}%`),
        h('td', { class: 'num', 'data-pv32': r.pv32Left }, r.pv32Left + r.pv32Unknown ? `${r.pv32Left}${r.pv32Unknown ? ` +${r.pv32Unknown}?` : ''}` : '—'),
        readyCell(r.withoutPv32, r.words.withoutPv32),
        readyCell(r.withoutPv, r.words.withoutPv),
        h('td', { class: 'num' }, r.needsHvm.length || '—'),
        h('td', {}, x.attention ? h('span', { class: 'badge att' }, `${x.attention} attention`) : null, x.switching ? h('span', { class: 'badge run' }, `${x.switching} switching`) : null),
      ),
      why.length ? h('tr', { class: 'why' }, h('td', {}), h('td', { colspan: 7, class: 'muted small' }, why.join(' · '))) : null,
    ];
  });
  return h(
    'section',
    { class: 'card', 'data-chart': 'hosts' },
    h('h2', {}, 'Progress and Xen-upgrade readiness per host'),
    legend(segs(Object.fromEntries(['pv', 'pvh', 'pvh-shim', 'hvm'].map((t) => [t, o.hosts.reduce((/** @type {number} */ a, /** @type {any} */ y) => a + y.byType[t], 0)])))),
    h(
      'table',
      { class: 'hosts-ready' },
      h('thead', {}, h('tr', {}, ['Host', 'Guests by mode', 'Off PV', '32-bit PV', 'Xen without 32-bit PV', 'Xen without PV', 'Need HVM', ''].map((x) => h('th', {}, x)))),
      h('tbody', {}, rows),
    ),
    h('p', { class: 'muted small' }, 'Xen without 32-bit PV: CONFIG_PV32=n (the default since Xen 4.16; 32-bit PV guests then run only in the PV shim). A PV guest never inspected counts as 32-bit until a scan tells. Guests on the shim are in nobody\'s way.'),
  );
}

const WAVES_SHOWN = 12;
/** @param {any} o */
function wavesCard(o) {
  const waves = o.waves;
  const max = Math.max(1, ...waves.map((/** @type {any} */ w) => w.toPvh + w.toShim));
  const shown = waves.slice(0, WAVES_SHOWN);
  const rest = waves.slice(WAVES_SHOWN);
  const held = Object.entries(o.held).filter(([p]) => p !== 'done');
  const HELD = /** @type {Record<string,string>} */ ({ 'after-reboot': 'after a reboot by the customer', 'after-kernel-upgrade': 'after a kernel upgrade by the customer', blocked: 'blocked' });
  return h(
    'section',
    { class: 'card', 'data-chart': 'waves' },
    h('h2', {}, 'The plan: waves still to run'),
    o.campaigns.length === 0 ? h('p', { class: 'muted small' }, 'No campaign yet: this is pvhctl campaign plan with its defaults (a canary wave of 5, each host at its limit).') : null,
    waves.length === 0
      ? h('p', { class: 'muted' }, 'Nothing left to switch.')
      : h(
          'table',
          { class: 'waves' },
          h('tbody', {}, shown.map((/** @type {any} */ w) => {
            const bar = stackedBar([{ label: 'to PVH', value: w.toPvh, cls: 'c-pvh' }, { label: 'to the PV shim', value: w.toShim, cls: 'c-shim' }], max);
            bar.setAttribute('aria-label', `Wave ${w.n}: ${w.toPvh} to PVH, ${w.toShim} to the PV shim, on ${w.hosts} hosts`);
            return h('tr', { 'data-wave': w.n, class: w.kind }, h('td', {}, w.kind === 'canary' ? h('b', {}, 'Canary') : `Wave ${w.n}`), h('td', { class: 'barcell' }, bar), h('td', { class: 'num' }, String(w.toPvh + w.toShim)), h('td', { class: 'muted small' }, `${w.hosts} host${w.hosts === 1 ? '' : 's'}`));
          })),
        ),
    rest.length ? h('p', { class: 'muted small' }, `and ${rest.length} more waves with ${rest.reduce((/** @type {number} */ n, /** @type {any} */ w) => n + w.toPvh + w.toShim, 0)} guests`) : null,
    legend([{ label: 'to PVH', value: waves.reduce((/** @type {number} */ n, /** @type {any} */ w) => n + w.toPvh, 0), cls: 'c-pvh' }, { label: 'to the PV shim', value: waves.reduce((/** @type {number} */ n, /** @type {any} */ w) => n + w.toShim, 0), cls: 'c-shim' }]),
    held.length ? h('p', { class: 'small' }, 'Held back: ', held.map(([p, n], i) => [i ? ', ' : '', h('b', {}, String(n)), ` ${HELD[p] ?? p}`])) : null,
  );
}

/** @type {Record<string,string>} */
const FAILED = { 'rolled-back': 'Rolled back', 'needs-attention': 'Needs attention', refused: 'Not started (checks failed)' };
/** @param {any} o */
function failuresCard(o) {
  const list = o.failures;
  return h(
    'section',
    { class: `card ${list.some((/** @type {any} */ f) => f.status === 'needs-attention') ? 'alert' : ''}`, 'data-chart': 'failures' },
    h('h2', {}, 'Failures needing attention'),
    list.length === 0
      ? h('p', { class: 'muted' }, 'None: every switch so far ended in its new mode.')
      : h('ul', { class: 'events' }, list.map((/** @type {any} */ f) => h('li', { class: f.status === 'needs-attention' ? 'att' : 'rb', 'data-failure': f.status }, h('a', { href: `#/guest/${f.guestId}` }, f.guest), h('span', { class: 'muted' }, ` on ${f.host} → ${modeName(f.to)}, ${FAILED[f.status] ?? f.status}${f.at ? ` ${when(f.at)}` : ''} — `), f.reason))),
  );
}

/** @type {Record<string,string>} */
const STATE = { draft: 'Draft: not started', running: 'Running', paused: 'Paused', cancelled: 'Cancelled', done: 'Done' };
/** Guests by where they are, in the order a guest goes through them. */
const WHERE = [
  { key: 'switched', label: 'switched', cls: 'c-pvh' },
  { key: 'running', label: 'switching now', cls: 'c-run' },
  { key: 'notified', label: 'notified, waiting for their slot', cls: 'c-shim' },
  { key: 'waiting', label: 'not yet notified', cls: 'c-pv' },
  { key: 'failed', label: 'failed', cls: 'c-att' },
  { key: 'held', label: 'held back', cls: 'c-hvm' },
  { key: 'already', label: 'already PVH or HVM', cls: 'c-done' },
  { key: 'skipped', label: 'skipped (cancelled)', cls: 'c-none' },
];

/** One campaign: state and pause reason, its wave, guests by where they are, the next slot, waves, held and failed guests. @param {any} c */
function campaignCard(c) {
  const n = c.counts;
  const total = WHERE.reduce((a, w) => a + n[w.key], 0);
  const segs = WHERE.map((w) => ({ label: w.label, value: n[w.key], cls: w.cls }));
  const bar = stackedBar(segs, total);
  bar.setAttribute('aria-label', `${c.name}: ${segs.filter((x) => x.value).map((x) => `${x.value} ${x.label}`).join(', ')}`);
  const next = c.nextSlot;
  const maxWave = Math.max(1, ...c.waves.map((/** @type {any} */ w) => w.guests));
  return h(
    'section',
    { class: `card ${c.state === 'paused' ? 'alert' : ''}`, 'data-campaign': c.name, 'data-state': c.state },
    h('h2', {}, `Campaign ${c.name} `, h('span', { class: `badge ${c.state === 'paused' ? 'att' : c.state === 'running' ? 'run' : ''}`, 'data-field': 'state' }, STATE[c.state] ?? c.state)),
    c.pauseReason ? h('p', { class: 'pause', 'data-field': 'pause-reason' }, h('b', {}, 'Why it paused: '), c.pauseReason) : null,
    h(
      'p',
      { class: 'small' },
      h('span', { 'data-field': 'wave' }, c.wave === null ? 'No wave left to run' : c.wave.kind === 'canary' ? `At the canary (wave ${c.wave.n})` : `At wave ${c.wave.n}`),
      ' · windows: ',
      Object.entries(c.windows).map(([host, spec], i) => [i ? '; ' : '', h('span', { class: 'mono' }, host), ` ${spec}`]),
      c.endsAt ? ` · until ${when(c.endsAt)}` : null,
    ),
    h(
      'p',
      { class: 'small', 'data-field': 'next-slot' },
      h('b', {}, 'Next slot: '),
      next === null ? 'none' : `${when(next.start)} to ${when(next.end)}, ${next.hosts.map((/** @type {any} */ x) => `${x.guests} guest${x.guests === 1 ? '' : 's'} on ${x.host}`).join(', ')}`,
    ),
    bar,
    h('ul', { class: 'legend' }, WHERE.map((w) => h('li', { 'data-count': w.key }, h('span', { class: `swatch ${w.cls}` }), `${w.label} `, h('b', {}, String(n[w.key]))))),
    n.chose ? h('p', { class: 'small muted', 'data-count': 'chose' }, `${n.chose} customer${n.chose === 1 ? '' : 's'} chose their own time (switch now, another slot, or postponed).`) : null,
    c.waves.length
      ? h(
          'table',
          { class: 'waves' },
          h('tbody', {}, c.waves.slice(0, WAVES_SHOWN).map((/** @type {any} */ w) => {
            const wb = stackedBar([{ label: 'switched', value: w.switched, cls: 'c-pvh' }, { label: 'switching now', value: w.running, cls: 'c-run' }, { label: 'failed', value: w.failed, cls: 'c-att' }, { label: 'to come', value: w.planned, cls: 'c-pv' }], maxWave);
            wb.setAttribute('aria-label', `Wave ${w.n}: ${w.switched} switched, ${w.running} switching, ${w.failed} failed, ${w.planned} to come, of ${w.guests}`);
            return h('tr', { 'data-wave': w.n, class: w.kind }, h('td', {}, w.kind === 'canary' ? h('b', {}, 'Canary') : `Wave ${w.n}`), h('td', { class: 'barcell' }, wb), h('td', { class: 'num' }, `${w.switched}/${w.guests}`), h('td', { class: 'muted small' }, w.failed ? `${w.failed} failed` : ''));
          })),
        )
      : null,
    c.failed.length ? h('ul', { class: 'events' }, c.failed.map((/** @type {any} */ f) => h('li', { class: 'att', 'data-failed': f.guest }, h('a', { href: `#/guest/${f.guestId}` }, f.guest), h('span', { class: 'muted' }, ` on ${f.host}, ${FAILED[f.status] ?? f.status} — `), f.reason ?? ''))) : null,
    c.held.length
      ? h('details', { class: 'held' }, h('summary', {}, `Held back: ${n.held}`), h('ul', { class: 'events' }, c.held.map((/** @type {any} */ x) => h('li', { 'data-held': x.guest }, h('a', { href: `#/guest/${x.guestId}` }, x.guest), h('span', { class: 'muted' }, ` on ${x.host} — `), x.words))))
      : null,
  );
}

/**
 * Draws the campaign page into `main` and refreshes it every 10 s; returns what stops that.
 * @param {HTMLElement} main
 */
export async function campaignPage(main) {
  const draw = async () => {
    const o = await api('/v1/campaign/overview?weeks=12');
    // A table or list someone opened stays open across the refresh.
    const open = [...main.querySelectorAll('[data-chart]:has(> details.as-table[open])')].map((el) => el.getAttribute('data-chart'));
    const openHeld = [...main.querySelectorAll('[data-campaign]:has(> details.held[open])')].map((el) => el.getAttribute('data-campaign'));
    replace(main, h('h1', {}, 'Campaign'), tiles(o), o.campaigns.map(campaignCard), weeklyCards(o.weeks), hostsCard(o), h('div', { class: 'grid2' }, failuresCard(o), wavesCard(o)));
    for (const c of open) main.querySelector(`[data-chart="${c}"] > details.as-table`)?.setAttribute('open', '');
    for (const c of openHeld) main.querySelector(`[data-campaign="${CSS.escape(c ?? '')}"] > details.held`)?.setAttribute('open', '');
  };
  await draw();
  const timer = setInterval(() => draw().catch(() => {}), 10_000);
  return () => clearInterval(timer);
}
