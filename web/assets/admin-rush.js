// admin-rush: the opening rush at a glance. Every 2 s GET /v1/admin/queue; the partitions' length,
// pending and lag are summed and drawn over the last five minutes as an inline SVG chart (built
// with DOM calls, no library, nothing inline for the CSP); seats left per event from the public
// slot lists (`remaining` summed over slots still to come).
import { admin, failure, h, heading, labelCells, notice, t, tx, txValue } from './admin-core.js';
import { publicSlots } from './admin-events.js';
import * as i18n from './i18n.js';

const NS = 'http://www.w3.org/2000/svg';
const SERIES = [['length', 'adQLength'], ['pending', 'adQPending'], ['lag', 'adQLag']];
const KEEP = 150; // 5 minutes of 2 s samples
const W = 600;
const H = 200;
const PAD = 34;

const svg = (tag, attrs = {}, ...kids) => {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of kids) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
};

export function drawChart(samples) {
  const max = Math.max(1, ...samples.flatMap((s) => SERIES.map(([k]) => s[k])));
  const step = 10 ** Math.floor(Math.log10(max));
  const top = Math.max(4, Math.ceil(max / step) * step);
  const x = (i) => PAD + (i * (W - PAD - 8)) / (KEEP - 1);
  const y = (v) => H - 20 - (v * (H - 30)) / top;
  const last = samples[samples.length - 1] || { length: 0, pending: 0, lag: 0 };
  const label = t('adChartLabel', { l: last.length, p: last.pending, g: last.lag });
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': label, id: 'rush-chart' });
  root.append(svg('title', {}, label));
  for (const f of [0, 0.5, 1]) {
    root.append(svg('line', { x1: PAD, x2: W - 8, y1: y(top * f), y2: y(top * f), class: 'grid' }),
      svg('text', { x: PAD - 4, y: y(top * f) + 4, class: 'axis', 'text-anchor': 'end' }, String(Number.isInteger(top * f) ? top * f : (top * f).toFixed(1))));
  }
  root.append(svg('text', { x: PAD, y: H - 4, class: 'axis' }, t('adChartAgo')), svg('text', { x: W - 8, y: H - 4, class: 'axis', 'text-anchor': 'end' }, t('adChartNow')));
  const off = KEEP - samples.length;
  SERIES.forEach(([k], n) => {
    const pts = samples.map((s, i) => `${x(off + i).toFixed(1)},${y(s[k]).toFixed(1)}`).join(' ');
    if (samples.length) root.append(svg('polyline', { points: pts, class: `line s${n}` }));
  });
  return root;
}

export async function rushView(view) {
  const card = h('section', { class: 'card', 'aria-labelledby': 'rush-title' });
  const title = heading('adRush');
  title.id = 'rush-title';
  const status = h('div', { class: 'notice', id: 'rush-status', role: 'status', 'aria-live': 'polite' });
  const chartBox = h('div', { class: 'chart-box', id: 'rush-chart-box' });
  const legend = h('ul', { class: 'legend' }, SERIES.map(([k, key], n) => h('li', {}, h('span', { class: `swatch s${n}`, 'aria-hidden': 'true' }),
    tx(h('span'), key), ': ', h('strong', { id: `rush-${k}` }, '0'))));
  card.append(title, tx(h('p', { class: 'hint' }), 'adRushHint'), status, chartBox, legend);
  const seats = h('section', { class: 'card', 'aria-labelledby': 'seats-title' }, tx(h('h2', { id: 'seats-title' }), 'adSeatsLeft'));
  const tbody = h('tbody', { id: 'seats' });
  const cols = ['adEventTitle', 'adSeatsLeftCol', 'adSlotsOpen'];
  seats.append(h('div', { class: 'table-wrap' }, h('table', { class: 'stack' },
    h('thead', {}, h('tr', {}, cols.map((k) => tx(h('th', { scope: 'col' }), k)))), tbody)));
  view.append(card, seats);

  const samples = [];
  let events = [];
  let ticks = 0;
  let stopped = false;
  const redraw = () => chartBox.replaceChildren(drawChart(samples));
  const tick = async () => {
    const r = await admin('GET', '/queue');
    if (stopped) return;
    if (r.status === 200 && r.json && Array.isArray(r.json.partitions)) {
      notice(status, '', null);
      const s = { length: 0, pending: 0, lag: 0 };
      for (const p of r.json.partitions) for (const [k] of SERIES) s[k] += Number(p[k]) || 0;
      samples.push(s);
      if (samples.length > KEEP) samples.shift();
      for (const [k] of SERIES) document.getElementById(`rush-${k}`).textContent = String(s[k]);
    } else failure(status, r);
    redraw();
    if (ticks++ % 5 === 0) {
      const e = await admin('GET', '/events');
      if (e.status === 200 && e.json) events = e.json.events || [];
    }
    if (ticks % 2 === 1) {
      const now = Date.now();
      const rows = await Promise.all(events.map(async (ev) => {
        const slots = await publicSlots(ev);
        const future = (slots || []).filter((x) => Date.parse(x.ends_at) > now);
        return labelCells(h('tr', { dataset: { slug: ev.slug } }, h('td', {}, txValue(h('span'), ev.title, ev.slug)),
          slots ? h('td', { class: 'num' }, String(future.reduce((a, x) => a + Math.max(0, x.remaining), 0))) : tx(h('td', { class: 'muted' }), 'adHiddenShort'),
          h('td', { class: 'num' }, slots ? String(future.filter((x) => x.remaining > 0).length) : '–')), cols);
      }));
      if (!stopped) tbody.replaceChildren(...rows);
    }
  };
  redraw();
  await tick();
  const timer = setInterval(tick, 2000);
  const onLang = () => redraw();
  i18n.onChange(onLang);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
