// @ts-check
/**
 * The maintenance card on a guest's page: its slot in a campaign, in the host's time zone, and the
 * customer's choices (switch now, another window, postpone once), through
 * /v1/guests/{id}/campaigns and /v1/guests/{id}/campaign/*. The API decides and words refusals.
 */
import { api } from './api.js';
import { h, replace } from './dom.js';

/**
 * The card for guest `id`, drawn into `box` (empty when the guest is in no campaign).
 * `onSwitch` follows a switch started by "switch now".
 * @param {number} id
 * @param {HTMLElement} box
 * @param {() => void} onSwitch
 */
export async function drawMaintenance(id, box, onSwitch) {
  /** @type {any[]} */
  let list;
  try {
    list = await api(`/v1/guests/${id}/campaigns`);
  } catch {
    replace(box);
    return;
  }
  const c = list.find((x) => x.status === 'planned') ?? list.at(-1);
  if (c === undefined) {
    replace(box);
    return;
  }
  const note = h('div', { 'aria-live': 'polite' });
  /** @param {string} path @param {Record<string, unknown>} body */
  const choose = async (path, body) => {
    try {
      await api(`/v1/guests/${id}/campaign/${path}`, { method: 'POST', body: { campaign: c.campaign, ...body } });
      if (path === 'switch-now') onSwitch();
      await drawMaintenance(id, box, onSwitch);
    } catch (err) {
      replace(note, h('div', { class: 'refusal', role: 'status', 'data-maintenance': 'refused' }, err instanceof Error ? err.message : String(err)));
    }
  };
  const open = c.status === 'planned' && c.campaignStatus === 'running';
  const status =
    c.status === 'planned'
      ? c.campaignStatus === 'running'
        ? 'The switch to the new mode is planned for'
        : 'Maintenance is paused. The switch was planned for'
      : c.status === 'switched'
        ? 'Done: this server was switched in'
        : c.status === 'held'
          ? 'Not scheduled yet.'
          : c.status === 'submitted' || c.status === 'submitting'
            ? 'The switch is in progress, in'
            : 'The switch did not go through, in';
  const windows = h('select', { 'data-maintenance': 'windows', 'aria-label': 'Another maintenance window' }, ...c.choices.map((/** @type {any} */ o) => h('option', { value: o.start, selected: o.start === c.slot?.start }, o.words)));
  const days = h('input', { type: 'number', min: 1, max: c.postponeDays, value: Math.min(7, c.postponeDays), 'data-maintenance': 'days', 'aria-label': 'Days to postpone' });
  replace(
    box,
    h(
      'section',
      { class: 'card', 'data-campaign': c.campaign },
      h('h2', {}, 'Planned maintenance'),
      h('p', { 'data-maintenance': 'slot' }, status, ' ', c.status === 'held' ? c.pathWords : h('b', {}, c.slotWords ?? 'a window still to be set'), c.choice ? h('span', { class: 'muted' }, ` (your choice: ${c.choice === 'early' ? 'switch now' : c.choice === 'slot' ? 'another window' : 'postponed'})`) : null),
      c.outcomeReason ? h('p', { class: 'muted' }, c.outcomeReason) : null,
      open
        ? h(
            'div',
            { class: 'maintenance-choices' },
            h('button', { 'data-action': 'maintenance-now', onclick: () => choose('switch-now', {}) }, 'Switch now instead'),
            c.choices.length > 0 ? h('p', {}, windows, ' ', h('button', { 'data-action': 'maintenance-slot', onclick: () => choose('slot', { start: /** @type {HTMLSelectElement} */ (windows).value }) }, 'Move to this window')) : null,
            c.postponeDays > 0 ? h('p', {}, 'Postpone by ', days, ' days ', h('button', { 'data-action': 'maintenance-postpone', onclick: () => choose('postpone', { days: Number(/** @type {HTMLInputElement} */ (days).value) }) }, 'Postpone once')) : null,
          )
        : null,
      note,
    ),
  );
}
