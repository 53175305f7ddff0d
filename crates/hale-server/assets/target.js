// One target: where it stands in each policy that watches it, what hale will do next and
// why, its probes' last results, its last 24 hours as a strip (state as colour, actions and
// notifications as marks, each linking to its episode's records), and the controls.

import { store, api, h, badge, clock, ago, recordLine, runControl, serverNow, actionName } from './core.js';
import { explain } from './decision.js';

const DAY = 24 * 3600 * 1000;
/** The strip's span: the last 24 hours, or the last hour to see a recent episode. */
let span = DAY;
let name = '';
let events = [];
let loaded = 0;

export function render(main, { params }) {
  [name] = params;
  events = [];
  loaded = 0;
  main.append(
    h('p', {}, h('a', { href: '#/targets' }, '← Targets')),
    h('h1', {}, name),
    h('div', { id: 'target-policies' }, h('p', { class: 'quiet' }, 'Loading…')),
    h('h2', {}, 'Timeline ',
      h('button', { type: 'button', id: 'span-24h', 'aria-pressed': 'true', onclick: () => zoom(main, DAY) }, '24 h'), ' ',
      h('button', { type: 'button', id: 'span-1h', 'aria-pressed': 'false', onclick: () => zoom(main, 3600 * 1000) }, '1 h')),
    h('div', { id: 'timeline' }),
    h('h2', {}, 'Controls'),
    h('div', { id: 'controls', class: 'controls' }),
    h('div', { id: 'control-result', 'aria-live': 'polite' }),
    h('h2', {}, 'Audit records'),
    h('ol', { id: 'target-events', class: 'records' }),
  );
  load(main);
  // The decision says "in 41 s": keep it true between polls.
  const timer = setInterval(() => {
    for (const t of entries()) {
      const element = main.querySelector(`.decision[data-decision="${CSS.escape(t.policy)}"]`);
      if (element) element.textContent = explain(t, t.policy);
    }
  }, 1000);
  return () => clearInterval(timer);
}

function zoom(main, ms) {
  span = ms;
  main.querySelector('#span-24h').setAttribute('aria-pressed', String(ms === DAY));
  main.querySelector('#span-1h').setAttribute('aria-pressed', String(ms !== DAY));
  drawTimeline(main.querySelector('#timeline'));
}

async function load(main) {
  try {
    const list = await api(`/api/v1/events?target=${encodeURIComponent(name)}&since=24h&n=2000`);
    events = list.reverse();
    loaded = Date.now();
  } catch (problem) {
    main.querySelector('#timeline').replaceChildren(h('p', { class: 'bad' }, problem.message));
  }
  refresh(main);
}

function entries() {
  return (store.targets?.items || []).filter((t) => t.name === name || (t.id && t.id.startsWith(name)));
}

