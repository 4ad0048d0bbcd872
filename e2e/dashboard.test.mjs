// Browser test of the dashboard: starts `shr demo` on a free port, drives Debian's Chromium with
// playwright-core, runs each scenario from its button, waits for completion, checks the live
// steps panel and the public/private table, and saves screenshots under target/e2e/.
//
// Usage: node e2e/dashboard.test.mjs [path/to/shr]   (default: target/debug/shr)
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const shr = resolve(process.argv[2] || join(root, 'target/debug/shr'));
const shots = join(root, 'target/e2e');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const token = 'e2e-operator-token-' + Math.random().toString(16).slice(2);
mkdirSync(shots, { recursive: true });

const work = mkdtempSync(join(tmpdir(), 'shr-e2e-'));
const env = { ...process.env, RUST_LOG: 'warn' };
for (const k of ['DATABASE_URL', 'SHR_CONFIG', 'SHR_PORT', 'SHR_BIND', 'SHR_OPERATOR_TOKEN']) delete env[k];
const demo = spawn(shr, ['demo', '--port', '0', '--db', 'sqlite:e2e.db', '--operator-token', token, '--feed-interval-ms', '5', '--tick-ms', '150'], {
  cwd: work,
  env,
  stdio: ['ignore', 'pipe', 'inherit'],
});
const base = await new Promise((ok, fail) => {
  const rl = createInterface({ input: demo.stdout });
  rl.once('line', (l) => (l.startsWith('listening on ') ? ok(l.slice('listening on '.length).replace(/\/$/, '')) : fail(new Error(l))));
  demo.once('exit', (c) => fail(new Error('shr demo exited ' + c)));
  setTimeout(() => fail(new Error('shr demo did not print its address in 60 s')), 60_000);
});
demo.stdout.resume();

const results = [];
async function check(name, f) {
  const t = Date.now();
  try {
    await f();
    results.push([name, true]);
    console.log(`test ${name} ... ok (${Date.now() - t} ms)`);
  } catch (e) {
    results.push([name, false]);
    console.log(`test ${name} ... FAILED\n${e.stack || e}`);
  }
}
const assert = (c, msg) => { if (!c) throw new Error(msg); };

const profile = mkdtempSync(join(tmpdir(), 'shr-e2e-chromium-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: chromiumPath,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  viewport: { width: 1280, height: 1000 },
});
const page = await ctx.newPage();
// Console errors and uncaught exceptions of every page, checked at the end (a refused
// operator fetch without the token is the one expected failed load: 401).
const consoleErrors = [];
const watch = (p) => {
  p.on('pageerror', (e) => consoleErrors.push('page error: ' + e.message));
  p.on('console', (m) => { if (m.type() === 'error' && !/status of 401/.test(m.text())) consoleErrors.push(m.text() + ' ' + (m.location().url || '')); });
  p.on('response', (r) => { if (r.status() >= 400 && r.status() !== 401) consoleErrors.push(r.status() + ' ' + r.url()); });
};
ctx.on('page', watch);
watch(page);

const expected = {
  'small-deficit': { step: 'direct swap into ReserveVault', private: 'deficit_sats', outcome: 'restored true' },
  'large-deficit': { step: 'matcher settles (confidentialFill)', private: 'order_size_sats', outcome: 'restored true' },
  'darkpool-failure': { step: 'escalate (alert)', private: 'deficit_sats', outcome: 'restored false' },
};

