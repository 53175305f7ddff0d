// The policies in force (generation, conditions, source file:line, YAML, the targets each
// selects right now), an export of all as one YAML file, and import or edit with live
// validation that points at line:col. Writing needs `hale run --ui-writes`; without it the
// validated YAML is offered to commit instead (GitOps keeps the repository the truth).

import { store, api, h, badge, clock, runControl, ensureToken } from './core.js';

let mode = 'list';
let selected = '';

export function render(main, { params, query, mode: routeMode }) {
  mode = routeMode === 'import' ? 'import' : params[0] ? 'detail' : 'list';
  selected = params[0] || query.get('from') || '';
  if (mode === 'import') return renderEditor(main);
  if (mode === 'detail') {
    main.append(h('p', {}, h('a', { href: '#/policies' }, '← Policies')), h('div', { id: 'policy-detail' }));
    loadSource(main);
    return null;
  }
  main.append(
    h('h1', {}, 'Policies'),
    h('div', { class: 'toolbar' },
      h('a', { class: 'button', href: '/api/v1/policies/export', download: 'hale-policies.yaml', id: 'export' }, 'Export all as YAML'),
      h('a', { class: 'button', href: '#/import', id: 'import-link' }, 'Import or edit…')),
    h('div', { id: 'rejected' }),
    h('div', { class: 'table-wrap' }, h('table', { id: 'policies-table' },
      h('thead', {}, h('tr', {}, ['Policy', 'Generation', 'Mode', 'Conditions', 'Targets', 'Source'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}))),
  );
  return null;
}

function conditions(policy) {
  return h('ul', { class: 'conditions' }, (policy.conditions || []).map((c) => h('li', { class: `cond-${c.status}`, title: c.message },
    `${c.type || c.kind}: ${c.status}${c.reason ? ` (${c.reason})` : ''}`)));
}

export function refresh(main) {
  if (!store.policies) return;
  if (mode === 'list') {
    const body = main.querySelector('#policies-table tbody');
    const signature = JSON.stringify(store.policies.items.map((p) => [p.name, p.generation, p.observedGeneration, p.conditions, p.targetCount, p.circuitOpen]));
    if (body.dataset.signature === signature) return;
    body.dataset.signature = signature;
    body.replaceChildren(...store.policies.items.map((p) => h('tr', { dataset: { policy: p.name } },
      h('td', {}, h('a', { href: `#/policies/${encodeURIComponent(p.name)}` }, p.name),
        (store.overview?.paused || []).includes(p.name) ? h('span', { class: 'badge state-pending' }, 'paused') : null,
        p.circuitOpen ? h('span', { class: 'badge state-failing' }, 'circuit open') : null),
      h('td', {}, `${p.generation}${p.observedGeneration === p.generation ? '' : ` (applied: ${p.observedGeneration})`}`),
      h('td', {}, p.spec.mode || 'Enforce'),
      h('td', {}, conditions(p)),
      h('td', {}, String(p.targetCount)),
      h('td', {}, h('code', {}, `${p.file}:${p.line || 1}`)))));
    const rejected = store.policies.rejectedFiles || [];
    main.querySelector('#rejected').replaceChildren(...(rejected.length ? [h('div', { class: 'panel bad' },
      h('h2', {}, 'Rejected at the last reload'), h('ul', {}, rejected.flatMap((f) => f.errors.map((e) => h('li', {}, h('code', {}, e))))))] : []));
  } else if (mode === 'detail') {
    drawDetail(main);
  } else if (mode === 'import') {
    // What the editor offers depends on this hale: read at every poll.
    const writes = store.overview?.uiWrites;
    main.querySelector('#apply').textContent = writes ? 'Write into the policy directory' : 'Check and get the YAML to commit';
    main.querySelector('#writes-note').textContent = writes
      ? 'Valid YAML is written into the policy directory; the hot reload applies it, as for a committed file.'
      : 'This hale does not write policies (started without --ui-writes): validate here, then commit the YAML to the policy directory.';
  }
}

let source = null;

async function loadSource(main) {
  source = null;
  try {
    source = await api(`/api/v1/policies/${encodeURIComponent(selected)}/source`);
  } catch (problem) {
    source = { error: problem.message };
  }
  drawDetail(main, true);
}

function drawDetail(main, force) {
  const box = main.querySelector('#policy-detail');
  const p = (store.policies?.items || []).find((x) => x.name === selected);
  if (!box) return;
  const signature = JSON.stringify([p, source, store.overview?.paused, (store.targets?.items || []).filter((t) => t.policy === selected)]);
  if (!force && box.dataset.signature === signature) return;
  box.dataset.signature = signature;
  if (!p) {
    box.replaceChildren(h('h1', {}, selected), h('p', {}, 'No policy of this name is in force.'));
    return;
  }
  const paused = (store.overview?.paused || []).includes(p.name);
  const selects = (store.targets?.items || []).filter((t) => t.policy === p.name);
  const panel = h('div', { id: 'control-result', 'aria-live': 'polite' });
  box.replaceChildren(
    h('h1', {}, p.name),
    h('p', {}, `Generation ${p.generation} (applied: ${p.observedGeneration}) · ${p.spec.mode || 'Enforce'} · from `, h('code', {}, `${p.file}:${p.line || 1}`), ` · since ${clock(p.createdAt)}`),
    p.rejected ? h('p', { class: 'bad' }, `Its file was rejected at the last reload; the previous version stays in force: ${p.rejected}`) : '',
    conditions(p),
    h('div', { class: 'controls' },
      h('button', { id: paused ? 'resume' : 'pause', onclick: () => runControl({ title: `${paused ? 'Resume' : 'Pause'} policy ${p.name}?`, detail: paused ? 'It decides and acts again.' : 'Its targets are assessed, nothing decided or done, until resumed.', path: `/api/v1/policies/${encodeURIComponent(p.name)}/${paused ? 'resume' : 'pause'}`, panel, audit: `policy=${encodeURIComponent(p.name)}` }) }, paused ? 'Resume' : 'Pause'),
      h('a', { class: 'button', href: `#/import?from=${encodeURIComponent(p.name)}` }, 'Edit…')),
    panel,
    h('h2', {}, `Selects now (${selects.length})`),
    selects.length ? h('ul', { class: 'inline-list' }, selects.map((t) => h('li', {}, h('a', { href: `#/targets/${encodeURIComponent(t.name)}` }, t.name), ' ', badge(t.state)))) : h('p', { class: 'quiet' }, 'No target right now.'),
    h('h2', {}, 'YAML'),
    source?.error ? h('p', { class: 'bad' }, source.error) : h('pre', { class: 'yaml', id: 'policy-yaml' }, source ? source.yaml : 'Loading…'),
  );
}

function renderEditor(main) {
  const area = h('textarea', { id: 'editor', spellcheck: 'false', rows: '24', 'aria-label': 'Policy YAML', 'aria-describedby': 'diagnostics' });
  const diagnostics = h('ul', { id: 'diagnostics', class: 'diagnostics', 'aria-live': 'polite' });
  const result = h('div', { id: 'import-result', 'aria-live': 'polite' });
  const apply = h('button', { id: 'apply', type: 'button' }, '…');
  main.append(
    h('h1', {}, selected ? `Edit ${selected}` : 'Import a policy'),
    h('p', { class: 'quiet', id: 'writes-note' }),
    area, diagnostics,
    h('div', { class: 'toolbar' }, apply, h('input', { type: 'file', id: 'import-file', accept: '.yaml,.yml,text/yaml', 'aria-label': 'Load a YAML file' })),
    result,
  );
  let timer = 0;
  const check = async () => {
    try {
      const report = await api('/api/v1/policies/validate', { method: 'POST', body: area.value, type: 'application/yaml' });
      drawDiagnostics(diagnostics, area, report.diagnostics, report.valid ? `Valid: ${report.policies.join(', ') || 'no HealPolicy'}` : '');
    } catch (problem) {
      diagnostics.replaceChildren(h('li', { class: 'bad' }, problem.message));
    }
  };
  area.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(check, 250); });
  main.querySelector('#import-file').addEventListener('change', async (event) => {
    const file = event.target.files[0];
    if (file) {
      area.value = await file.text();
      check();
    }
  });
  apply.addEventListener('click', async () => {
    const writes = store.overview?.uiWrites;
    if (!writes) {
      // Nothing to send: this hale does not write. Check, and hand over the YAML to commit.
      try {
        const report = await api('/api/v1/policies/validate', { method: 'POST', body: area.value, type: 'application/yaml' });
        drawDiagnostics(diagnostics, area, report.diagnostics, report.valid ? `Valid: ${report.policies.join(', ')}` : '');
        if (!report.valid) {
          result.replaceChildren(h('p', { class: 'result result-error', role: 'alert' }, 'Not valid: fix the errors above; nothing was written.'));
          return;
        }
        const file = `${report.policies[0] || 'policy'}.yaml`;
        result.replaceChildren(
          h('p', { class: 'result result-ok', role: 'status' }, `Valid. This hale does not write policies (started without --ui-writes): commit it as ${file} in the policy directory, and the hot reload applies it.`),
          h('a', { class: 'button', id: 'download', download: file, href: `data:application/yaml;charset=utf-8,${encodeURIComponent(area.value)}` }, `Download ${file}`));
      } catch (problem) {
        result.replaceChildren(h('p', { class: 'result result-error', role: 'alert' }, problem.message));
      }
      return;
    }
    if (!(await ensureToken())) return;
    try {
      const answer = await api('/api/v1/policies', { method: 'POST', body: area.value, type: 'application/yaml', auth: true });
      result.replaceChildren(h('p', { class: 'result result-ok', role: 'status' }, answer.result));
      document.dispatchEvent(new CustomEvent('hale-refresh'));
    } catch (problem) {
      if (problem.body && problem.body.diagnostics) drawDiagnostics(diagnostics, area, problem.body.diagnostics, '');
      result.replaceChildren(h('p', { class: 'result result-error', role: 'alert' }, problem.message));
    }
  });
  if (selected) {
    api(`/api/v1/policies/${encodeURIComponent(selected)}/source`).then((s) => { area.value = s.yaml; check(); }).catch((problem) => {
      result.replaceChildren(h('p', { class: 'bad' }, problem.message));
    });
  }
  return null;
}

/** Lists the problems as `line:col: path: message`; a click puts the caret there. */
function drawDiagnostics(list, area, diagnostics, okText) {
  if (!diagnostics.length) {
    list.replaceChildren(h('li', { class: 'ok' }, okText || 'Valid.'));
    return;
  }
  list.replaceChildren(...diagnostics.map((d) => {
    const where = d.line ? `${d.line}:${d.column}` : 'file';
    const item = h('li', { class: d.severity === 'error' ? 'bad' : 'warn' },
      h('button', { type: 'button', class: 'link', dataset: { line: d.line || '', column: d.column || '' } }, where),
      `: ${d.path ? `${d.path}: ` : ''}${d.message}`);
    item.querySelector('button').addEventListener('click', () => {
      if (!d.line) return;
      const lines = area.value.split('\n');
      const offset = lines.slice(0, d.line - 1).reduce((n, l) => n + l.length + 1, 0) + Math.max(0, (d.column || 1) - 1);
      area.focus();
      area.setSelectionRange(offset, offset);
    });
    return item;
  }));
}
