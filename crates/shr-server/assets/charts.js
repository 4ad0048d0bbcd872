// Charts of the dashboard, drawn with uPlot (vendored from npm into the binary): the public
// isSolvent timeline, the operator's reserve ratio, each vault's health factor through a crash.
// Every time axis is UTC.
'use strict';
const Charts = (() => {
  const utc = (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC');
  const charts = new Map();
  const width = (el) => Math.max(280, el.clientWidth || 600);

  /** (Re)draws chart `id` in element `el` with uPlot options `opts` and columns `data`. */
  function draw(el, opts, data) {
    const old = charts.get(el.id);
    if (old) old.destroy();
    el.innerHTML = '';
    const u = new uPlot({ width: width(el), height: opts.height || 200, tzDate: utc, ...opts }, data, el);
    charts.set(el.id, u);
    el.dataset.points = data[0].length;
    return u;
  }
  window.addEventListener('resize', () => charts.forEach((u, id) => { const el = document.getElementById(id); if (el) u.setSize({ width: width(el), height: u.height }); }));

  /** Public: `isSolvent` of every accepted report over the series' time (a step line, 1 = true). */
  function solvency(el, history) {
    const xs = history.map((a) => a.observed_at), ys = history.map((a) => (a.is_solvent ? 1 : 0));
    return draw(el, {
      height: 140,
      scales: { x: { time: true }, y: { range: [-0.1, 1.1] } },
      axes: [{}, { values: (u, vs) => vs.map((v) => (v === 1 ? 'true' : v === 0 ? 'false' : '')), splits: () => [0, 1], size: 50 }],
      series: [{ label: 'observed (UTC)' }, { label: 'isSolvent', stroke: '#1a7f37', width: 2, paths: uPlot.paths.stepped({ align: 1 }), value: (u, v) => (v === null ? '–' : v === 1 ? 'true' : 'false') }],
    }, [xs, ys]);
  }

  /** Operator: the reserve ratio (reserves / supply) over the series' time, with the 100 % line. */
  function ratio(el, series) {
    const xs = series.map((p) => p[0]), ys = series.map((p) => p[1] * 100);
    return draw(el, {
      height: 220,
      scales: { x: { time: true } },
      axes: [{}, { values: (u, vs) => vs.map((v) => v.toFixed(2) + ' %'), size: 70 }],
      series: [{ label: 'observed (UTC)' }, { label: 'reserve ratio', stroke: '#0969da', width: 1.5, value: (u, v) => (v === null ? '–' : v.toFixed(3) + ' %') },
        { label: 'fully backed', stroke: '#cf222e', dash: [4, 4], width: 1, points: { show: false } }],
    }, [xs, ys, xs.map(() => 100)]);
  }

  /** Each vault's HF through a crash (x: tick time, UTC), with the trigger (1.15) and target (1.25). */
  function hf(el, ticks, names) {
    const xs = ticks.map((t) => Date.parse(t.at) / 1000);
    const colors = ['#0969da', '#8250df', '#bf8700', '#1a7f37'];
    const vaults = (names || []).map((n, i) => ({ label: 'HF ' + n, stroke: colors[i % colors.length], width: 2, value: (u, v) => (v === null ? '–' : v.toFixed(4)) }));
    // A vault without debt has HF `inf`: no point on the chart.
    const hfOf = (v) => { const n = Number(v); return Number.isFinite(n) ? n : null; };
    const data = [xs, ...vaults.map((_, i) => ticks.map((t) => hfOf(t.health_factors[i])))];
    return draw(el, {
      height: 200,
      scales: { x: { time: true } },
      axes: [{}, { values: (u, vs) => vs.map((v) => v.toFixed(2)), size: 50 }],
      series: [{ label: 'tick (UTC)' }, ...vaults, { label: 'trigger 1.15', stroke: '#cf222e', dash: [4, 4], points: { show: false } }, { label: 'target 1.25', stroke: '#1a7f37', dash: [4, 4], points: { show: false } }],
    }, [...data, xs.map(() => 1.15), xs.map(() => 1.25)]);
  }

  return { solvency, ratio, hf };
})();
