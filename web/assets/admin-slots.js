// admin-slots: the slot generator. The preview (the starts it will create, computed here from the
// same rule the server applies: each day from..to whose ISO weekday is chosen, each time) is shown
// before anything is sent; then POST /v1/admin/events/{slug}/slots {"generate":…}.
import { enc } from './api.js';
import {
  $, admin, clearErrors, failure, field, fieldError, focusFirstError, h, heading, notice, num, tx,
} from './admin-core.js';
import { eventNav } from './admin-editor.js';
import { publicSlots } from './admin-events.js';

const pad = (n) => String(n).padStart(2, '0');

export function parseTimes(s) {
  return [...new Set(String(s).normalize('NFKC').split(/[,、\s]+/).map((x) => x.trim()).filter(Boolean))]
    .map((x) => (/^\d:\d\d$/.test(x) ? `0${x}` : x)).sort();
}

// → [{date, start, end}] local to the event; end may pass midnight (shown as +1).
export function preview({ from, to, weekdays, times, duration }) {
  const out = [];
  const a = Date.parse(`${from}T00:00:00Z`);
  const b = Date.parse(`${to}T00:00:00Z`);
  if (!Number.isFinite(a) || !Number.isFinite(b) || b < a || b - a > 400 * 86400e3) return out;
  for (let d = a; d <= b; d += 86400e3) {
    const day = new Date(d);
    const iso = ((day.getUTCDay() + 6) % 7) + 1;
    if (!weekdays.includes(iso)) continue;
    const date = day.toISOString().slice(0, 10);
    for (const tm of times) {
      const m = /^(\d{2}):(\d{2})$/.exec(tm);
      if (!m) continue;
      const mins = Number(m[1]) * 60 + Number(m[2]) + (duration || 0);
      const end = `${pad(Math.floor(mins / 60) % 24)}:${pad(mins % 60)}${mins >= 1440 ? ' (+1)' : ''}`;
      out.push({ date, start: tm, end });
    }
  }
  return out;
}