try {
  await check('dashboard loads with the public state and the operator chart', async () => {
    await page.goto(base + '/#token=' + token);
    await page.waitForSelector('body[data-sse="open"]', { timeout: 15_000 });
    await page.waitForSelector('#solvent[data-value="true"]', { timeout: 30_000 });
    await page.waitForSelector('#ratio-chart[data-points]', { timeout: 15_000 });
    const points = Number(await page.getAttribute('#ratio-chart', 'data-points'));
    assert(points > 1000, 'reserve-ratio chart has ' + points + ' points');
    // The public isSolvent timeline, and formatted figures that match the API's raw values.
    await page.waitForSelector('#solvency-chart[data-points] canvas', { timeout: 15_000 });
    // (Read the page first: the feed moves on, so the API read after it is as new or newer.)
    const shown = await page.getAttribute('#last-updated', 'data-raw');
    const updated = await page.textContent('#last-updated');
    const api = await page.evaluate(async () => (await fetch('/api/reserve?history=1')).json());
    assert(updated === new Date(Number(shown) * 1000).toISOString().replace('.000Z', 'Z') && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(updated), 'UTC ISO time: ' + updated);
    assert(Number(shown) <= api.last_updated, 'last updated from the API: ' + shown + ' vs ' + api.last_updated);
    const series = await page.textContent('#series');
    assert(series === api.series_readings.toLocaleString('en-US') && series.includes(','), 'thousands separators: ' + series);
    assert(/^0x[0-9a-fA-F]{6}…[0-9a-fA-F]{6}$/.test(await page.textContent('#receiver code')), 'receiver shortened');
    assert((await page.getAttribute('#receiver code', 'title')) === api.receiver, 'full address in the title');
    assert(await page.$('#receiver button.copy[aria-label]'), 'copy button with a label');
    const heads = await page.$$eval('#steps thead th', (ths) => ths.map((t) => t.textContent));
    assert(heads.includes('Public') && heads.includes('Private'), 'public/private columns: ' + heads);
    await page.waitForFunction(() => document.querySelectorAll('#budget tbody tr').length >= 10, null, { timeout: 10_000 });
    await page.screenshot({ path: join(shots, 'dashboard.png'), fullPage: true });
  });

  for (const [scenario, want] of Object.entries(expected)) {
    await check('scenario ' + scenario + ' runs from its button', async () => {
      await page.click(`button[data-scenario="${scenario}"]`);
      await page.waitForFunction((s) => document.querySelector('#run-id').textContent.startsWith(s), scenario, { timeout: 10_000 });
      await page.waitForSelector('#run-status[data-status="passed"], #run-status[data-status="failed"], #run-status[data-status="error"]', { timeout: 120_000 });
      const status = await page.getAttribute('#run-status', 'data-status');
      assert(status === 'passed', scenario + ' ended ' + status + ': ' + (await page.textContent('#run-outcome')));
      const names = await page.$$eval('#steps > tbody > tr > td:nth-child(2)', (tds) => tds.map((t) => t.textContent));
      assert(names.length >= 6, 'steps: ' + names);
      assert(names.includes(want.step), `${want.step} not in ${names}`);
      assert((await page.textContent('#run-outcome')).includes(want.outcome), 'outcome: ' + (await page.textContent('#run-outcome')));
      // The step timeline: one bar per step, its figures the API's measured ms and gas.
      const run = await page.evaluate(async (n) => (await fetch('/api/scenarios/' + n)).json(), scenario);
      const figs = await page.$$eval('#timeline li .fig', (fs) => fs.map((f) => [f.textContent, Number(f.dataset.ms), Number(f.dataset.gas)]));
      assert(figs.length === run.steps.length, 'timeline bars: ' + figs.length + ' vs ' + run.steps.length);
      figs.forEach(([text, ms, gas], i) => {
        assert(ms === run.steps[i].ms && gas === run.steps[i].gas, 'bar ' + i + ' from the API');
        assert(text.startsWith(run.steps[i].ms.toLocaleString('en-US', { maximumFractionDigits: 1 }) + ' ms'), 'bar ' + i + ': ' + text);
        if (gas) assert(text.includes(gas.toLocaleString('en-US') + ' gas'), 'gas of bar ' + i + ': ' + text);
      });
      // No raw JSON in the default view: it sits behind closed "details" toggles.
      const openRaw = await page.$$eval('#steps details.raw', (ds) => ds.filter((d) => d.open).length);
      assert(openRaw === 0, 'raw JSON hidden by default');
      const visibleBraces = await page.$$eval('#steps td.public', (tds) => tds.filter((td) => /[{}]/.test(td.querySelector('table.kv')?.innerText || '')).length);
      assert(visibleBraces === 0, 'public values as formatted tables');
      // Every step says what an observer learns from it (docs/PRIVACY.md, per step).
      const learns = await page.$$eval('#steps tbody td.learns', (tds) => tds.map((t) => t.textContent));
      assert(learns.length === names.length && learns.every((t) => t && t !== '–'), 'disclosure per step: ' + learns);
      const txs = await page.$$eval('#steps > tbody > tr > td:nth-child(5) code', (cs) => cs.map((c) => c.title));
      assert(txs.length > 0 && txs.every((h) => /^0x[0-9a-f]{64}$/.test(h)), 'transaction hashes: ' + txs);
      const ms = await page.$$eval('#steps > tbody > tr > td:nth-child(3)', (tds) => tds.map((t) => Number(t.dataset.raw)));
      assert(ms.every((x) => x >= 0) && ms.some((x) => x > 0), 'measured timings: ' + ms);
      // The operator view fills the private column with the figures once the run is sealed.
      await page.waitForFunction((f) => [...document.querySelectorAll('#steps td.private')].some((td) => td.textContent.includes(f) && /\d{3,}/.test(td.textContent)), want.private, { timeout: 15_000 });
      await page.screenshot({ path: join(shots, scenario + '.png'), fullPage: true });
    });
  }

  await check('vaults: a seeded crash breaches, the plan executes, HF read back >= 1.25', async () => {
    await page.waitForSelector('#vaults tbody tr[data-vault="1"]', { timeout: 15_000 });
    await page.click('#simulate');
    await page.waitForSelector('#vault-status[data-status="planned"]', { timeout: 60_000 });
    const ticks = Number(await page.getAttribute('#hf-chart', 'data-ticks'));
    assert(ticks > 0, 'HF chart fed by SSE ticks: ' + ticks);
    assert((await page.$$('#vaults tbody tr.breached')).length > 0, 'a breached vault is shown');
    // Each vault's figures formatted from the API's raw values.
    const api = await page.evaluate(async () => (await fetch('/api/vaults')).json());
    for (const v of api) {
      const hfText = await page.textContent('#vaults tbody tr[data-vault="' + v.id + '"] td:nth-child(6)');
      assert(hfText === Number(v.health_factor).toLocaleString('en-US', { minimumFractionDigits: 4, maximumFractionDigits: 4 }), 'HF ' + hfText + ' vs ' + v.health_factor);
      const debt = await page.textContent('#vaults tbody tr[data-vault="' + v.id + '"] td:nth-child(3)');
      assert(debt.endsWith(' ' + v.debt) && (Number(v.debt_wad) < 1000 || debt.includes(',')), 'debt with separators: ' + debt);
    }
    // The plan as its action list, its gas estimate as the API gives it (formatted).
    const sim = await page.evaluate(async () => (await fetch('/api/simulations/latest')).json());
    const planned = sim.plans.filter((p) => p.plan);
    assert(planned.length > 0, 'a plan with its encoded calls');
    for (const p of planned) {
      const kinds = await page.$$eval('#plan-actions section.plan[data-vault="' + p.vault_id + '"] li', (lis) => lis.map((l) => l.dataset.kind));
      assert(kinds.join(',') === p.plan.actions.map((a) => a.kind).join(','), 'actions listed in order: ' + kinds);
      const head = await page.textContent('#plan-actions section.plan[data-vault="' + p.vault_id + '"] h3');
      assert(head.includes(p.plan.metadata.gasEstimate.toLocaleString('en-US')), 'gas estimate ' + p.plan.metadata.gasEstimate + ' shown: ' + head);
    }
    await page.click('#execute-all');
    await page.waitForSelector('#vault-status[data-status="executed"]', { timeout: 60_000 });
    const after = await page.$$eval('#plans td.hf-after', (tds) => tds.map((t) => t.textContent).filter((t) => t !== '–').map(Number));
    assert(after.length > 0 && after.every((h) => h >= 1.25), 'on-chain HF after: ' + after);
    await page.waitForFunction(() => document.querySelectorAll('#vaults tbody tr.breached').length === 0, null, { timeout: 15_000 });
    const reb = await page.evaluate(async () => (await fetch('/api/rebalances')).json());
    assert(reb.filter((r) => r.status === 'executed').length === after.length, 'rebalances persisted: ' + reb.length);
    await page.screenshot({ path: join(shots, 'vaults.png'), fullPage: true });
    // No raw JSON anywhere in the default view (raw JSON only inside closed details).
    const raw = await page.evaluate(() => [...document.querySelectorAll('main td, main li, main span, main p')]
      .filter((e) => !e.closest('details') && /^\s*[\[{]\s*"/.test(e.textContent)).map((e) => e.textContent.slice(0, 60)));
    assert(raw.length === 0, 'raw JSON in the default view: ' + raw.slice(0, 3));
  });

  await check('without the token the page shows no private figure', async () => {
    const pub = await ctx.newPage();
    await pub.goto(base + '/');
    await pub.waitForSelector('body[data-sse="open"]', { timeout: 15_000 });
    await pub.waitForFunction(() => document.querySelector('#token-status').textContent.includes('public view'));
    // The page shows the latest run (darkpool-failure); its private column names fields only.
    await pub.waitForFunction(() => document.querySelector('#run-id').textContent.startsWith('darkpool-failure') && document.querySelectorAll('#steps > tbody > tr').length > 5, null, { timeout: 15_000 });
    const cells = await pub.$$eval('#steps td.private', (tds) => tds.map((t) => t.textContent));
    assert(cells.some((c) => c.includes('deficit_sats')), 'private field names are listed: ' + cells);
    assert(cells.every((c) => !/\d{4,}/.test(c)), 'no private figure in the public page: ' + cells);
    const op = await pub.evaluate(async () => (await fetch('/api/operator/view')).status);
    assert(op === 401, 'operator route without the token: ' + op);
    assert((await pub.$$('#ratio-chart canvas')).length === 0, 'no reserve-ratio chart without the token');
    await pub.waitForSelector('#solvency-chart canvas', { timeout: 15_000 });
    await pub.screenshot({ path: join(shots, 'public.png'), fullPage: true });
  });
  await check('details toggles open; a narrow window keeps everything in view', async () => {
    await page.click('#steps > tbody > tr:first-child td.public details.raw summary');
    assert(await page.$eval('#steps > tbody > tr:first-child td.public details.raw', (d) => d.open), 'details opens');
    await page.screenshot({ path: join(shots, 'details.png'), fullPage: true });
    await page.setViewportSize({ width: 390, height: 900 });
    // The charts redraw on a resize observer: on a loaded machine that takes more than a
    // frame, so wait (up to 10 s) for the layout to settle before measuring it.
    await page.waitForFunction(() => document.documentElement.scrollWidth - window.innerWidth <= 1, null, { timeout: 10_000 }).catch(() => {});
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    const wide = await page.evaluate(() => [...document.querySelectorAll('body, body *')].filter((e) => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX === 'visible').slice(0, 8).map((e) => e.tagName + '#' + e.id + '.' + e.className + ':' + e.scrollWidth + '/' + e.clientWidth));
    assert(overflow <= 1, 'page wider than a 390 px window by ' + overflow + ' px: ' + wide);
    const chartW = await page.$eval('#solvency-chart canvas', (c) => c.getBoundingClientRect().width);
    assert(chartW <= 390, 'chart resized to the window: ' + chartW);
    await page.screenshot({ path: join(shots, 'narrow.png'), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 1000 });
    // Every chart and button has an accessible name.
    const unnamed = await page.$$eval('.chart, button', (es) => es.filter((e) => !(e.getAttribute('aria-label') || e.textContent.trim())).length);
    assert(unnamed === 0, unnamed + ' charts or buttons without an accessible name');
  });

  await check('no console error on any page', async () => {
    assert(consoleErrors.length === 0, 'console errors: ' + consoleErrors.join(' | '));
  });
} finally {
  await ctx.close();
  demo.kill('SIGINT');
  rmSync(profile, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
}

const failed = results.filter(([, ok]) => !ok).length;
console.log(`test result: ${failed ? 'FAILED' : 'ok'}. ${results.length - failed} passed; ${failed} failed; 0 ignored; (browser, screenshots in target/e2e/)`);
process.exit(failed ? 1 : 0);