export function refresh(main) {
  if (!main.querySelector('#target-policies')) return;
  if (loaded && Date.now() - loaded > 4000) {
    loaded = Date.now();
    load(main);
    return;
  }
  const mine = entries();
  const box = main.querySelector('#target-policies');
  // Redraw only what changed, so that keyboard focus stays where it was between polls.
  const signature = JSON.stringify([mine, store.overview?.paused, events.length]);
  if (box.dataset.signature === signature) return;
  box.dataset.signature = signature;
  if (!mine.length) {
    const unselected = (store.targets?.unselected || []).find((c) => c.name === name);
    box.replaceChildren(h('p', {}, unselected
      ? 'No policy selects this container, so hale does not heal it. See Targets for the label that opts it in.'
      : 'No policy in force watches a target of this name now.'));
  } else {
    box.replaceChildren(...mine.map((t) => h('section', { class: 'panel', dataset: { policy: t.policy } },
      h('h2', {}, 'Policy ', h('a', { href: `#/policies/${encodeURIComponent(t.policy)}` }, t.policy), ' ', badge(t.state),
        t.disabled ? h('span', { class: 'badge state-disabled' }, 'healing off') : null),
      h('p', { class: 'decision', dataset: { decision: t.policy } }, explain(t, t.policy)),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Signal'), h('dd', {}, t.signal || '—'),
        h('dt', {}, 'Ladder step'), h('dd', {}, `${t.step} (attempts made: ${t.attempts || 0})`),
        h('dt', {}, 'Last action'), h('dd', {}, t.lastAction ? `${t.lastAction} ${ago(t.lastActionAt)}${t.lastActionFailed ? ' — failed' : ''}` : '—'),
        h('dt', {}, 'Next action not before'), h('dd', {}, t.nextActionAt && t.nextActionAt > serverNow()
          ? h('span', { 'data-until': t.nextActionAt }, `${Math.ceil((t.nextActionAt - serverNow()) / 1000)} s`) : 'now'),
        h('dt', {}, 'Container ID'), h('dd', {}, t.id ? h('code', {}, t.id.slice(0, 12)) : '—'),
        h('dt', {}, 'Selected by'), h('dd', {}, t.selectedBy || '—')),
      probes(t))));
  }
  drawTimeline(main.querySelector('#timeline'));
  drawControls(main.querySelector('#controls'), mine);
  main.querySelector('#target-events').replaceChildren(...[...events].reverse().slice(0, 50).map((e) => h('li', {},
    h('code', {}, recordLine(e)), e.trace_id ? [' ', traceLink(e.trace_id)] : null)));
}

function probes(t) {
  const rows = (t.probes || []).map((p) => h('tr', {},
    h('td', {}, p.name), h('td', { class: p.passing ? 'ok' : 'bad' }, p.passing ? 'passing' : 'failing'),
    h('td', {}, String(p.streak)), h('td', {}, p.lastFailure ? `${p.lastFailure} (${ago(p.lastFailureAt)})` : '—')));
  if (!rows.length) return h('p', { class: 'quiet' }, 'Docker\'s health check is the evidence for this target (no periodic probe).');
  return h('table', { class: 'probes' }, h('thead', {}, h('tr', {}, ['Probe', 'Last result', 'In a row', 'Last failure'].map((c) => h('th', {}, c)))), h('tbody', {}, rows));
}

function traceLink(traceId) {
  return h('a', { href: `#/events?trace=${traceId}`, class: 'trace', title: 'Every record of this episode' }, `trace ${traceId.slice(0, 8)}`);
}

/** State over the last 24 h, read from the audit records: a failure turns the strip red
 * until hale records a recovery, a quarantine purple until a release. */
function drawTimeline(box) {
  const end = serverNow();
  const start = end - span;
  const toState = { failing: 'failing', action_started: 'acting', recovered: 'healthy', quarantined: 'quarantined', released: 'healthy', disabled: 'disabled', enabled: 'healthy' };
  const segments = [];
  // Before hale's first record of it, or before this hale started, nothing is known.
  const known = Math.max(start, Math.min(events.length ? events[0].time : end, store.overview?.startedAt || end));
  segments.push({ state: 'unknown', from: start, to: known });
  let state = 'healthy';
  let since = known;
  const marks = [];
  for (const e of events) {
    if (e.time < start) continue;
    const next = toState[e.kind];
    if (next && next !== state) {
      segments.push({ state, from: since, to: e.time });
      state = next;
      since = e.time;
    }
    if (e.kind.startsWith('action_') || e.kind === 'dry_run' || e.kind === 'notification_failed' || e.kind === 'quarantined') {
      marks.push(e);
    }
  }
  segments.push({ state, from: since, to: end });
  const pct = (t) => `${(((t - start) / span) * 100).toFixed(3)}%`;
  const strip = h('div', { class: 'strip', role: 'img', 'aria-label': `State of ${name} over the last ${span === DAY ? '24 hours' : 'hour'}` },
    segments.filter((s) => s.to > s.from).map((s) => h('span', {
      class: `segment state-${s.state}`, style: { left: pct(s.from), width: `${(((s.to - s.from) / span) * 100).toFixed(3)}%` }, title: `${s.state} from ${clock(s.from)} to ${clock(s.to)}`,
    })),
    marks.map((e) => h('a', {
      class: `mark mark-${e.kind}`, style: { left: pct(e.time) },
      href: e.trace_id ? `#/events?trace=${e.trace_id}` : `#/events?target=${encodeURIComponent(name)}`,
      title: `${clock(e.time)} ${e.kind} ${actionName(e.action)}: ${e.reason}`,
      'aria-label': `${e.kind} at ${clock(e.time)}`,
    })));
  box.replaceChildren(strip, h('div', { class: 'strip-axis quiet' }, h('span', {}, clock(start)), h('span', {}, 'now')),
    h('p', { class: 'quiet legend' }, 'Colour: state (green healthy, red failing, amber hale acting, purple quarantined, grey healing off). Marks: actions and notifications; each links to its episode.'));
}

