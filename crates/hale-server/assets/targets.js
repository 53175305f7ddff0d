// Every container and site with its state, policy, ladder step, cooldown (ticking), last
// action and result; filter and search; and the containers no policy selects, with the
// label that would opt each in. In fleet mode (`hale run --fleet`) a toggle shows every
// node's targets instead (GET /api/v1/fleet/targets), with a Node column first.

import { store, h, esc, SEVERITY, ago, serverNow, api, duration } from './core.js';
import { allTargets } from './overview.js';

let filters = { state: '', policy: '', q: '', fleet: '' };

/** The fleet's view while the toggle is on: the last answer, or why there is none. */
let fleet = { view: null, error: null, loading: false };

export function render(main, { query }) {
  filters = { state: query.get('state') || '', policy: query.get('policy') || '', q: query.get('q') || '', fleet: query.get('fleet') || '' };
  const states = ['', ...SEVERITY, 'disabled', 'unselected'];
  const stateSelect = h('select', { id: 'filter-state', 'aria-label': 'State' },
    states.map((s) => h('option', { value: s, selected: s === filters.state }, s || 'every state')));
  const policySelect = h('select', { id: 'filter-policy', 'aria-label': 'Policy' }, h('option', { value: '' }, 'every policy'));
  const search = h('input', { id: 'filter-q', type: 'search', placeholder: 'Search names, signals…', value: filters.q, 'aria-label': 'Search' });
  // Shown once the overview says this hale is in fleet mode (refresh unhides it).
  const fleetToggle = h('input', { id: 'fleet-toggle', type: 'checkbox', checked: filters.fleet === '1' });
  const fleetLabel = h('label', { id: 'fleet-label', hidden: true }, fleetToggle, ' every node of the fleet');
  const apply = () => {
    filters = { state: stateSelect.value, policy: policySelect.value, q: search.value.trim(), fleet: fleetToggle.checked ? '1' : '' };
    const params = new URLSearchParams(Object.entries(filters).filter(([, v]) => v));
    history.replaceState(null, '', `#/targets${params.toString() ? `?${params}` : ''}`);
    refresh(main);
  };
  stateSelect.addEventListener('change', apply);
  policySelect.addEventListener('change', apply);
  search.addEventListener('input', apply);
  fleetToggle.addEventListener('change', apply);
  main.append(
    h('h1', {}, 'Targets'),
    h('div', { class: 'toolbar' }, stateSelect, policySelect, search, fleetLabel, h('span', { id: 'target-count', class: 'quiet' })),
    h('p', { id: 'fleet-nodes', class: 'quiet', hidden: true }),
    h('div', { class: 'table-wrap' }, h('table', { id: 'targets-table' },
      h('thead', {}, h('tr', {})),
      h('tbody', {}))),
    h('section', { id: 'unselected' }),
  );
}

function matches(t) {
  if (filters.state === 'disabled' && !t.disabled) return false;
  if (filters.state === 'unselected') return false;
  if (filters.state && !['disabled'].includes(filters.state)) {
    const state = filters.state === 'healthy' ? ['healthy', 'degraded'] : [filters.state];
    if (!state.includes(t.state)) return false;
  }
  if (filters.policy && t.policy !== filters.policy) return false;
  if (filters.q) {
    const q = filters.q.toLowerCase();
    if (!`${t.name} ${t.id} ${t.signal || ''} ${t.policy}`.toLowerCase().includes(q)) return false;
  }
  return true;
}

const COLUMNS = ['Target', 'State', 'Policy', 'Step', 'Next action in', 'Last action', 'Result'];

/** Whether the page shows the whole fleet: in fleet mode, with the toggle on. */
function fleetShown() {
  return Boolean(store.overview?.fleet) && filters.fleet === '1';
}

/** Asks for the fleet's view (one request at a time) and redraws when it answers. */
function loadFleet(main) {
  if (fleet.loading) return;
  fleet.loading = true;
  api('/api/v1/fleet/targets')
    .then((view) => { fleet = { view, error: null, loading: false }; })
    .catch((problem) => { fleet = { view: null, error: problem.message, loading: false }; })
    .then(() => { if (main.isConnected && fleetShown()) draw(main); });
}

export function refresh(main) {
  if (!store.targets) return;
  main.querySelector('#fleet-label').hidden = !store.overview?.fleet;
  if (fleetShown()) loadFleet(main);
  draw(main);
}

