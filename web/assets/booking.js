// A booker's own booking: /bookings/{id}?token=… (the link of the confirmation mail). The token
// leaves the visible URL at once (history.replaceState) and stays in this tab's sessionStorage.
import * as i18n from './i18n.js';
import { call, retryAfter, errorCode, accessHeaders, enc, sleep, h } from './api.js';

const { tx, txValue } = i18n;
i18n.init();

const $ = (id) => document.getElementById(id);
const id = decodeURIComponent(location.pathname.split('/')[2] || '');
const KEY = `yoyaku.booking.${id}`;

const setTitle = () => { document.title = `${i18n.t('bookingTitle')} — yoyaku`; };
setTitle();
i18n.onChange(setTitle);

function takeToken() {
  const params = new URLSearchParams(location.search);
  let token = params.get('token');
  if (token) {
    try { sessionStorage.setItem(KEY, token); } catch (e) { /* keep it in memory only */ }
    params.delete('token');
    const q = params.toString();
    history.replaceState(null, '', location.pathname + (q ? `?${q}` : '') + location.hash);
  } else {
    try { token = sessionStorage.getItem(KEY); } catch (e) { token = null; }
  }
  return token;
}

const token = takeToken();
let booking = null;
let event = null;

function notice(el, kind, key, vars, spinner) {
  el.className = `notice ${kind}`;
  if (!key) return el.replaceChildren();
  const p = h('p');
  if (spinner) p.append(h('span', { class: 'spinner', 'aria-hidden': 'true' }));
  p.append(tx(h('span'), key, vars));
  el.replaceChildren(p);
  return el;
}
const status = (kind, key, vars) => notice($('status'), kind, key, vars);
const result = (kind, key, vars, spinner) => notice($('result'), kind, key, vars, spinner);

const headers = () => ({ 'X-Booking-Token': token, ...(booking ? accessHeaders(booking.event) : {}) });

async function load() {
  if (!/^[0-9]{1,18}$/.test(id) || !token) {
    status('err', !token && /^[0-9]{1,18}$/.test(id) ? 'noToken' : 'bookingNotFound');
    return;
  }
  const r = await call('GET', `/v1/bookings/${enc(id)}`, { headers: headers() });
  if (r.status === 200 && r.json && r.json.booking) {
    booking = r.json.booking;
    status('', null);
    // The event's title, venue and labels: a secret event without access shows its slug only.
    const e = await call('GET', `/v1/events/${enc(booking.event)}`, { headers: accessHeaders(booking.event) });
    event = e.status === 200 ? e.json : (e.json && e.json.title ? { title: e.json.title } : null);
    render();
    return;
  }
  if (r.status === 404) return status('err', 'bookingNotFound');
  if (r.status === 0) return status('err', 'networkError');
  if (r.status === 429 || r.status === 503) return status('warn', 'busy', { secs: retryAfter(r) });
  status('err', 'serverError');
}

function fieldValue(def, v) {
  if (typeof v === 'boolean') return tx(h('dd'), v ? 'yes' : 'no');
  return h('dd', {}, v == null ? '' : String(v));
}

function render() {
  const b = booking;
  txValue($('event-title'), event && event.title ? event.title : b.event, b.event);
  const kv = $('kv');
  const st = h('dd', {}, tx(h('span', { class: `status ${b.status}`, id: 'booking-status' }), `st_${b.status}`));
  const rows = [
    tx(h('dt'), 'bookingNo'), h('dd', { class: 'big-number', id: 'booking-number' }, b.id),
    tx(h('dt'), 'status'), st,
    tx(h('dt'), 'when'), tx(h('dd', { id: 'booking-when' }), 'range', { a: b.starts_at, b: b.ends_at }),
  ];
  if (event && event.venue) rows.push(tx(h('dt'), 'venue'), txValue(h('dd'), event.venue));
  rows.push(tx(h('dt'), 'email'), h('dd', {}, b.email));
  const defs = event && Array.isArray(event.fields) ? event.fields : [];
  const fields = b.fields && typeof b.fields === 'object' ? b.fields : {};
  const seen = new Set();
  for (const def of defs) {
    if (!def || !(def.name in fields)) continue;
    seen.add(def.name);
    rows.push(txValue(h('dt'), def.label, def.name), fieldValue(def, fields[def.name]));
  }
  for (const [name, v] of Object.entries(fields)) {
    if (!seen.has(name)) rows.push(h('dt', {}, name), fieldValue(null, v));
  }
  if (b.created_at) rows.push(tx(h('dt'), 'createdAt'), tx(h('dd'), 'dateTime', { at: b.created_at }));
  kv.replaceChildren(...rows);

  const cancel = $('cancel');
  const until = $('cancel-until');
  until.replaceChildren();
  delete until.dataset.i18n;
  if (b.status === 'confirmed') {
    cancel.hidden = false;
    const hours = event && Number.isFinite(event.cancel_until_hours) ? event.cancel_until_hours : null;
    const start = Date.parse(b.starts_at);
    if (hours != null && Number.isFinite(start)) {
      // The deadline in the event's local time: the slot's own offset applies (same zone).
      const at = shiftRfc(b.starts_at, -hours);
      if (at) tx(until, 'cancelUntil', { at });
    }
  } else {
    cancel.hidden = true;
  }
  $('booking').hidden = false;
}

// RFC 3339 local time moved by some hours, keeping its offset text ("…+09:00").
function shiftRfc(rfc, hours) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?(Z|[+-]\d{2}:\d{2})$/.exec(rfc);
  if (!m) return null;
  const local = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0)) + hours * 3600 * 1000;
  const d = new Date(local);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}T${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:00${m[7]}`;
}

async function doCancel() {
  const btn = $('cancel');
  btn.disabled = true;
  result('info', 'cancelling', null, true);
  let r = await call('POST', `/v1/bookings/${enc(id)}/cancel`, { headers: headers() });
  // A cancellation is queued like a booking: a 202 is polled until it is decided.
  if (r.status === 202) {
    const url = r.headers.get('Location') || `/v1/requests/${enc(r.json.request_id)}`;
    const deadline = Date.now() + 10 * 60 * 1000;
    for (;;) {
      await sleep(1000);
      const p = await call('GET', url);
      if (p.status === 200 && p.json && p.json.status !== 'pending') {
        r = { status: Number(p.json.code) || 200, json: p.json, headers: p.headers };
        break;
      }
      if ((p.status === 404) || Date.now() > deadline) {
        r = { status: 500, json: null, headers: p.headers };
        break;
      }
    }
  }
  btn.disabled = false;
  if (r.status === 200 && r.json && r.json.booking) {
    booking = r.json.booking;
    render();
    result('ok', 'cancelled').focus();
    return;
  }
  const code = errorCode(r);
  if (r.status === 409 && code === 'cancellation_closed') {
    result('err', 'cancellation_closed');
    btn.hidden = true;
    return;
  }
  if (r.status === 404) return result('err', 'bookingNotFound');
  if (r.status === 0) return result('err', 'networkError');
  if (r.status === 429 || r.status === 503) return result('warn', 'busy', { secs: retryAfter(r) });
  result('err', 'serverError');
}

const dialog = $('confirm');
$('cancel').addEventListener('click', () => {
  if (typeof dialog.showModal === 'function') {
    dialog.returnValue = '';
    dialog.showModal();
  } else if (window.confirm(i18n.t('cancelConfirmTitle'))) {
    doCancel();
  }
});
dialog.addEventListener('close', () => {
  if (dialog.returnValue === 'yes') doCancel();
  else $('cancel').focus();
});

load();
