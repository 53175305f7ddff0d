// What every view shares: the API client, the token, confirmations, DOM helpers and
// formatting. No framework: the page must load from the binary alone, on an air-gapped
// host, with nothing to build.

/** The latest data every view reads; refreshed by the poll in app.js. */
export const store = {
  overview: null,
  targets: null,
  policies: null,
  // Server clock minus browser clock, so that countdowns tick in the server's time.
  offset: 0,
  reachable: true,
  unreachableSince: null,
  lastError: '',
};

/** An API answer that was not 2xx. */
export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

const TOKEN_KEY = 'hale-token';

/** The bearer token, kept for this tab only (sessionStorage), never in a URL. */
export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

/** Remembers (or, empty, forgets) the token. */
export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
  document.dispatchEvent(new CustomEvent('hale-token'));
}

/**
 * Fetches an API path; JSON answers are parsed, errors thrown as ApiError. The token kept
 * for this tab goes with every request: a hale started with --api-read-token-file needs it
 * for reads too. `auth` marks a control (it asks for the token first, see guarded()).
 */
export async function api(path, { method = 'GET', body, type, auth = false, text = false } = {}) {
  const headers = { Accept: text ? 'text/plain, application/yaml, */*' : 'application/json' };
  if (token()) headers.Authorization = `Bearer ${token()}`;
  if (body !== undefined) headers['Content-Type'] = type || 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch (problem) {
    throw new ApiError(0, `hale is unreachable (${problem.message})`);
  }
  const raw = await response.text();
  let parsed = raw;
  if (!text || !response.ok) {
    try {
      parsed = raw ? JSON.parse(raw) : null;
    } catch {
      parsed = raw;
    }
  }
  if (!response.ok) {
    const message = (parsed && parsed.error) || raw || response.statusText;
    throw new ApiError(response.status, message, parsed);
  }
  return parsed;
}

/** Builds an element: h('a', {href: '#/'}, 'text', child, ...). */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      element.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      element.className = value;
    } else if (key === 'style') {
      // Through the CSSOM: the Content-Security-Policy forbids style attributes.
      Object.assign(element.style, value);
    } else if (key === 'dataset') {
      Object.assign(element.dataset, value);
    } else {
      element.setAttribute(key, value === true ? '' : value);
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** Escapes text for the few places that build HTML strings (large tables, for speed). */
export function esc(value) {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  })[c]);
}

/** Now, in the server's clock (milliseconds). */
export function serverNow() {
  return Date.now() + store.offset;
}