function draw(main) {
  const policySelect = main.querySelector('#filter-policy');
  const names = (store.policies?.items || []).map((p) => p.name);
  if (policySelect.options.length !== names.length + 1) {
    policySelect.replaceChildren(h('option', { value: '' }, 'every policy'),
      names.map((n) => h('option', { value: n, selected: n === filters.policy }, n)));
  }
  const shown = fleetShown();
  const columns = shown ? ['Node', ...COLUMNS.slice(0, 2), 'Lease', ...COLUMNS.slice(2)] : COLUMNS;
  const head = main.querySelector('#targets-table thead tr');
  if (head.children.length !== columns.length) head.replaceChildren(...columns.map((c) => h('th', { scope: 'col' }, c)));
  const all = shown ? (fleet.view?.items || []) : allTargets();
  const now = serverNow();
  const rows = all.filter(matches);
  const html = rows.map((t) => {
    const href = `#/targets/${encodeURIComponent(t.name)}`;
    const wait = t.nextActionAt && t.nextActionAt > now
      ? `<span data-until="${t.nextActionAt}">${Math.ceil((t.nextActionAt - now) / 1000)} s</span>` : '—';
    const result = t.lastAction ? (t.lastActionFailed ? '<span class="bad">failed</span>' : 'ok') : '';
    const off = t.disabled ? ' <span class="badge state-disabled">healing off</span>' : '';
    // Another node's target has no page here: its own hale has it.
    const own = !shown || t.node === store.overview.fleet.node;
    const name = own ? `<a href="${href}">${esc(t.name)}</a>` : esc(t.name);
    const node = shown ? `<td>${esc(t.node)}${t.nodeStale ? ' <span class="badge state-unknown">stale</span>' : ''}</td>` : '';
    const lease = !t.name.startsWith('site:') ? '—'
      : !t.standby || t.standby.startsWith('waiting:') ? 'holder'
      : t.standby.startsWith('held:') ? 'held' : 'standby';
    return `<tr data-target="${esc(t.name)}" data-state="${esc(t.state)}"${shown ? ` data-node="${esc(t.node)}"` : ''}>${node}<td>${name}${off}</td>`
      + `<td><span class="badge state-${esc(t.state)}">${esc(t.state)}</span>${t.signal ? `<div class="quiet">${esc(t.signal)}</div>` : ''}</td>`
      + `${shown ? `<td data-lease>${lease}</td>` : ''}<td>${esc(t.policy)}</td><td>${t.step}</td><td>${wait}</td>`
      + `<td>${esc(t.lastAction || '')}${t.lastActionAt ? ` <span class="quiet">${esc(ago(t.lastActionAt))}</span>` : ''}</td><td>${result}</td></tr>`;
  }).join('');
  const empty = shown && fleet.error ? `The fleet's view cannot be read: ${esc(fleet.error)}`
    : shown && !fleet.view ? 'Reading the fleet\'s view…'
      : filters.state === 'unselected' ? 'See the containers no policy selects below.' : 'No target matches.';
  main.querySelector('#targets-table tbody').innerHTML = html
    || `<tr><td colspan="${columns.length}" class="quiet">${empty}</td></tr>`;
  main.querySelector('#target-count').textContent = `${rows.length} of ${all.length}`;
  const nodes = main.querySelector('#fleet-nodes');
  nodes.hidden = !shown || !fleet.view;
  if (shown && fleet.view) {
    nodes.textContent = fleet.view.nodes.length
      ? `Nodes in the view: ${fleet.view.nodes.map((n) => `${n.node} (published ${duration(n.lastPublishedMsAgo)} ago${n.stale ? ', stale' : ''})`).join(', ')}`
      : 'No node publishes its status to the fleet\'s Redis.';
  }
  renderUnselected(main.querySelector('#unselected'));
}

/** What to add to a container so that policy `p` selects it. */
export function optIn(policy) {
  const selector = policy.spec?.selector;
  if (!selector) return null;
  const labels = Object.entries(selector.matchLabels || {}).map(([k, v]) => `--label ${k}=${v}`);
  for (const e of selector.matchExpressions || []) {
    if (e.operator === 'In') labels.push(`--label ${e.key}=${e.values[0]}`);
    if (e.operator === 'Exists') labels.push(`--label ${e.key}`);
  }
  return labels.length ? labels.join(' ') : null;
}

function renderUnselected(section) {
  const list = (store.targets.unselected || []).filter((c) => !filters.q || c.name.toLowerCase().includes(filters.q.toLowerCase()));
  if (!list.length) {
    section.replaceChildren();
    return;
  }
  const hints = (store.policies?.items || []).map((p) => ({ name: p.name, add: optIn(p) })).filter((p) => p.add);
  section.replaceChildren(
    h('h2', {}, `Not selected by any policy (${list.length})`),
    h('p', { class: 'quiet' }, hints.length
      ? ['No policy\'s selector matches these containers\' labels, so hale does not heal them. To opt one in, recreate it with ',
        hints.map((p, i) => [i ? ' or ' : '', h('code', {}, p.add), ` (policy ${p.name})`])]
      : 'No policy in force selects containers by label.'),
    h('div', { class: 'table-wrap' }, h('table', { id: 'unselected-table' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Container'), h('th', {}, 'Why'), h('th', {}, 'To opt in'))),
      h('tbody', {}, list.slice(0, 500).map((c) => h('tr', { dataset: { container: c.name } },
        h('td', {}, c.name),
        h('td', {}, Object.keys(c.labels || {}).length ? `no matching label (has ${Object.entries(c.labels).slice(0, 4).map(([k, v]) => `${k}=${v}`).join(', ')})` : 'no labels'),
        h('td', {}, hints.length ? h('code', {}, `docker run ${hints[0].add} …`) : '—')))))),
  );
}
