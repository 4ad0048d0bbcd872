// Self-Healing Reserve dashboard: public state from /api, live steps from SSE /api/events,
// private figures only with the operator token (sent as a bearer token, kept in sessionStorage).
'use strict';
const $ = (s) => document.querySelector(s);
const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; };
const short = (h) => (h && h.length > 14 ? h.slice(0, 10) + '…' + h.slice(-4) : h);
const iso = (t) => (t ? new Date(t * 1000).toISOString().replace('.000Z', 'Z') : '–');

let token = sessionStorage.getItem('shr-operator-token') || '';
const m = location.hash.match(/token=([^&]+)/);
if (m) { token = decodeURIComponent(m[1]); sessionStorage.setItem('shr-operator-token', token); history.replaceState(null, '', location.pathname); }
let currentRun = null;
let privateSteps = {};

async function getJson(path, auth) {
  const headers = auth && token ? { Authorization: 'Bearer ' + token } : {};
  const r = await fetch(path, { headers });
  if (!r.ok) throw new Error(path + ': ' + r.status + ' ' + (await r.text()));
  return r.json();
}

function setSolvent(v) {
  const b = $('#solvent');
  const s = v === null || v === undefined ? 'unknown' : String(v);
  b.textContent = s; b.className = 'badge ' + s; b.dataset.value = s;
}

async function refreshReserve() {
  const r = await getJson('/api/reserve?history=1');
  // A stale status (older than the receiver's heartbeat + grace) means unknown.
  setSolvent(r.fresh === false ? null : r.is_solvent);
  $('#last-updated').textContent = iso(r.last_updated);
  $('#rounds').textContent = r.rounds; $('#series').textContent = r.series_readings;
  $('#reports').textContent = r.reports; $('#receiver').textContent = r.receiver || '–';
}

function drawRatio(series) {
  const svg = $('#ratio-chart'); svg.innerHTML = '';
  if (!series.length) return;
  const W = 900, H = 220, P = 28;
  const ts = series.map((p) => p[0]), ys = series.map((p) => p[1]);
  const t0 = Math.min(...ts), t1 = Math.max(...ts);
  const y0 = Math.min(0.99, ...ys), y1 = Math.max(1.01, ...ys);
  const x = (t) => P + (W - 2 * P) * (t - t0) / Math.max(1, t1 - t0);
  const y = (v) => H - P - (H - 2 * P) * (v - y0) / (y1 - y0);
  const ns = 'http://www.w3.org/2000/svg';
  const line = document.createElementNS(ns, 'line');
  Object.entries({ x1: P, x2: W - P, y1: y(1), y2: y(1), stroke: '#cf222e', 'stroke-dasharray': '4 4' }).forEach(([k, v]) => line.setAttribute(k, v));
  svg.appendChild(line);
  const path = document.createElementNS(ns, 'polyline');
  path.setAttribute('points', series.map((p) => x(p[0]).toFixed(1) + ',' + y(p[1]).toFixed(1)).join(' '));
  Object.entries({ fill: 'none', stroke: '#0969da', 'stroke-width': 1.5, id: 'ratio-line' }).forEach(([k, v]) => path.setAttribute(k, v));
  svg.appendChild(path);
  const label = (tx, px, py, anchor) => { const t = document.createElementNS(ns, 'text'); t.textContent = tx; t.setAttribute('x', px); t.setAttribute('y', py); t.setAttribute('font-size', 11); t.setAttribute('text-anchor', anchor || 'start'); svg.appendChild(t); };
  label(iso(t0).slice(0, 10), P, H - 8); label(iso(t1).slice(0, 10), W - P, H - 8, 'end');
  label(y1.toFixed(4), 2, P - 8); label(y0.toFixed(4), 2, H - P + 12); label('1.0000 (fully backed)', W - P, y(1) - 4, 'end');
  svg.dataset.points = series.length;
}

async function refreshOperator() {
  if (!token) { $('#token-status').textContent = 'public view: private figures hidden'; return; }
  try {
    const v = await getJson('/api/operator/view', true);
    $('#token-status').textContent = 'operator view (' + v.reserve_ratio.length + ' points)';
    drawRatio(v.reserve_ratio);
    privateSteps = {};
    for (const r of v.runs) privateSteps[r.run_id] = r.private;
    fillPrivate();
  } catch (e) { $('#token-status').textContent = String(e.message); }
}

