// Self-Healing Reserve dashboard: public state from /api, live steps from SSE /api/events,
// private figures only with the operator token (sent as a bearer token, kept in sessionStorage).
// Formatting in format.js (SHR), charts in charts.js (uPlot).
'use strict';
const $ = (s) => document.querySelector(s);
const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; };
const iso = SHR.isoSec;

let token = sessionStorage.getItem('shr-operator-token') || '';
const m = location.hash.match(/token=([^&]+)/);
if (m) { token = decodeURIComponent(m[1]); sessionStorage.setItem('shr-operator-token', token); history.replaceState(null, '', location.pathname); }
let currentRun = null;
let privateSteps = {};
let historyLen = -1;

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
  const t = $('#last-updated'); t.textContent = iso(r.last_updated); t.dateTime = iso(r.last_updated); t.dataset.raw = r.last_updated;
  $('#rounds').textContent = SHR.num(r.rounds, 0); $('#rounds').dataset.raw = r.rounds;
  $('#series').textContent = SHR.num(r.series_readings, 0);
  $('#reports').textContent = SHR.num(r.reports, 0);
  const rc = $('#receiver'); rc.innerHTML = ''; rc.appendChild(r.receiver ? SHR.hexNode(r.receiver) : el('span', '–'));
  // The public timeline, redrawn when a report was accepted.
  if (r.reports !== historyLen && r.reports > 0) {
    historyLen = r.reports;
    const full = await getJson('/api/reserve');
    Charts.solvency($('#solvency-chart'), full.history);
  }
}

async function refreshOperator() {
  if (!token) { $('#token-status').textContent = 'public view: private figures hidden'; return; }
  try {
    const v = await getJson('/api/operator/view', true);
    $('#token-status').textContent = 'operator view (' + SHR.num(v.reserve_ratio.length, 0) + ' points)';
    Charts.ratio($('#ratio-chart'), v.reserve_ratio);
    privateSteps = {};
    for (const r of v.runs) privateSteps[r.run_id] = r.private;
    fillPrivate();
  } catch (e) { $('#token-status').textContent = String(e.message); }
}

function fillPrivate() {
  const p = currentRun && privateSteps[currentRun];
  if (!p) return;
  document.querySelectorAll('#steps > tbody > tr').forEach((tr, i) => {
    const s = p.steps[i];
    if (!s) return;
    const td = tr.querySelector('td.private'); td.innerHTML = '';
    td.appendChild(SHR.kvTable(s.private, 'private values of step ' + (i + 1)));
    td.appendChild(SHR.details('raw JSON', s.private));
  });
}

const stepData = [];
function drawTimeline() {
  const ol = $('#timeline'); ol.innerHTML = '';
  const max = Math.max(1, ...stepData.map((s) => s.ms));
  stepData.forEach((s, i) => {
    const li = el('li'); li.dataset.step = i; if (s.gas) li.className = 'onchain';
    li.appendChild(el('span', (i + 1) + '. ' + s.name));
    const bar = el('div', undefined, 'bar'); bar.style.width = (100 * s.ms / max).toFixed(1) + '%';
    bar.setAttribute('role', 'presentation'); li.appendChild(bar);
    const fig = el('span', SHR.num(s.ms, 1) + ' ms' + (s.gas ? ' · ' + SHR.num(s.gas, 0) + ' gas' : ''), 'fig'); fig.dataset.ms = s.ms; fig.dataset.gas = s.gas;
    li.appendChild(fig);
    ol.appendChild(li);
  });
}

function addStep(index, s) {
  stepData[index] = s; drawTimeline();
  const tr = el('tr'); tr.dataset.step = index;
  tr.appendChild(el('td', String(index + 1)));
  tr.appendChild(el('td', s.name));
  const ms = el('td', SHR.num(s.ms, 1) + ' ms', 'ms'); ms.dataset.raw = s.ms; tr.appendChild(ms);
  const gas = el('td', s.gas ? SHR.num(s.gas, 0) : '–', 'gas'); gas.dataset.raw = s.gas; tr.appendChild(gas);
  const tx = el('td'); s.tx.forEach((h) => tx.appendChild(SHR.hexNode(h))); tr.appendChild(tx);
  const pub = el('td', undefined, 'public'); pub.appendChild(SHR.kvTable(s.public, 'public values of step ' + (index + 1))); pub.appendChild(SHR.details('raw JSON', s.public)); tr.appendChild(pub);
  tr.appendChild(el('td', s.disclosure ? s.disclosure.derivable : '—', 'learns'));
  tr.appendChild(el('td', s.private_fields.length ? '🔒 ' + s.private_fields.join(', ') : '—', 'private'));
  $('#steps tbody').appendChild(tr);
}

function showRun(run) {
  currentRun = run.run_id;
  $('#run-id').textContent = run.run_id;
  $('#steps tbody').innerHTML = ''; stepData.length = 0; drawTimeline();
  run.steps.forEach((s, i) => addStep(i, s));
  setStatus(run.status, run);
}

function setStatus(status, run) {
  const s = $('#run-status'); s.textContent = status; s.dataset.status = status;
  document.querySelectorAll('#scenario-buttons button').forEach((b) => { b.disabled = status === 'running'; });
  if (run && run.mechanism !== undefined && run.mechanism !== null) {
    $('#run-outcome').textContent = 'mechanism ' + run.mechanism + ', restored ' + run.restored + ', final isSolvent ' + run.final_is_solvent + (run.restored ? ', healed in ' + SHR.num(run.time_to_heal_ms, 1) + ' ms' : '');
  } else if (run && run.error) {
    $('#run-outcome').textContent = run.error;
  } else { $('#run-outcome').textContent = ''; }
}

