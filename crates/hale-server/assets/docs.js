// The API reference: /api/v1/openapi.json (generated from the handlers) drawn as a page,
// grouped by tag, with each route's parameters and answers, and "Try it" for reads.
// Guarded routes are tried with the token kept for this tab, after a confirmation.

import { api, h, token, ensureToken, confirmAction } from './core.js';

export function render(main) {
  main.append(h('h1', {}, 'API reference'), h('div', { id: 'api-docs' }, h('p', { class: 'quiet' }, 'Loading /api/v1/openapi.json…')));
  load(main.querySelector('#api-docs'));
  return null;
}

async function load(box) {
  let doc;
  try {
    doc = await api('/api/v1/openapi.json');
  } catch (problem) {
    box.replaceChildren(h('p', { class: 'bad' }, problem.message));
    return;
  }
  const byTag = new Map((doc.tags || []).map((t) => [t.name, { tag: t, operations: [] }]));
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const [method, operation] of Object.entries(item)) {
      const tag = (operation.tags || ['other'])[0];
      if (!byTag.has(tag)) byTag.set(tag, { tag: { name: tag }, operations: [] });
      byTag.get(tag).operations.push({ path, method, operation });
    }
  }
  box.replaceChildren(
    h('p', {}, `${doc.info.title} ${doc.info.version} · OpenAPI ${doc.openapi} · `, h('a', { href: '/api/v1/openapi.json' }, 'openapi.json')),
    h('p', { class: 'quiet' }, doc.info.description || ''),
    h('nav', { class: 'toc', 'aria-label': 'Sections' }, [...byTag.values()].map(({ tag }) => h('a', { href: `#docs-${tag.name}`, onclick: (e) => { e.preventDefault(); document.getElementById(`docs-${tag.name}`).scrollIntoView(); } }, tag.name))),
    ...[...byTag.values()].map(({ tag, operations }) => h('section', { id: `docs-${tag.name}` },
      h('h2', {}, tag.name), tag.description ? h('p', { class: 'quiet' }, tag.description) : null,
      operations.map(operationView))),
  );
}

function operationView({ path, method, operation }) {
  const guarded = (operation.security || []).length > 0;
  const params = operation.parameters || [];
  const inputs = params.map((p) => h('label', { class: 'param' },
    h('code', {}, p.name), ` (${p.in}${p.required ? ', required' : ''}) `, h('span', { class: 'quiet' }, p.description || ''),
    p.in === 'header' ? null : h('input', { name: p.name, dataset: { in: p.in }, 'aria-label': p.name })));
  const output = h('pre', { class: 'try-output', hidden: true });
  const bodyInput = operation.requestBody ? h('textarea', { rows: '4', class: 'try-body', 'aria-label': 'Request body', placeholder: operation.requestBody.description || '' }) : null;
  const tryIt = h('button', { type: 'button' }, 'Try it');
  tryIt.addEventListener('click', async () => {
    let url = path;
    const query = new URLSearchParams();
    for (const input of inputs.map((l) => l.querySelector('input')).filter(Boolean)) {
      if (!input.value) continue;
      if (input.dataset.in === 'path') url = url.replace(`{${input.name}}`, encodeURIComponent(input.value));
      else query.set(input.name, input.value);
    }
    if (/\{.+\}/.test(url)) {
      output.hidden = false;
      output.textContent = 'Fill in the path parameters first.';
      return;
    }
    if (path.endsWith('/stream')) {
      output.hidden = false;
      output.textContent = 'A stream: open the Events console to watch it live.';
      return;
    }
    const full = `${url}${query.toString() ? `?${query}` : ''}`;
    if (method !== 'get') {
      if (!(await confirmAction(`${method.toUpperCase()} ${full}?`, guarded ? 'This acts on the controller, with your token.' : 'This sends a request to the controller.'))) return;
      if (guarded && !(await ensureToken())) return;
    }
    output.hidden = false;
    output.textContent = '…';
    try {
      const headers = { Accept: 'application/json, text/plain, */*' };
      // Reads send the token too: a hale with --api-read-token-file needs it.
      if (token()) headers.Authorization = `Bearer ${token()}`;
      if (bodyInput) headers['Content-Type'] = Object.keys(operation.requestBody.content || {})[0] || 'application/json';
      const response = await fetch(full, { method: method.toUpperCase(), headers, body: bodyInput ? bodyInput.value : undefined });
      const text = await response.text();
      output.textContent = `${response.status} ${response.statusText}\n\n${text.slice(0, 20000)}`;
    } catch (problem) {
      output.textContent = problem.message;
    }
  });
  const responses = Object.entries(operation.responses || {}).map(([code, r]) => h('li', {}, h('code', {}, code), ` ${r.description || ''}`));
  return h('details', { class: 'operation', dataset: { path, method } },
    h('summary', {}, h('span', { class: `method method-${method}` }, method.toUpperCase()), ' ', h('code', {}, path), guarded ? h('span', { class: 'badge state-pending' }, 'token') : null,
      ' ', h('span', { class: 'quiet' }, operation.summary || '')),
    operation.description ? h('p', {}, operation.description) : null,
    inputs.length ? h('div', { class: 'params' }, h('h3', {}, 'Parameters'), inputs) : null,
    bodyInput ? h('div', {}, h('h3', {}, 'Body'), bodyInput) : null,
    h('h3', {}, 'Answers'), h('ul', {}, responses),
    tryIt, output);
}