function fillPrivate() {
  const p = currentRun && privateSteps[currentRun];
  if (!p) return;
  document.querySelectorAll('#steps tbody tr').forEach((tr, i) => {
    const s = p.steps[i];
    if (s) tr.querySelector('td.private').innerHTML = '<pre>' + escapeHtml(JSON.stringify(s.private, null, 1)) + '</pre>';
  });
}
function escapeHtml(s) { return s.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' }[c])); }

function addStep(index, s) {
  const tr = el('tr'); tr.dataset.step = index;
  tr.appendChild(el('td', String(index + 1)));
  tr.appendChild(el('td', s.name));
  tr.appendChild(el('td', s.ms.toFixed(2)));
  tr.appendChild(el('td', String(s.gas)));
  const tx = el('td'); s.tx.forEach((h) => { const c = el('code', short(h)); c.title = h; tx.appendChild(c); tx.appendChild(el('br')); }); tr.appendChild(tx);
  const pub = el('td', undefined, 'public'); pub.appendChild(el('pre', JSON.stringify(s.public, null, 1))); tr.appendChild(pub);
  tr.appendChild(el('td', s.disclosure ? s.disclosure.derivable : '—', 'learns'));
  tr.appendChild(el('td', s.private_fields.length ? '🔒 ' + s.private_fields.join(', ') : '—', 'private'));
  $('#steps tbody').appendChild(tr);
}

function showRun(run) {
  currentRun = run.run_id;
  $('#run-id').textContent = run.run_id;
  $('#steps tbody').innerHTML = '';
  run.steps.forEach((s, i) => addStep(i, s));
  setStatus(run.status, run);
}

function setStatus(status, run) {
  const s = $('#run-status'); s.textContent = status; s.dataset.status = status;
  document.querySelectorAll('#scenario-buttons button').forEach((b) => { b.disabled = status === 'running'; });
  if (run && run.mechanism !== undefined && run.mechanism !== null) {
    $('#run-outcome').textContent = 'mechanism ' + run.mechanism + ', restored ' + run.restored + ', final isSolvent ' + run.final_is_solvent + (run.restored ? ', healed in ' + run.time_to_heal_ms.toFixed(1) + ' ms' : '');
  } else if (run && run.error) {
    $('#run-outcome').textContent = run.error;
  } else { $('#run-outcome').textContent = ''; }
}

async function refreshTables() {
  const dp = await getJson('/api/darkpool/requests');
  const tb = $('#darkpool tbody'); tb.innerHTML = '';
  dp.forEach((r) => { const tr = el('tr'); [r.run_id, String(r.request_id), JSON.stringify(r.status)].forEach((t) => tr.appendChild(el('td', t))); tb.appendChild(tr); });
  const inc = await getJson('/api/incidents');
  const ti = $('#incidents tbody'); ti.innerHTML = '';
  inc.slice(-15).reverse().forEach((r) => { const tr = el('tr'); [r.id, r.status, iso(r.updated_at)].forEach((t) => tr.appendChild(el('td', t))); ti.appendChild(tr); });
}

function logEvent(type, data) {
  const li = el('li', type + ' ' + JSON.stringify(data).slice(0, 180));
  const ol = $('#events'); ol.insertBefore(li, ol.firstChild);
  while (ol.children.length > 40) ol.removeChild(ol.lastChild);
}

async function start(name) {
  setStatus('starting');
  const r = await fetch('/api/scenarios/' + name, { method: 'POST' });
  const body = await r.json();
  if (!r.ok) { setStatus('error', { error: body.error }); return; }
  showRun({ run_id: body.run_id, steps: [], status: 'running' });
}

function connect() {
  const es = new EventSource('/api/events');
  const on = (type, f) => es.addEventListener(type, (e) => { const d = JSON.parse(e.data); logEvent(type, d); f(d); });
  // Rounds are many (one per hourly reading): the log shows every 250th.
  es.addEventListener('round', (e) => { const d = JSON.parse(e.data); if (d.round % 250 === 0) logEvent('round', d); });
  on('attestation', (d) => { if (d.source === 'feed') { setSolvent(d.is_solvent); refreshReserve(); } });
  on('scenario_started', (d) => { if (d.run_id !== currentRun) showRun({ run_id: d.run_id, steps: [], status: 'running' }); });
  on('step', (d) => { if (d.run_id === currentRun && !document.querySelector('#steps tr[data-step="' + d.index + '"]')) addStep(d.index, d.step); });
  on('swap', () => {});
  on('dark_pool', () => refreshTables());
  on('tick', (d) => { hfTicks.push(d.tick); drawHf(); });
  on('snapshot', (d) => renderVaults(d.vaults));
  on('rebalance', () => {});
  on('scenario_finished', async (d) => {
    const run = await getJson('/api/scenarios/' + d.scenario);
    if (run.run_id === currentRun) showRun(run);
    refreshTables(); refreshOperator();
  });
  es.onopen = () => { document.body.dataset.sse = 'open'; };
}

document.querySelectorAll('#scenario-buttons button').forEach((b) => b.addEventListener('click', () => start(b.dataset.scenario)));
$('#token-form').addEventListener('submit', (e) => { e.preventDefault(); token = $('#token').value.trim(); sessionStorage.setItem('shr-operator-token', token); refreshOperator(); });
// --- Lending vaults ---------------------------------------------------------------------
const hfTicks = [];
function renderVaults(vs) {
  const tb = $('#vaults tbody'); tb.innerHTML = '';
  if (!vs) return;
  vs.forEach((v) => {
    const tr = el('tr'); tr.dataset.vault = v.id; if (v.breached) tr.className = 'breached';
    [v.name + ' (market ' + v.id + ')', Number(v.collateral_wad).toFixed(4) + ' ' + v.collateral, Number(v.debt_wad).toFixed(4) + ' ' + v.debt,
      v.collateral + ' ' + v.collateral_price_usd.toFixed(2) + ' / debt ' + v.debt_price_usd.toFixed(2), (v.liquidation_threshold_bps / 100) + ' %',
      v.health_factor === 'inf' ? '∞' : Number(v.health_factor).toFixed(4), v.breached ? 'breached (< 1.15)' : 'healthy'].forEach((t) => tr.appendChild(el('td', t)));
    tb.appendChild(tr);
  });
}
async function refreshVaults() {
  const r = await fetch('/api/vaults');
  if (!r.ok) { $('#vaults-card').hidden = true; return; }
  renderVaults(await r.json());
}
function drawHf() {
  const svg = $('#hf-chart'); svg.innerHTML = '';
  if (!hfTicks.length) return;
  const W = 900, H = 160, P = 20, ns = 'http://www.w3.org/2000/svg';
  const all = hfTicks.flatMap((t) => t.health_factors.map(Number)).filter(isFinite);
  const y0 = Math.min(1.0, ...all), y1 = Math.max(1.5, ...all);
  const x = (i) => P + (W - 2 * P) * i / Math.max(1, hfTicks.length - 1);
  const y = (v) => H - P - (H - 2 * P) * (v - y0) / (y1 - y0);
  [[1.15, '#cf222e'], [1.25, '#1a7f37']].forEach(([v, c]) => { const l = document.createElementNS(ns, 'line'); Object.entries({ x1: P, x2: W - P, y1: y(v), y2: y(v), stroke: c, 'stroke-dasharray': '4 4' }).forEach(([k, a]) => l.setAttribute(k, a)); svg.appendChild(l); });
  ['#0969da', '#8250df'].forEach((color, vi) => {
    const pl = document.createElementNS(ns, 'polyline');
    pl.setAttribute('points', hfTicks.map((t, i) => x(i).toFixed(1) + ',' + y(Number(t.health_factors[vi])).toFixed(1)).join(' '));
    Object.entries({ fill: 'none', stroke: color, 'stroke-width': 2 }).forEach(([k, a]) => pl.setAttribute(k, a));
    svg.appendChild(pl);
  });
  svg.dataset.ticks = hfTicks.length;
}
const fmtHf = (v) => (v === null || v === undefined ? '–' : v === 'inf' ? '∞' : Number(v).toFixed(4));
const fmtNum = (n, d) => Number(n).toLocaleString('en-US', { maximumFractionDigits: d });
function renderPlans(plans) {
  const tb = $('#plans tbody'); tb.innerHTML = '';
  const acts = $('#plan-actions'); acts.innerHTML = '';
  plans.forEach((p) => {
    const tr = el('tr'); tr.dataset.vault = p.vault_id; tr.dataset.status = p.status;
    const md = p.plan ? p.plan.metadata : null;
    [p.vaultId || String(p.vault_id), p.status, fmtHf(p.hf_before), p.error && !p.plan ? 'no plan: ' + p.error : fmtHf(p.hf_projected), fmtHf(p.hf_onchain_after),
      p.sell_collateral_wad ? fmtNum(Number(p.sell_collateral_wad) / 1e18, 4) : '–', p.slippage_bps === null || p.slippage_bps === undefined ? '–' : p.slippage_bps + ' bps',
      (md ? fmtNum(md.gasEstimate, 0) : '–') + ' / ' + (p.gas ? fmtNum(p.gas, 0) : '–')].forEach((t) => tr.appendChild(el('td', t)));
    const tx = el('td'); if (p.tx) { const c = el('code', short(p.tx)); c.title = p.tx; tx.appendChild(c); } tr.appendChild(tx);
    tr.querySelector('td:nth-child(5)').className = 'hf-after';
    tb.appendChild(tr);
    if (!p.plan) return;
    // The plan as its action list: one transaction, the actions it performs in order.
    const box = el('section'); box.className = 'plan'; box.dataset.vault = p.vault_id;
    box.appendChild(el('h3', (p.vaultId || p.vault_id) + ': one transaction to ' + short(p.plan.transaction.target) + ', gas estimate ' + fmtNum(md.gasEstimate, 0)));
    const ol = el('ol');
    p.plan.actions.forEach((a) => { const li = el('li'); li.dataset.kind = a.kind; li.appendChild(el('strong', a.kind)); li.appendChild(document.createTextNode(' ' + a.description)); ol.appendChild(li); });
    box.appendChild(ol);
    const det = el('details'); det.appendChild(el('summary', 'calldata (what POST /execute sends)'));
    const pre = el('pre', p.plan.transaction.calldata); pre.className = 'calldata'; det.appendChild(pre); box.appendChild(det);
    acts.appendChild(box);
  });
}
function vaultStatus(s) { const e = $('#vault-status'); e.textContent = s; e.dataset.status = s.split(':')[0]; }
$('#simulate').addEventListener('click', async () => {
  hfTicks.length = 0; drawHf(); vaultStatus('simulating');
  const r = await fetch('/api/simulate?extraTicks=0', { method: 'POST' });
  let body = await r.json();
  if (!r.ok) { vaultStatus('error: ' + body.error); return; }
  // The ticks run in the background (SSE `tick`); the simulation's view says when it is done.
  while (body.status === 'running') {
    vaultStatus('simulating: ' + body.ticks.length + ' tick(s)');
    await new Promise((res) => setTimeout(res, 300));
    body = await getJson('/api/simulations/' + body.simulationId);
  }
  if (body.status !== 'done') { vaultStatus('error: ' + (body.error || body.status)); return; }
  renderPlans(body.plans);
  vaultStatus(body.breached ? 'breached at tick ' + body.first_breach + ': ' + body.plans.length + ' plan(s)' : 'no breach');
  $('#vault-status').dataset.status = body.breached ? 'planned' : 'healthy';
});
$('#execute-all').addEventListener('click', async () => {
  vaultStatus('executing');
  const r = await fetch('/api/execute', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ applyAll: true }) });
  const body = await r.json();
  if (!r.ok) { vaultStatus('error: ' + body.error); return; }
  renderPlans(body);
  vaultStatus('executed: ' + body.filter((p) => p.tx).length + ' rebalance(s)');
  $('#vault-status').dataset.status = 'executed';
});

async function showLatestRun() {
  const runs = (await getJson('/api/scenarios')).map((s) => s.latest).filter(Boolean);
  if (!runs.length || currentRun) return;
  runs.sort((a, b) => b.started_at_ms - a.started_at_ms);
  showRun(runs[0]); fillPrivate();
}

async function refreshBudget() {
  const b = await getJson('/api/privacy');
  const body = $('#budget tbody'); body.innerHTML = '';
  b.surfaces.forEach((d) => {
    const tr = el('tr');
    [d.what, d.public, d.derivable, d.private].forEach((t) => tr.appendChild(el('td', t)));
    body.appendChild(tr);
  });
}

connect();
refreshBudget().catch(() => {});
refreshVaults().catch(() => {});
showLatestRun().catch(() => {});
refreshReserve().catch(() => {});
refreshTables().catch(() => {});
refreshOperator();
setInterval(() => refreshReserve().catch(() => {}), 2000);
