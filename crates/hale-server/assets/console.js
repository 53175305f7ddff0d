// The live events console: the audit stream over Server-Sent Events. A dropped
// connection resumes after the last record seen (EventSource sends Last-Event-ID; a new
// stream passes `after`), and records are kept by sequence number, so nothing is missed
// or shown twice. Rendering is batched per animation frame into a bounded list, so a
// burst of 1,000 records a second does not freeze the page.

import { api, h, esc, clock, actionName, store, eventStream, STREAM_CLOSED } from './core.js';

/** Rows kept on the page; older ones are removed as new ones arrive. */
const MAX_ROWS = 1000;
/** Records held while paused; beyond this the oldest held are let go (and counted). */
const MAX_HELD = 5000;
/** Filters the server applies, and those applied here. */
const SERVER_FILTERS = ['kind', 'policy', 'target', 'q'];
const CLIENT_FILTERS = ['alert', 'trace'];

let source = null;
let lastSeq = 0;
let held = [];
let frame = 0;
let counters = { received: 0, shown: 0, letGo: 0 };
let paused = false;
let follow = true;
let filters = {};
let list = null;
let statusLine = null;

export function render(main, { query }) {
  filters = Object.fromEntries([...SERVER_FILTERS, ...CLIENT_FILTERS].map((k) => [k, query.get(k) || '']));
  lastSeq = 0;
  held = [];
  counters = { received: 0, shown: 0, letGo: 0 };
  paused = false;
  const inputs = [...SERVER_FILTERS, ...CLIENT_FILTERS].map((key) => h('label', {},
    ({ kind: 'Kind', policy: 'Policy', target: 'Target', q: 'Text', alert: 'Alert name', trace: 'Trace' })[key],
    h('input', { id: `console-${key}`, name: key, value: filters[key], type: 'search', list: key === 'kind' ? 'kinds' : undefined, placeholder: key === 'kind' ? 'failing,restart' : '' })));
  let debounce = 0;
  const form = h('form', { class: 'toolbar console-filters', onsubmit: (e) => e.preventDefault() }, inputs);
  form.addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      filters = Object.fromEntries([...form.querySelectorAll('input')].map((i) => [i.name, i.value.trim()]));
      const params = new URLSearchParams(Object.entries(filters).filter(([, v]) => v));
      history.replaceState(null, '', `#/events${params.toString() ? `?${params}` : ''}`);
      restart();
    }, 300);
  });
  const pauseButton = h('button', { id: 'console-pause', type: 'button', 'aria-pressed': 'false' }, 'Pause');
  pauseButton.addEventListener('click', () => {
    paused = !paused;
    pauseButton.textContent = paused ? 'Resume' : 'Pause';
    pauseButton.setAttribute('aria-pressed', String(paused));
    if (!paused) schedule();
    status();
  });
  const followBox = h('input', { id: 'console-follow', type: 'checkbox', checked: true });
  followBox.addEventListener('change', () => { follow = followBox.checked; });
  const copy = h('button', { type: 'button', id: 'console-copy' }, 'Copy link');
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(location.href);
      copy.textContent = 'Copied';
    } catch {
      copy.textContent = 'Copy the address bar';
    }
    setTimeout(() => { copy.textContent = 'Copy link'; }, 1500);
  });
  statusLine = h('p', { id: 'console-status', class: 'quiet', 'aria-live': 'polite' });
  list = h('ol', { id: 'console-list', class: 'console', tabindex: '0', 'aria-label': 'Audit records, oldest first' });
  main.append(
    h('h1', {}, 'Events'),
    form,
    h('datalist', { id: 'kinds' }),
    h('div', { class: 'toolbar' }, pauseButton, h('label', {}, followBox, ' Follow newest'), copy),
    statusLine,
    list,
  );
  restart();
  // A new token (a refused read asked for one): start again with it.
  const onToken = () => restart();
  document.addEventListener('hale-token', onToken);
  return () => {
    document.removeEventListener('hale-token', onToken);
    if (source) source.close();
    source = null;
    cancelAnimationFrame(frame);
  };
}

function streamUrl() {
  const params = new URLSearchParams();
  if (filters.kind) params.set('kind', filters.kind);
  if (filters.policy) params.set('policy', filters.policy);
  if (filters.target) params.set('target', filters.target);
  if (filters.q) params.set('contains', filters.q);
  if (lastSeq) params.set('after', String(lastSeq));
  else params.set('n', '200');
  return `/api/v1/events/stream?${params}`;
}