async function refreshTables() {
  const dp = await getJson('/api/darkpool/requests');
  const tb = $('#darkpool tbody'); tb.innerHTML = '';
  dp.forEach((r) => {
    const tr = el('tr'); tr.appendChild(el('td', r.run_id)); tr.appendChild(el('td', String(r.request_id)));
    const st = el('td'); st.dataset.raw = JSON.stringify(r.status);
    st.appendChild(typeof r.status === 'object' && r.status !== null ? SHR.kvTable(r.status, 'status of request ' + r.request_id) : el('span', String(r.status)));
    tr.appendChild(st); tb.appendChild(tr);
  });
  const inc = await getJson('/api/incidents');
  const ti = $('#incidents tbody'); ti.innerHTML = '';
  inc.slice(-15).reverse().forEach((r) => { const tr = el('tr'); [r.id, r.status, iso(r.updated_at)].forEach((t) => tr.appendChild(el('td', t))); ti.appendChild(tr); });
}

/** One line per event: its time (UTC), type and top-level scalar fields, formatted. */
function logEvent(type, data) {
  const fields = Object.entries(data).filter(([k, v]) => k !== 'type' && (v === null || typeof v !== 'object'))
    .map(([k, v]) => k + ' ' + SHR.text(k, v)).join(' · ');
  const li = el('li', new Date().toISOString().slice(11, 23) + 'Z ' + type + (fields ? ': ' + fields : ''));
  li.dataset.type = type;
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
  // Each simulation (from any client) restarts the chart; it keeps the last 100 ticks.
  on('simulation_start', () => { hfTicks.length = 0; drawHf(); });
  on('tick', (d) => { hfTicks.push(d.tick); if (hfTicks.length > 100) hfTicks.shift(); drawHf(); });
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
let vaultNames = [];
function renderVaults(vs) {
  const tb = $('#vaults tbody'); tb.innerHTML = '';
  if (!vs) return;
  vaultNames = vs.map((v) => v.vaultId || v.name);
  vs.forEach((v) => {
    const tr = el('tr'); tr.dataset.vault = v.id; if (v.breached) tr.className = 'breached';
    const cells = [v.vaultId + ' (' + v.name + ')', SHR.num(Number(v.collateral_wad), 4, 4) + ' ' + v.collateral, SHR.num(Number(v.debt_wad), 2, 2) + ' ' + v.debt,
      v.collateral + ' $' + SHR.num(v.collateral_price_usd, 2, 2) + ' · ' + v.debt + ' $' + SHR.num(v.debt_price_usd, 2, 2), SHR.num(v.liquidation_threshold_bps / 100, 2) + ' %',
      v.health_factor === 'inf' ? '∞' : SHR.num(Number(v.health_factor), 4, 4), v.breached ? 'breached (< 1.15)' : 'healthy'];
    const raws = [v.vaultId, v.collateral_wad, v.debt_wad, v.collateral_price_usd, v.liquidation_threshold_bps, v.health_factor, v.breached];
    cells.forEach((t, k) => { const td = el('td', t); td.dataset.raw = raws[k]; tr.appendChild(td); });
    tb.appendChild(tr);
  });
}
async function refreshVaults() {
  const r = await fetch('/api/vaults');
  if (!r.ok) { $('#vaults-card').hidden = true; return; }
  renderVaults(await r.json());
}
function drawHf() {
  const c = $('#hf-chart');
  if (!hfTicks.length) { c.innerHTML = ''; delete c.dataset.points; c.dataset.ticks = 0; return; }
  Charts.hf(c, hfTicks, vaultNames.length ? vaultNames : hfTicks[0].health_factors.map((_, i) => 'vault ' + i));
  c.dataset.ticks = hfTicks.length;
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
    const tx = el('td'); if (p.tx) tx.appendChild(SHR.hexNode(p.tx)); tr.appendChild(tx);
    tr.querySelector('td:nth-child(5)').className = 'hf-after';
    tb.appendChild(tr);
    if (!p.plan) return;
    // The plan as its action list: one transaction, the actions it performs in order.
    const box = el('section'); box.className = 'plan'; box.dataset.vault = p.vault_id;
    const h = el('h3', (p.vaultId || p.vault_id) + ': one transaction, gas estimate ' + fmtNum(md.gasEstimate, 0) + ', to ');
    h.appendChild(SHR.hexNode(p.plan.transaction.target)); box.appendChild(h);
    const ol = el('ol');
    p.plan.actions.forEach((a) => { const li = el('li'); li.dataset.kind = a.kind; li.appendChild(el('strong', a.kind)); li.appendChild(document.createTextNode(' ' + a.description)); ol.appendChild(li); });
    box.appendChild(ol);
    const det = el('details'); det.appendChild(el('summary', 'calldata (what POST /execute sends)'));
    const pre = el('pre', p.plan.transaction.calldata); pre.className = 'calldata'; det.appendChild(pre); box.appendChild(det);
    acts.appendChild(box);
  });
}
function vaultStatus(s) { const e = $('#vault-status'); e.textContent = s; e.dataset.status = s.split(':')[0]; }
async function simulate() {
  vaultStatus('simulating');
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
}
$('#simulate').addEventListener('click', async () => {
  const b = $('#simulate'); b.disabled = true;
  try { await simulate(); } catch (e) { vaultStatus('error: ' + e.message); } finally { b.disabled = false; }
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
