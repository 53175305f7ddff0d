// The dashboard's entry: the router (views live in the hash, so a filtered console or a
// target's page is a shareable URL), the poll that keeps every view current, the banner
// that says so when hale cannot be reached, the theme and the token.

import { store, api, h, setToken, token, serverNow } from './core.js';
import * as overview from './overview.js';
import * as targets from './targets.js';
import * as target from './target.js';
import * as events from './console.js';
import * as policies from './policies.js';
import * as docs from './docs.js';

const POLL_MS = 2000;

const views = [
  { pattern: /^\/?$/, view: overview, nav: 'overview' },
  { pattern: /^\/targets\/(.+)$/, view: target, nav: 'targets' },
  { pattern: /^\/targets$/, view: targets, nav: 'targets' },
  { pattern: /^\/events$/, view: events, nav: 'events' },
  { pattern: /^\/policies(?:\/(.*))?$/, view: policies, nav: 'policies' },
  { pattern: /^\/import$/, view: policies, nav: 'policies', mode: 'import' },
  { pattern: /^\/docs$/, view: docs, nav: 'docs' },
];

let current = null;

/** The route: path and query of the hash (`#/events?kind=failing`). */
export function route() {
  const hash = location.hash.replace(/^#/, '');
  const [path, query = ''] = hash.split('?');
  if (!hash && location.pathname === '/docs') return { path: '/docs', query: new URLSearchParams() };
  return { path: path || '/', query: new URLSearchParams(query) };
}

function navigate() {
  const { path, query } = route();
  const match = views.map((v) => ({ ...v, m: path.match(v.pattern) })).find((v) => v.m);
  if (current && current.cleanup) current.cleanup();
  const main = document.getElementById('main');
  main.replaceChildren();
  for (const link of document.querySelectorAll('#nav a')) {
    link.toggleAttribute('aria-current', link.dataset.nav === (match && match.nav));
  }
  if (!match) {
    main.append(h('h1', {}, 'Not found'), h('p', {}, `No page ${path}. `, h('a', { href: '#/' }, 'Overview')));
    current = null;
    return;
  }
  const params = match.m.slice(1).map((p) => (p === undefined ? undefined : decodeURIComponent(p)));
  current = { view: match.view, cleanup: null };
  current.cleanup = match.view.render(main, { params, query, mode: match.mode }) || null;
  if (store.overview) match.view.refresh?.(main);
  document.title = `hale · ${match.nav}`;
}

async function poll() {
  try {
    const [overviewData, targetList, policyList] = await Promise.all([
      api('/'),
      api('/api/v1/targets'),
      // Without each policy's targets again: the targets list has them.
      api('/api/v1/policies?targets=false'),
    ]);
    store.offset = overviewData.now ? overviewData.now - Date.now() : 0;
    store.overview = overviewData;
    store.targets = targetList;
    store.policies = policyList;
    reachable(true);
    if (current) current.view.refresh?.(document.getElementById('main'));
    // What a person waits for: the first view drawn with data (read by the benchmark).
    if (!performance.getEntriesByName('hale-first-render').length) performance.mark('hale-first-render');
  } catch (problem) {
    store.lastError = problem.message;
    reachable(false);
    // This hale needs a token to read (--api-read-token-file): ask for it once.
    const dialog = document.getElementById('token-dialog');
    if (problem.status === 401 && !asked && !dialog.open) {
      asked = true;
      dialog.showModal();
    }
  }
}

/** Whether the token dialog was opened for a refused read already. */
let asked = false;

/** Shows or hides the banner; while hale is unreachable no data is shown as current. */
function reachable(ok) {
  const banner = document.getElementById('banner');
  const main = document.getElementById('main');
  if (ok) {
    store.reachable = true;
    store.unreachableSince = null;
    banner.hidden = true;
    main.classList.remove('stale');
    main.removeAttribute('aria-hidden');
    return;
  }
  if (store.reachable) store.unreachableSince = Date.now();
  store.reachable = false;
  banner.hidden = false;
  banner.textContent = `hale is unreachable since ${new Date(store.unreachableSince).toLocaleTimeString(undefined, { hour12: false })} (${store.lastError}). What this page showed is hidden until it answers again; retrying every ${POLL_MS / 1000} s.`;
  main.classList.add('stale');
  main.setAttribute('aria-hidden', 'true');
}

function theme() {
  const saved = localStorage.getItem('hale-theme');
  if (saved) document.documentElement.dataset.theme = saved;
  document.getElementById('theme').addEventListener('click', () => {
    const dark = matchMedia('(prefers-color-scheme: dark)').matches;
    const now = document.documentElement.dataset.theme || (dark ? 'dark' : 'light');
    const next = now === 'dark' ? 'light' : 'dark';
    document.documentElement.dataset.theme = next;
    localStorage.setItem('hale-theme', next);
  });
}

function tokenControls() {
  const button = document.getElementById('token-button');
  const dialog = document.getElementById('token-dialog');
  const input = dialog.querySelector('input');
  const label = () => {
    button.textContent = token() ? 'Token ✓' : 'Token';
    button.title = token() ? 'A token is kept for this tab; click to change or forget it' : 'Enter the API token to use the controls (or, on a hale that needs one, to read)';
  };
  button.addEventListener('click', () => {
    input.value = '';
    dialog.showModal();
    input.focus();
  });
  dialog.querySelector('form').addEventListener('submit', (event) => {
    if (event.submitter && event.submitter.value === 'forget') setToken('');
    else if (input.value.trim()) setToken(input.value.trim());
    input.value = '';
  });
  document.addEventListener('hale-token', label);
  label();
}

function tick() {
  const now = serverNow();
  for (const element of document.querySelectorAll('[data-until]')) {
    const left = Number(element.dataset.until) - now;
    element.textContent = left > 0 ? `${Math.ceil(left / 1000)} s` : '—';
  }
}

theme();
tokenControls();
window.addEventListener('hashchange', navigate);
document.addEventListener('hale-refresh', () => setTimeout(poll, 200));
document.addEventListener('hale-token', () => {
  asked = false;
  poll();
});
navigate();
poll();
setInterval(poll, POLL_MS);
setInterval(tick, 1000);
