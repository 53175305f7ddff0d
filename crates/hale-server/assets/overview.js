// The overview: the counts, hale's own health, and the targets that need attention first.

import { store, h, badge, SEVERITY, ago, clock } from './core.js';
import { explain } from './decision.js';

/** Draws the frame; refresh() fills it. */
export function render(main) {
  main.append(
    h('h1', {}, 'Overview'),
    h('section', { id: 'counts', class: 'cards', 'aria-label': 'Counts' }),
    h('section', { class: 'columns' },
      h('div', {}, h('h2', {}, 'Needs attention'), h('div', { id: 'attention' })),
      h('div', {}, h('h2', {}, 'hale'), h('dl', { id: 'health', class: 'facts' }))),
  );
}

function card(label, value, href, tone) {
  return h('a', { class: `card ${tone && value ? `tone-${tone}` : ''}`, href, dataset: { count: label } },
    h('span', { class: 'card-value' }, String(value)), h('span', { class: 'card-label' }, label));
}

/** Every target with its policy, worst first. */
export function allTargets() {
  const items = store.targets?.items || [];
  return [...items].sort((a, b) => SEVERITY.indexOf(a.state) - SEVERITY.indexOf(b.state) || a.name.localeCompare(b.name));
}

export function refresh(main) {
  const o = store.overview;
  if (!o) return;
  const by = o.targets || {};
  const total = Object.values(by).reduce((a, b) => a + b, 0);
  main.querySelector('#counts').replaceChildren(
    card('targets', total, '#/targets'),
    card('healthy', (by.healthy || 0) + (by.degraded || 0), '#/targets?state=healthy'),
    card('failing', by.failing || 0, '#/targets?state=failing', 'bad'),
    card('quarantined', by.quarantined || 0, '#/targets?state=quarantined', 'bad'),
    card('paused policies', (o.paused || []).length, '#/policies', 'warn'),
    card('open circuits', (o.circuitsOpen || []).length, '#/policies', 'bad'),
    card('healing off', (o.disabled || []).length, '#/targets?state=disabled', 'warn'),
    card('not selected', o.unselected || 0, '#/targets?state=unselected'),
  );
  const attention = allTargets().filter((t) => !['healthy', 'degraded'].includes(t.state) || t.disabled);
  const list = main.querySelector('#attention');
  if (!attention.length) {
    list.replaceChildren(h('p', { class: 'quiet' }, total ? 'Every target is healthy.' : 'No policy selects any target yet. See Targets for containers and the label that opts them in.'));
  } else {
    list.replaceChildren(h('ul', { class: 'attention' }, attention.slice(0, 12).map((t) => h('li', {},
      h('a', { href: `#/targets/${encodeURIComponent(t.name)}` }, t.name), ' ', badge(t.state),
      t.disabled ? h('span', { class: 'badge state-disabled' }, 'healing off') : null,
      h('div', { class: 'quiet' }, `${t.policy}: ${explain(t, t.policy)}`)))));
  }
  const queues = Object.entries(o.notifierQueues || {});
  const generations = Object.entries(o.generations || {});
  main.querySelector('#health').replaceChildren(
    h('dt', {}, 'Docker'), h('dd', { class: o.dockerConnected ? 'ok' : 'bad' }, o.dockerConnected ? 'connected' : 'not connected'),
    h('dt', {}, 'Version'), h('dd', {}, `${o.version}${o.dryRun ? ' (dry run: nothing is done)' : ''}`),
    h('dt', {}, 'Up since'), h('dd', {}, `${clock(o.startedAt)} (${ago(o.startedAt)})`),
    h('dt', {}, 'Policies'), h('dd', {}, generations.length ? generations.map(([n, g]) => `${n} gen ${g}`).join(', ') : 'none in force'),
    h('dt', {}, 'Last reload'), h('dd', {}, o.lastReload ? `${clock(o.lastReload)} (${ago(o.lastReload)})` : 'not yet'),
    h('dt', {}, 'Reload errors'), h('dd', { class: (o.reloadErrors || []).length ? 'bad' : 'ok' },
      (o.reloadErrors || []).length ? h('ul', {}, o.reloadErrors.map((e) => h('li', {}, h('code', {}, e)))) : 'none'),
    h('dt', {}, 'Notifier queues'), h('dd', {}, queues.length ? queues.map(([n, d]) => `${n}: ${d}`).join(', ') : 'no notifier'),
    h('dt', {}, 'Controls'), h('dd', {}, o.controlsEnabled ? 'on (token required)' : 'off: start hale run with --api-token-file'),
  );
}