function drawControls(box, mine) {
  const panel = document.getElementById('control-result');
  const audit = `target=${encodeURIComponent(name)}`;
  const target = encodeURIComponent(name);
  const any = mine[0];
  const buttons = [];
  if (mine.length) {
    buttons.push(h('button', {
      id: 'heal', onclick: () => runControl({ title: `Heal ${name} now?`, detail: 'hale runs the next rung of its ladder at once, whatever its state, cooldown or circuit.', path: `/api/v1/targets/${target}/heal`, panel, audit }),
    }, 'Heal now'));
    const disabled = mine.some((t) => t.disabled);
    buttons.push(h('button', {
      id: disabled ? 'enable' : 'disable',
      onclick: () => runControl(disabled
        ? { title: `Turn healing of ${name} back on?`, detail: 'hale remediates it again when it fails.', path: `/api/v1/targets/${target}/enable`, panel, audit }
        : { title: `Turn healing of ${name} off?`, detail: 'It stays probed and shown, but hale will not remediate it, in any policy, until it is enabled again. This survives restarts of hale.', path: `/api/v1/targets/${target}/disable`, panel, audit }),
    }, disabled ? 'Enable healing' : 'Disable healing'));
    if (mine.some((t) => t.state === 'quarantined')) {
      buttons.push(h('button', {
        id: 'unquarantine', onclick: () => runControl({ title: `Release ${name} from quarantine?`, detail: 'The next failure starts its ladder again.', path: `/api/v1/targets/${target}/unquarantine`, panel, audit }),
      }, 'Unquarantine'));
    }
    const paused = (store.overview?.paused || []).includes(any.policy);
    buttons.push(h('button', {
      id: paused ? 'resume' : 'pause',
      onclick: () => runControl({ title: `${paused ? 'Resume' : 'Pause'} policy ${any.policy}?`, detail: paused ? 'It decides and acts again.' : 'Every target of the policy is assessed, nothing decided or done, until it is resumed.', path: `/api/v1/policies/${encodeURIComponent(any.policy)}/${paused ? 'resume' : 'pause'}`, panel, audit: `policy=${encodeURIComponent(any.policy)}` }),
    }, `${paused ? 'Resume' : 'Pause'} policy ${any.policy}`));
  }
  const ack = (d) => h('button', {
    class: 'ack', dataset: { duration: d },
    onclick: () => runControl({ title: `Acknowledge alerts about ${name} for ${d}?`, detail: `An exact-match silence in Alertmanager on container=${name}, for ${d}.`, path: '/api/v1/ack', body: { labels: { container: name }, duration: d, comment: 'acknowledged from the hale dashboard' }, panel }),
  }, `Ack ${d}`);
  // A redraw must not take the keyboard's place away: the control that had focus has it
  // again (a keyboard user would otherwise be sent back to the top at every change).
  const had = box.contains(document.activeElement) ? document.activeElement : null;
  box.replaceChildren(...buttons, h('span', { class: 'ack-group' }, ['30m', '2h', '24h'].map(ack)));
  const again = had && (had.id
    ? box.querySelector(`#${CSS.escape(had.id)}`)
    : box.querySelector(`[data-duration="${CSS.escape(had.dataset.duration || '')}"]`));
  again?.focus();
}
