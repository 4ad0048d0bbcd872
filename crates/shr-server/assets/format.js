// Formatting for the dashboard: amounts in their units with thousands separators, times in UTC
// ISO form, ratios in %, addresses and hashes shortened with a copy button. The unit of a field
// comes from its name, the project's convention (`_sats`, `_wad`, `_bps`, `_e8`, `_ms`, `_at`).
'use strict';
const SHR = (() => {
  const num = (n, max, min) => Number(n).toLocaleString('en-US', { maximumFractionDigits: max, minimumFractionDigits: min || 0 });
  const isoSec = (t) => (t ? new Date(Number(t) * 1000).toISOString().replace('.000Z', 'Z') : '–');
  const isoMs = (t) => (t ? new Date(Number(t)).toISOString() : '–');
  const shortHex = (h) => (h && h.length > 14 ? h.slice(0, 8) + '…' + h.slice(-6) : h);
  const isHex = (v) => typeof v === 'string' && /^0x[0-9a-fA-F]{40}([0-9a-fA-F]{24})?$/.test(v);

  /** A shortened address or hash with its full value as title and a copy button. */
  function hexNode(h) {
    const span = document.createElement('span'); span.className = 'hex';
    const code = document.createElement('code'); code.textContent = shortHex(h); code.title = h; span.appendChild(code);
    const b = document.createElement('button'); b.type = 'button'; b.className = 'copy'; b.textContent = 'copy';
    b.setAttribute('aria-label', 'copy ' + h);
    b.addEventListener('click', () => { if (navigator.clipboard) navigator.clipboard.writeText(h).catch(() => {}); b.textContent = 'copied'; setTimeout(() => { b.textContent = 'copy'; }, 1200); });
    span.appendChild(b);
    return span;
  }

  /** The text of `value` formatted by the unit its field name `key` carries. */
  function text(key, value) {
    if (value === null || value === undefined) return '–';
    if (typeof value === 'boolean') return String(value);
    const k = key.toLowerCase();
    const n = typeof value === 'number' ? value : (typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : NaN);
    if (!Number.isNaN(n)) {
      if (k.endsWith('sats')) return num(n / 1e8, 4, 4) + ' WBTC';
      if (k.endsWith('_wad') || k === 'wad') return num(n / 1e18, 4);
      if (k.endsWith('bps')) return num(n / 100, 2) + ' %';
      if (k.includes('usd_e8') || k.endsWith('price_e8')) return '$' + num(n / 1e8, 2, 2);
      if (k.endsWith('_usd') || k.startsWith('usd')) return '$' + num(n, 2);
      if (k.endsWith('_ms') || k === 'ms') return num(n, 1) + ' ms';
      if (k.includes('ratio')) return num(n * 100, 2) + ' %';
      if ((k.endsWith('_at') || k.endsWith('time') || k === 'observedat' || k === 'deadline') && n > 1e9 && n < 1e11) return isoSec(n);
      if (k.endsWith('_at_ms') && n > 1e12) return isoMs(n);
      return num(n, 6);
    }
    if (typeof value === 'string') return value;
    if (Array.isArray(value)) {
      const shown = value.slice(0, 6).map((v) => (isHex(v) ? shortHex(v) : text(key, v))).join(', ');
      return value.length > 6 ? shown + ', … (' + value.length + ' in all)' : shown;
    }
    return Object.entries(value).map(([k, v]) => k + ' ' + text(k, v)).join(' · ');
  }

  /** A node for `value`: hex values shortened with a copy button, others as formatted text. */
  function node(key, value) {
    if (isHex(value)) return hexNode(value);
    if (Array.isArray(value) && value.every(isHex)) {
      const d = document.createElement('span'); value.forEach((h) => d.appendChild(hexNode(h))); return d;
    }
    const s = document.createElement('span'); s.textContent = text(key, value);
    if (typeof value === 'number' || typeof value === 'string') s.title = String(value);
    return s;
  }

  /** A two-column key/value table of `obj`'s fields, formatted. */
  function kvTable(obj, label) {
    const t = document.createElement('table'); t.className = 'kv';
    if (label) t.setAttribute('aria-label', label);
    Object.entries(obj || {}).forEach(([k, v]) => {
      const tr = document.createElement('tr'); tr.dataset.key = k;
      const th = document.createElement('th'); th.scope = 'row'; th.textContent = k; tr.appendChild(th);
      const td = document.createElement('td'); td.dataset.raw = typeof v === 'object' ? JSON.stringify(v) : String(v); td.appendChild(node(k, v)); tr.appendChild(td);
      t.appendChild(tr);
    });
    return t;
  }

  /** Raw JSON behind a "details" toggle. */
  function details(summary, value) {
    const d = document.createElement('details'); d.className = 'raw';
    const s = document.createElement('summary'); s.textContent = summary; d.appendChild(s);
    const pre = document.createElement('pre'); pre.textContent = JSON.stringify(value, null, 1); d.appendChild(pre);
    return d;
  }

  return { num, isoSec, isoMs, shortHex, hexNode, text, node, kvTable, details };
})();
