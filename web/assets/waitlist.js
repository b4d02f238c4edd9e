// A booker's waitlist entry: /waitlist/{id}?token=… (the join's answer and the offer mail's link):
// its place in the line, and while a seat is held for it, accept (→ a booking) or leave. The token
// leaves the visible URL at once and stays in this tab's sessionStorage, as on the booking page.
import * as i18n from './i18n.js';
import { call, retryAfter, enc, sleep, h, accessHeaders } from './api.js';
import { WAITLIST_WORDS } from './waitlist-words.js';

const { tx, txValue } = i18n;
i18n.extend(WAITLIST_WORDS);
i18n.init();

const $ = (id) => document.getElementById(id);
const id = decodeURIComponent(location.pathname.split('/')[2] || '');
const KEY = `yoyaku.waitlist.${id}`;

const setTitle = () => { document.title = `${i18n.t('wlTitle')} — yoyaku`; };
setTitle();
i18n.onChange(setTitle);

function takeToken() {
  const params = new URLSearchParams(location.search);
  let token = params.get('token');
  if (token) {
    try { sessionStorage.setItem(KEY, token); } catch (e) { /* memory only */ }
    params.delete('token');
    const q = params.toString();
    history.replaceState(null, '', location.pathname + (q ? `?${q}` : '') + location.hash);
  } else {
    try { token = sessionStorage.getItem(KEY); } catch (e) { token = null; }
  }
  return token;
}

const token = takeToken();
let entry = null;
let event = null; // the event's title, venue and the entry's slot, when the caller may read them
let slot = null;
let busy = false;

function notice(el, kind, key, vars) {
  el.className = `notice ${kind}`;
  if (!key) return el.replaceChildren();
  el.replaceChildren(h('p', {}, tx(h('span'), key, vars)));
  return el;
}
const status = (kind, key, vars) => notice($('status'), kind, key, vars);
const result = (kind, key, vars) => notice($('result'), kind, key, vars);
const headers = () => ({ 'X-Booking-Token': token });

// A queued call's final answer: a 202 is polled at its Location.
async function decided(r) {
  if (r.status !== 202) return r;
  const url = `/v1/requests/${enc(r.json && r.json.request_id)}`;
  for (let i = 0; i < 600; i++) {
    await sleep(1000);
    const p = await call('GET', url);
    if (p.status === 200 && p.json && p.json.status !== 'pending') {
      return { status: Number(p.json.code) || 500, json: p.json, headers: p.headers };
    }
  }
  return { status: 0, json: null, headers: new Headers() };
}

async function load() {
  if (!/^[0-9]{1,18}$/.test(id) || !token) {
    status('err', !token && /^[0-9]{1,18}$/.test(id) ? 'noToken' : 'wlNotFound');
    return;
  }
  const r = await call('GET', `/v1/waitlist/${enc(id)}`, { headers: headers() });
  if (r.status === 200 && r.json && r.json.entry) {
    entry = r.json.entry;
    if (!event) {
      // A secret event without this tab's access token shows its slug and no time.
      const base = `/v1/events/${enc(entry.event)}`;
      const [e, sl] = await Promise.all([call('GET', base, { headers: accessHeaders(entry.event) }),
        call('GET', `${base}/slots`, { headers: accessHeaders(entry.event) })]);
      event = e.status === 200 ? e.json : null;
      slot = sl.status === 200 && sl.json && Array.isArray(sl.json.slots)
        ? sl.json.slots.find((x) => x.id === entry.slot_id) || null : null;
    }
    status('', null);
    render();
    return;
  }
  if (r.status === 404) return status('err', 'wlNotFound');
  if (r.status === 0) return status('err', 'networkError');
  if (r.status === 429) return status('warn', 'rate_limited', { secs: retryAfter(r) });
  if (r.status === 503) return status('warn', 'unavailable', { secs: retryAfter(r) });
  return status('err', 'serverError');
}

function render() {
  const e = entry;
  txValue($('event-title'), event && event.title ? event.title : e.event, e.event);
  const rows = [
    tx(h('dt'), 'wlNumber'), h('dd', { class: 'big-number', id: 'entry-number' }, e.id),
    tx(h('dt'), 'status'), h('dd', {}, tx(h('span', { class: `status wl-${e.status}`, id: 'entry-status' }), `wl_${e.status}`)),
  ];
  if (slot) rows.push(tx(h('dt'), 'when'), tx(h('dd', { id: 'entry-when' }), 'range', { a: slot.starts_at, b: slot.ends_at }));
  if (event && event.venue) rows.push(tx(h('dt'), 'venue'), txValue(h('dd'), event.venue));
  if (e.status === 'waiting' && Number.isFinite(e.position)) {
    rows.push(tx(h('dt'), 'wlPosition'), tx(h('dd', { id: 'entry-position' }), 'wlPositionN', { n: e.position }));
  }
  if (e.status === 'offered' && e.offer_expires_at) {
    rows.push(tx(h('dt'), 'wlHeldUntil'), tx(h('dd', { id: 'entry-expires' }), 'dateTime', { at: e.offer_expires_at }));
  }
  if (e.created_at) rows.push(tx(h('dt'), 'wlCreatedAt'), tx(h('dd'), 'dateTime', { at: e.created_at }));
  $('kv').replaceChildren(...rows);
  $('accept').hidden = e.status !== 'offered';
  $('leave').hidden = !(e.status === 'waiting' || e.status === 'offered');
  if (e.status === 'offered') result('ok', 'wlOffered');
  else if (e.status === 'waiting') result('info', 'wlWaiting');
  else result('', null);
  $('entry').hidden = false;
}

async function act(what) {
  if (busy) return;
  busy = true;
  $('accept').disabled = true;
  $('leave').disabled = true;
  result('info', 'submitting');
  const r = await decided(await call('POST', `/v1/waitlist/${enc(id)}/${what}`, { headers: headers() }));
  busy = false;
  $('accept').disabled = false;
  $('leave').disabled = false;
  const code = r.json && r.json.error;
  if (what === 'accept' && r.status === 201 && r.json && r.json.booking) {
    const b = r.json.booking;
    entry = { ...entry, status: 'accepted' };
    render();
    const link = `/bookings/${enc(b.id)}?token=${enc(r.json.token || '')}`;
    const box = $('booked');
    box.replaceChildren(
      tx(h('p', { class: 'notice ok' }), 'wlBooked', { n: b.id }),
      tx(h('a', { class: 'primary', href: link, id: 'booking-link' }), 'openBooking'));
    box.hidden = false;
    $('booking-link').focus();
    return;
  }
  if (what === 'leave' && r.status === 200 && r.json && r.json.entry) {
    entry = r.json.entry;
    render();
    result('info', 'wlLeft');
    return;
  }
  if (r.status === 409 && code) {
    await load();
    result('err', i18n.has(code) ? code : 'serverError');
    $('result').focus();
    return;
  }
  if (r.status === 404) return result('err', 'wlNotFound');
  if (r.status === 429 || r.status === 503) {
    return result('warn', r.status === 429 ? 'rate_limited' : 'unavailable', { secs: retryAfter(r) });
  }
  return result('err', r.status === 0 ? 'networkError' : 'serverError');
}

$('accept').addEventListener('click', () => act('accept'));
$('leave').addEventListener('click', () => act('leave'));
load();