/** `41 s`, `3 m 20 s`, `2 h 5 m`. */
export function duration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} m ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} m`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

/** `12 s ago`. */
export function ago(ms) {
  return ms ? `${duration(serverNow() - ms)} ago` : '';
}

/** A local time for a timestamp in milliseconds. */
export function clock(ms) {
  if (!ms) return '';
  const date = new Date(ms);
  return date.toLocaleString(undefined, { hour12: false });
}

/** The name of an action as the policy writes it (a string, or a one-key object). */
export function actionName(action) {
  if (!action) return '';
  if (typeof action === 'string') return action;
  return Object.keys(action)[0] || '';
}

/** States, worst first: what needs attention comes first. */
export const SEVERITY = ['failing', 'quarantined', 'verifying', 'pending', 'degraded', 'unknown', 'healthy'];

/** A coloured badge for a target state. */
export function badge(stateName) {
  return h('span', { class: `badge state-${stateName}` }, stateName);
}

const confirmDialog = () => document.getElementById('confirm');

/** Asks before acting; resolves true when confirmed. Keyboard: Enter confirms, Esc cancels. */
export function confirmAction(title, detail) {
  const dialog = confirmDialog();
  dialog.querySelector('.confirm-title').textContent = title;
  dialog.querySelector('.confirm-detail').textContent = detail;
  return new Promise((resolve) => {
    const done = (answer) => {
      dialog.removeEventListener('close', onClose);
      resolve(answer);
    };
    const onClose = () => done(dialog.returnValue === 'yes');
    dialog.addEventListener('close', onClose);
    dialog.returnValue = '';
    dialog.showModal();
    dialog.querySelector('button[value=yes]').focus();
  });
}

/** Asks for the token when none is kept; resolves true when there is one. */
export function ensureToken() {
  if (token()) return Promise.resolve(true);
  const dialog = document.getElementById('token-dialog');
  return new Promise((resolve) => {
    const onClose = () => {
      dialog.removeEventListener('close', onClose);
      resolve(Boolean(token()));
    };
    dialog.addEventListener('close', onClose);
    dialog.showModal();
    dialog.querySelector('input').focus();
  });
}

/**
 * A guarded control: asks for confirmation, then the token, posts, and shows in `panel`
 * the answer and the audit record it produced (the newest one for `audit`).
 */
export async function runControl({ title, detail, path, body, panel, audit }) {
  if (!(await confirmAction(title, detail))) return null;
  if (!(await ensureToken())) {
    show(panel, 'error', 'No token: the controls need the token of `hale run --api-token-file`.');
    return null;
  }
  let before = 0;
  if (audit) {
    try {
      const latest = await api(`/api/v1/events?n=1&${audit}`);
      before = latest.length ? latest[0].seq : 0;
    } catch {
      before = 0;
    }
  }
  try {
    const answer = await api(path, { method: 'POST', body, auth: true });
    const result = (answer && answer.result) || JSON.stringify(answer);
    show(panel, 'ok', result);
    if (audit) showRecord(panel, audit, before);
    document.dispatchEvent(new CustomEvent('hale-refresh'));
    return answer;
  } catch (problem) {
    if (problem.status === 401) setToken('');
    const hint = problem.status === 401 ? ' The token was refused; enter it again.' : '';
    show(panel, 'error', `${problem.message}${hint}`);
    return null;
  }
}

function show(panel, kind, message) {
  if (!panel) return;
  panel.replaceChildren(h('p', { class: `result result-${kind}`, role: 'status' }, message));
}

/** Waits briefly for the audit records a control produced, and shows them as they come:
 * one control can write several (a heal: failing, then the action and its result), and
 * they are written one after another, so the first poll may see only the first. Stops once
 * no new record came for a second, or after five seconds. */
async function showRecord(panel, audit, before) {
  let shown = 0;
  let quiet = 0;
  for (let attempt = 0; attempt < 20 && quiet < 4; attempt += 1) {
    try {
      const latest = await api(`/api/v1/events?n=5&${audit}`);
      const fresh = latest.filter((event) => event.seq > before).reverse();
      if (fresh.length > shown) {
        shown = fresh.length;
        quiet = 0;
        panel.querySelector('.audit-record')?.remove();
        panel.append(h('div', { class: 'audit-record' },
          h('p', {}, shown === 1 ? 'Audit record:' : 'Audit records:'),
          fresh.map((event) => h('pre', { class: 'record' }, recordLine(event)))));
      } else if (shown) {
        quiet += 1;
      }
    } catch {
      // The answer above already said what happened; the records are a bonus.
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** One audit record as a line: `#12 14:03:02 restarted web-1 (autoheal): reason`. */
export function recordLine(event) {
  const target = event.target ? ` ${event.target.name}` : '';
  const action = event.action ? ` ${actionName(event.action)}` : '';
  return `#${event.seq} ${clock(event.time)} ${event.kind}${action}${target} (${event.policy}): ${event.reason}`;
}

/** readyState of a stream that ended, as EventSource.CLOSED. */
export const STREAM_CLOSED = 2;

/**
 * The audit stream at `url`. EventSource cannot send an Authorization header, so with a
 * token kept the stream is read with fetch instead: the same events, ids and end, and the
 * caller reconnects after the last id it saw either way. The token never goes in a URL.
 */
export function eventStream(url) {
  return token() ? new FetchEventSource(url, token()) : new EventSource(url);
}

/** The part of EventSource the console uses, over fetch with a bearer token. */
class FetchEventSource {
  constructor(url, bearer) {
    this.readyState = 0;
    this.onopen = null;
    this.onmessage = null;
    this.onerror = null;
    this.listeners = new Map();
    this.controller = new AbortController();
    this.read(url, bearer);
  }

  addEventListener(type, listener) {
    if (!this.listeners.has(type)) this.listeners.set(type, []);
    this.listeners.get(type).push(listener);
  }

  close() {
    this.readyState = STREAM_CLOSED;
    this.controller.abort();
  }

  dispatch(type, data, lastEventId) {
    const message = { type, data, lastEventId };
    if (type === 'message' && this.onmessage) this.onmessage(message);
    for (const listener of this.listeners.get(type) || []) listener(message);
  }

  async read(url, bearer) {
    try {
      const response = await fetch(url, {
        headers: { Accept: 'text/event-stream', Authorization: `Bearer ${bearer}` },
        cache: 'no-store',
        credentials: 'same-origin',
        signal: this.controller.signal,
      });
      if (!response.ok) throw new ApiError(response.status, response.statusText);
      this.readyState = 1;
      if (this.onopen) this.onopen();
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      let type = 'message';
      let data = [];
      let id = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, end).replace(/\r$/, '');
          buffer = buffer.slice(end + 1);
          if (line === '') {
            if (data.length) this.dispatch(type, data.join('\n'), id);
            type = 'message';
            data = [];
          } else if (!line.startsWith(':')) {
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (field === 'data') data.push(text);
            else if (field === 'event') type = text;
            else if (field === 'id') id = text;
          }
        }
      }
    } catch {
      // Closed by us, refused, or dropped: the same end as below.
    }
    if (this.readyState === STREAM_CLOSED) return;
    this.readyState = STREAM_CLOSED;
    if (this.onerror) this.onerror();
  }
}
