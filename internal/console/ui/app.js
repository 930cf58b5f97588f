// truesight console. Plain JavaScript, no build step. Every text that
// comes from the agent (process names, paths, rule output) is untrusted:
// it is only ever put in the page as text (createTextNode/textContent),
// never as HTML.
'use strict';

const PRIORITIES = ['Emergency', 'Alert', 'Critical', 'Error', 'Warning', 'Notice', 'Informational', 'Debug'];
const MAX_ROWS = 2000;

const $ = (id) => document.getElementById(id);

// el builds an element; children are nodes or strings (as text).
function el(tag, cls, ...children) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
  return e;
}

function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); }

function showError(msg) {
  const e = $('error');
  e.textContent = msg;
  e.hidden = !msg;
}

async function api(path) {
  const r = await fetch(path, { credentials: 'same-origin', cache: 'no-store' });
  if (r.status === 401) {
    showError('This console needs its token: open the link the agent logged at start.');
    throw new Error('unauthorized');
  }
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

// ---- Alerts ----

const alerts = []; // {seq, alert}, oldest first
let selectedSeq = 0;

function field(a, name) {
  const f = a.output_fields || {};
  return f[name] === undefined || f[name] === null ? '' : String(f[name]);
}

function filters() {
  return {
    priority: $('f-priority').value,
    rule: $('f-rule').value.trim().toLowerCase(),
    container: $('f-container').value.trim(),
    pod: $('f-pod').value.trim(),
    text: $('f-text').value.trim().toLowerCase(),
  };
}

function matches(item, f) {
  const a = item.alert;
  if (f.priority && PRIORITIES.indexOf(a.priority) > PRIORITIES.indexOf(f.priority)) return false;
  if (f.rule && !a.rule.toLowerCase().includes(f.rule)) return false;
  if (f.container) {
    const id = field(a, 'container.id');
    if (field(a, 'container.name') !== f.container && !(id && f.container.startsWith(id))) return false;
  }
  if (f.pod && field(a, 'k8s.pod.name') !== f.pod) return false;
  if (f.text && !item.text.includes(f.text)) return false;
  return true;
}

function alertRow(item, isNew) {
  const a = item.alert;
  const ctr = field(a, 'container.name') || field(a, 'container.id');
  const tr = el('tr', 'alert' + (isNew ? ' new' : ''),
    el('td', 'time', a.time.replace('T', ' ').slice(0, 23)),
    el('td', 'p-' + a.priority, a.priority),
    el('td', 'rule', a.rule),
    el('td', 'container', ctr),
    el('td', 'output', a.message !== undefined ? a.message : a.output));
  tr.dataset.seq = item.seq;
  tr.dataset.rule = a.rule;
  if (item.seq === selectedSeq) tr.classList.add('selected');
  tr.addEventListener('click', () => showAlert(item));
  return tr;
}

function renderAlerts() {
  const f = filters();
  const body = $('alert-rows');
  clear(body);
  let n = 0;
  for (let i = alerts.length - 1; i >= 0 && n < MAX_ROWS; i--) {
    if (matches(alerts[i], f)) { body.appendChild(alertRow(alerts[i], false)); n++; }
  }
  $('alert-count').textContent = n + ' of ' + alerts.length + ' alerts';
}

function addAlert(item) {
  item.text = JSON.stringify(item.alert).toLowerCase();
  alerts.push(item);
  if (alerts.length > MAX_ROWS) alerts.shift();
  if (!matches(item, filters())) return;
  const body = $('alert-rows');
  body.insertBefore(alertRow(item, true), body.firstChild);
  while (body.childNodes.length > MAX_ROWS) body.removeChild(body.lastChild);
  $('alert-count').textContent = body.childNodes.length + ' of ' + alerts.length + ' alerts';
}

function showAlert(item) {
  selectedSeq = item.seq;
  for (const tr of document.querySelectorAll('tr.alert.selected')) tr.classList.remove('selected');
  const tr = document.querySelector('tr.alert[data-seq="' + item.seq + '"]');
  if (tr) tr.classList.add('selected');
  const a = item.alert;
  $('alert-detail').hidden = false;
  $('detail-rule').textContent = a.rule;
  $('detail-output').textContent = a.output;
  const dl = $('detail-fields');
  clear(dl);
  const add = (k, v) => { dl.appendChild(el('dt', null, k)); dl.appendChild(el('dd', null, v)); };
  add('priority', a.priority);
  add('time', a.time);
  add('source', a.source);
  add('hostname', a.hostname);
  if (a.tags) add('tags', a.tags.join(', '));
  const f = a.output_fields || {};
  for (const k of Object.keys(f).sort()) add(k, f[k] === null ? '<NA>' : String(f[k]));
}

let lastSeq = 0;
let source = null;

async function startAlerts() {
  const body = await api('/ui/api/alerts?limit=' + MAX_ROWS);
  for (const it of body.alerts) { it.text = JSON.stringify(it.alert).toLowerCase(); alerts.push(it); }
  lastSeq = body.last;
  renderAlerts();
  connect();
}

function connect() {
  source = new EventSource('/ui/api/events?since=' + lastSeq);
  source.onopen = () => { $('live').textContent = 'live'; $('live').className = 'on'; };
  source.onerror = () => { $('live').textContent = 'disconnected'; $('live').className = 'off'; };
  source.onmessage = (m) => {
    const seq = Number(m.lastEventId);
    if (seq <= lastSeq) return;
    lastSeq = seq;
    addAlert({ seq: seq, alert: JSON.parse(m.data) });
  };
  source.addEventListener('dropped', (m) => {
    const d = JSON.parse(m.data).dropped;
    $('dropped').textContent = d + ' alerts dropped: this page fell behind';
  });
}

for (const id of ['f-priority', 'f-rule', 'f-container', 'f-pod', 'f-text']) {
  $(id).addEventListener('input', renderAlerts);
}
$('filters').addEventListener('submit', (e) => e.preventDefault());

// ---- Containers ----

let currentContainer = '';

async function loadContainers() {
  const list = await api('/ui/api/containers');
  const body = $('container-rows');
  clear(body);
  for (const c of list) {
    const kinds = Object.keys(c.findings).sort().map((k) => k + ' ' + c.findings[k]).join(', ');
    const tr = el('tr', 'container' + (kinds ? ' has-findings' : ''),
      el('td', 'name', c.name || '(unknown)'), el('td', 'id', c.id), el('td', null, c.image || ''),
      el('td', null, c.pod || ''), el('td', null, c.namespace || ''), el('td', null, c.runtime || ''),
      el('td', null, c.processes), el('td', 'findings', kinds));
    tr.dataset.id = c.id;
    tr.addEventListener('click', () => { location.hash = 'container=' + encodeURIComponent(c.id); });
    if (c.id === currentContainer) tr.classList.add('selected');
    body.appendChild(tr);
  }
}

function findingItem(f) {
  const li = el('li', 'finding k-' + f.kind.replace(/[^a-z0-9_]/gi, ''),
    el('span', 'kind', f.kind), el('span', 'summary', f.summary || ''));
  li.dataset.kind = f.kind;
  const dl = el('dl', 'evidence');
  const add = (k, v) => { if (v) { dl.appendChild(el('dt', null, k)); dl.appendChild(el('dd', null, v)); } };
  add('process', f.pid ? f.pid + ' ' + (f.comm || '') : '');
  add('cmdline', f.cmdline);
  add('root', f.root);
  add('views', f.views);
  add('library', f.library);
  add('sha256', f.sha256);
  add('symbols', f.symbols);
  for (const k of Object.keys(f.detail || {}).sort()) add(k, f.detail[k]);
  add('reported', f.reports + ' times, last ' + new Date(f.time / 1e6).toISOString());
  li.appendChild(dl);
  return li;
}

function procNode(n, kids, path) {
  const line = el('div', 'line', el('span', 'pid', n.pid + (n.vpid && n.vpid !== n.pid ? ' (' + n.vpid + ')' : '')),
    el('span', 'comm', n.comm), el('span', 'cmdline', n.cmdline !== n.comm ? n.cmdline : ''));
  if (n.container_name || n.container) line.appendChild(el('span', 'ctr', '[' + (n.container_name || n.container) + ']'));
  const li = el('li', 'proc', line);
  li.dataset.pid = n.pid;
  li.dataset.comm = n.comm;
  if (n.missing && n.missing.length) {
    li.classList.add('hidden-proc');
    line.appendChild(el('span', 'badge hidden', 'hidden from ' + n.missing.join(', ')));
    for (const f of n.hidden) {
      const dl = el('dl', 'evidence');
      const add = (k, v) => { if (v) { dl.appendChild(el('dt', null, k)); dl.appendChild(el('dd', null, v)); } };
      add('views', f.views);
      add('library', f.library);
      add('sha256', f.sha256);
      add('symbols', f.symbols);
      add('hidden from', (f.detail || {}).hidden_from);
      li.appendChild(dl);
    }
  }
  if (n.not_in_kernel) line.appendChild(el('span', 'badge hidden', 'not in the kernel task list'));
  if (n.alerts) { li.classList.add('alerted'); line.appendChild(el('span', 'badge alerts', n.alerts + ' alerts')); }
  if (path.has(n.pid)) li.classList.add('alert-path');
  const children = kids.get(n.pid) || [];
  if (children.length) {
    const ul = el('ul');
    for (const c of children) ul.appendChild(procNode(c, kids, path));
    li.appendChild(ul);
  }
  return li;
}

async function loadContainer(id) {
  const [tree, findings] = await Promise.all([
    api('/ui/api/processes?container=' + encodeURIComponent(id)),
    api('/ui/api/findings?container=' + encodeURIComponent(id)),
  ]);
  if (id !== currentContainer) return;
  $('container-view').hidden = false;
  $('container-title').textContent = (tree.name || tree.container) + (tree.container !== tree.name ? ' ' + tree.container : '');
  const fl = $('findings');
  clear(fl);
  for (const f of findings) fl.appendChild(findingItem(f));
  if (!findings.length) fl.appendChild(el('li', 'none', 'none'));

  const byPid = new Map(tree.processes.map((p) => [p.pid, p]));
  const kids = new Map();
  const roots = [];
  for (const p of tree.processes) {
    if (p.ppid !== p.pid && byPid.has(p.ppid)) {
      if (!kids.has(p.ppid)) kids.set(p.ppid, []);
      kids.get(p.ppid).push(p);
    } else roots.push(p);
  }
  // The ancestry of alerting processes.
  const path = new Set();
  for (const p of tree.processes) {
    if (!p.alerts) continue;
    for (let q = byPid.get(p.ppid), i = 0; q && i < 64; q = byPid.get(q.ppid), i++) path.add(q.pid);
  }
  const ul = $('tree');
  clear(ul);
  for (const r of roots) ul.appendChild(procNode(r, kids, path));
}

// ---- Health ----

async function loadHealth() {
  const h = await api('/ui/api/health');
  $('hostname').textContent = h.hostname;
  const dl = $('health');
  clear(dl);
  const add = (k, v) => { const dt = el('dt', null, k); const dd = el('dd', null, v); dd.dataset.key = k; dl.appendChild(dt); dl.appendChild(dd); };
  add('events/s', h.events_per_second.toFixed(0));
  add('events', h.events_total);
  add('kernel drops', h.kernel.drops + ' of ' + h.kernel.events + ' records');
  add('alerts', h.alerts_total + (h.alerts_suppressed ? ' (' + h.alerts_suppressed + ' suppressed)' : ''));
  for (const o of h.outputs) add('output ' + o.name, o.sent + ' sent, ' + o.failed + ' failed, ' + o.dropped + ' dropped, ' + o.queued + '/' + o.capacity + ' queued');
  add('rules loaded', h.rules_loaded);
  add('rules reloads', h.reloads_ok + ' ok, ' + h.reload_errors + ' failed');
  add('processes', h.process_table);
  const s = h.last_scan;
  add('last scan', s ? s.time + ' (' + s.duration_ms.toFixed(0) + ' ms, ' + s.findings + ' findings' + (s.error ? ', failed: ' + s.error : '') + ')' : 'none yet');
  const c = h.console;
  add('console', c.alerts_kept + '/' + c.alert_ring + ' alerts kept, ' + c.clients + ' live clients, ' + c.client_drops + ' dropped for slow clients');
  add('uptime', Math.round(h.uptime_seconds) + ' s');
}

// ---- Navigation ----

let timer = 0;

function route() {
  const h = decodeURIComponent(location.hash.slice(1)) || 'alerts';
  const view = h.startsWith('container') ? 'containers' : h;
  for (const v of ['alerts', 'containers', 'health']) {
    $(v + '-view').hidden = v !== view;
    $('nav-' + v).classList.toggle('current', v === view);
  }
  currentContainer = h.startsWith('container=') ? h.slice('container='.length) : '';
  if (!currentContainer) $('container-view').hidden = true;
  clearInterval(timer);
  const refresh = () => {
    const jobs = [loadHealth()];
    if (view === 'containers') jobs.push(loadContainers());
    if (currentContainer) jobs.push(loadContainer(currentContainer));
    Promise.all(jobs).then(() => { if ($('error').textContent !== '' && $('live').className === 'on') showError(''); })
      .catch((e) => { if (e.message !== 'unauthorized') showError(e.message); });
  };
  refresh();
  timer = setInterval(refresh, 2000);
}

window.addEventListener('hashchange', route);
route();
startAlerts().catch((e) => { if (e.message !== 'unauthorized') showError(e.message); });