async function restart() {
  if (source) source.close();
  source = null;
  lastSeq = 0;
  held = [];
  counters = { received: 0, shown: 0, letGo: 0 };
  list.replaceChildren();
  // Check the filters first: EventSource cannot read an error's body.
  const check = new URLSearchParams(new URL(streamUrl(), location.href).search);
  check.set('n', '0');
  try {
    await api(`/api/v1/events?${check}`);
  } catch (problem) {
    statusLine.textContent = problem.message;
    statusLine.className = 'bad';
    return;
  }
  connect();
}

async function connect() {
  // Each record arrives as an event named after its kind: listen to every kind the server
  // has (it says which), so that none is missed.
  const overview = store.overview || (await api('/'));
  document.getElementById('kinds')?.replaceChildren(...overview.kindFilters.map((k) => h('option', { value: k })));
  const stream = eventStream(streamUrl());
  source = stream;
  stream.onopen = () => status('live');
  const receive = (message) => {
    let event;
    try {
      event = JSON.parse(message.data);
    } catch {
      return;
    }
    if (event.seq <= lastSeq) return;
    lastSeq = event.seq;
    counters.received += 1;
    if (!matchesHere(event)) return;
    held.push(event);
    if (held.length > MAX_HELD) {
      counters.letGo += held.length - MAX_HELD;
      held.splice(0, held.length - MAX_HELD);
    }
    schedule();
  };
  stream.onmessage = receive;
  for (const kind of overview.eventKinds) stream.addEventListener(kind, receive);
  stream.addEventListener('lagged', () => status('catching up'));
  stream.onerror = () => {
    if (source !== stream) return;
    if (stream.readyState === STREAM_CLOSED) {
      // The browser gave up (an error answer): open a new stream after the last record.
      status('reconnecting');
      setTimeout(() => { if (source === stream) connect(); }, 1000);
    } else {
      status('reconnecting');
    }
  };
}

function matchesHere(event) {
  if (filters.trace && event.trace_id !== filters.trace) return false;
  if (filters.alert) {
    const alert = filters.alert.toLowerCase();
    const text = `${event.signal || ''} ${event.reason || ''}`.toLowerCase();
    if (!text.includes(alert)) return false;
  }
  return true;
}

function schedule() {
  if (paused) status();
  else if (!frame) frame = requestAnimationFrame(flush);
}

function row(e) {
  const target = e.target ? e.target.name : '';
  const action = e.action ? ` ${actionName(e.action)}` : '';
  const trace = e.trace_id ? ` <a class="trace" href="#/events?trace=${esc(e.trace_id)}">trace</a>` : '';
  return `<li class="event kind-${esc(e.kind)}" data-seq="${e.seq}"><time>${esc(clock(e.time))}</time> <b>${esc(e.kind)}${esc(action)}</b> `
    + `${target ? `<a href="#/targets/${encodeURIComponent(target)}">${esc(target)}</a> ` : ''}<span class="quiet">${esc(e.policy)}</span> ${esc(e.reason)}${trace}</li>`;
}

/** Renders everything held in one go: one DOM update per frame, whatever the rate. */
function flush() {
  frame = 0;
  if (paused || !held.length) {
    status();
    return;
  }
  const batch = held.length > MAX_ROWS ? held.slice(-MAX_ROWS) : held;
  counters.shown += held.length;
  held = [];
  list.insertAdjacentHTML('beforeend', batch.map(row).join(''));
  const extra = list.childElementCount - MAX_ROWS;
  for (let i = 0; i < extra; i += 1) list.firstElementChild.remove();
  if (follow) list.scrollTop = list.scrollHeight;
  list.dataset.lastSeq = String(lastSeq);
  status();
}

function status(state) {
  if (!statusLine) return;
  if (state) statusLine.dataset.state = state;
  statusLine.className = 'quiet';
  const shownState = paused ? 'paused' : statusLine.dataset.state || 'connecting';
  statusLine.textContent = `${shownState} · ${counters.received} received · ${held.length} held${counters.letGo ? ` · ${counters.letGo} let go while paused` : ''} · showing the newest ${Math.min(list.childElementCount, MAX_ROWS)}`;
  statusLine.dataset.received = String(counters.received);
}