export async function slotsView(view, slug) {
  const card = h('section', { class: 'card', 'aria-labelledby': 'slots-title' });
  const title = heading('adGenerate');
  title.id = 'slots-title';
  card.append(title, eventNav(slug, 'slots'));
  const flash = sessionStorage.getItem('yoyaku.admin.flash');
  const status = h('div', { class: 'notice', id: 'slots-status', role: 'status', 'aria-live': 'polite' });
  card.append(status);
  if (flash) {
    sessionStorage.removeItem('yoyaku.admin.flash');
    notice(status, 'ok', flash, { slug });
  }
  view.append(card);
  const r = await admin('GET', `/events/${enc(slug)}`);
  if (r.status !== 200) {
    failure(status, r);
    return null;
  }
  const ev = r.json.event || r.json;
  const from = new Date(Date.now() + 86400e3).toISOString().slice(0, 10);
  const to = new Date(Date.now() + 14 * 86400e3).toISOString().slice(0, 10);
  const days = h('div', { class: 'weekdays' }, [1, 2, 3, 4, 5, 6, 7].map((n) => h('label', { class: 'check inline', for: `g-wd${n}` },
    h('input', { type: 'checkbox', id: `g-wd${n}`, value: n, checked: n <= 5, name: 'weekday' }), tx(h('span'), 'wd', { n }))));
  const list = h('ol', { class: 'preview-list', id: 'preview-list', tabindex: '0', 'aria-labelledby': 'preview-title' });
  const summary = h('p', { id: 'preview-count', role: 'status', 'aria-live': 'polite' });
  const form = h('form', { id: 'slots-form', novalidate: true },
    tx(h('p', { class: 'hint' }), 'adWindowHint', { tz: ev.timezone || 'Asia/Tokyo' }),
    h('div', { class: 'row two' },
      field({ id: 'g-from', key: 'adFrom', type: 'date', value: from }),
      field({ id: 'g-to', key: 'adTo', type: 'date', value: to })),
    h('fieldset', { class: 'field ad-group', id: 'g-weekdays', 'aria-describedby': 'g-weekdays-error' },
      tx(h('legend'), 'adWeekdays'), days, h('p', { class: 'error', id: 'g-weekdays-error' })),
    field({ id: 'g-times', key: 'adTimes', hint: 'adTimesHint', value: '09:00, 09:30, 10:00, 10:30' }),
    h('div', { class: 'row two' },
      field({ id: 'g-duration', key: 'adDuration', type: 'number', value: 30, attrs: { min: 1 } }),
      field({ id: 'g-capacity', key: 'adCapacity', type: 'number', value: 20, attrs: { min: 1 } })),
    h('section', { class: 'preview', 'aria-labelledby': 'preview-title' }, tx(h('h3', { id: 'preview-title' }), 'adPreview'), summary, list),
    h('div', { class: 'notice', id: 'slots-result', role: 'status', 'aria-live': 'polite' }),
    tx(h('button', { type: 'submit', class: 'primary', id: 'slots-submit' }), 'adAddSlots'));
  card.append(form);
  const existing = h('section', { class: 'card', 'aria-labelledby': 'existing-title' }, tx(h('h2', { id: 'existing-title' }), 'adExisting'));
  view.append(existing);

  const read = () => ({
    from: $('g-from').value, to: $('g-to').value,
    weekdays: [...form.querySelectorAll('input[name=weekday]:checked')].map((x) => Number(x.value)),
    times: parseTimes($('g-times').value), duration: num($('g-duration').value), capacity: num($('g-capacity').value),
  });
  const draw = () => {
    const p = preview(read());
    tx(summary, 'adPreviewCount', { n: p.length });
    list.replaceChildren(...p.slice(0, 300).map((s) => h('li', {},
      tx(h('span'), 'dateShort', { d: s.date }), ` ${s.start}–${s.end}`)));
    if (p.length > 300) list.append(tx(h('li', { class: 'muted' }), 'adPreviewMore', { n: p.length - 300 }));
    return p;
  };
  form.addEventListener('input', draw);
  form.addEventListener('change', draw);
  draw();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    const g = read();
    const out = $('slots-result');
    let bad = false;
    if (!g.from) bad = fieldError('g-from', 'required');
    if (!g.to || (g.from && g.to < g.from)) bad = fieldError('g-to', g.to ? 'pattern' : 'required') || bad;
    if (!g.weekdays.length) bad = fieldError('g-weekdays', 'required') || bad;
    if (!g.times.length || g.times.some((x) => !/^([01]\d|2[0-3]):[0-5]\d$/.test(x))) bad = fieldError('g-times', g.times.length ? 'pattern' : 'required') || bad;
    if (!(g.duration > 0)) bad = fieldError('g-duration', 'required') || bad;
    if (!(g.capacity > 0)) bad = fieldError('g-capacity', 'required') || bad;
    if (bad) {
      notice(out, 'err', 'adInvalid');
      focusFirstError(form);
      return;
    }
    const body = { generate: { from: g.from, to: g.to, weekdays: g.weekdays, times: g.times, duration_min: g.duration, capacity: g.capacity } };
    $('slots-submit').disabled = true;
    const res = await admin('POST', `/events/${enc(slug)}/slots`, body);
    $('slots-submit').disabled = false;
    if (res.status === 201 && res.json) {
      notice(out, 'ok', 'adCreated', { n: res.json.created });
      showExisting(existing, ev);
      return;
    }
    if (res.status === 422 && res.json && Array.isArray(res.json.errors)) {
      const ids = { from: 'g-from', to: 'g-to', weekdays: 'g-weekdays', times: 'g-times', duration_min: 'g-duration', capacity: 'g-capacity' };
      for (const x of res.json.errors) {
        const key = String(x.field || '').replace(/^generate\./, '').replace(/\[\d+\]$/, '');
        fieldError(ids[key] || 'g-times', x.reason);
      }
      notice(out, 'err', 'adInvalid');
      focusFirstError(form);
      return;
    }
    failure(out, res);
  });
  showExisting(existing, ev);
  return null;
}

async function showExisting(box, ev) {
  const slots = await publicSlots(ev);
  box.querySelector('.ex-body')?.remove();
  const body = h('div', { class: 'ex-body' });
  box.append(body);
  if (!slots) {
    body.append(tx(h('p', { class: 'muted' }), 'adExistingHidden'));
    return;
  }
  if (!slots.length) {
    body.append(tx(h('p', { class: 'muted' }), 'noSlots'));
    return;
  }
  body.append(h('ul', { class: 'ex-list' }, slots.slice(0, 200).map((s) => h('li', {},
    tx(h('span'), 'range', { a: s.starts_at, b: s.ends_at }), ' · ',
    tx(h('span', { class: s.remaining > 0 ? 'ok' : 'muted' }), 'adSeats', { n: s.remaining, c: s.capacity })))));
}
