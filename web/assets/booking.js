// A booker's own booking: /bookings/{id}?token=… (the link of the confirmation mail). The token
// leaves the visible URL at once (history.replaceState) and stays in this tab's sessionStorage.
import * as i18n from './i18n.js';
import { call, retryAfter, errorCode, accessHeaders, enc, sleep, h, checkinBlock } from './api.js';

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
  if (r.status === 429) return status('warn', 'rate_limited', { secs: retryAfter(r) });
  if (r.status === 503) return status('warn', 'unavailable', { secs: retryAfter(r) });
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
  // The check-in QR code and code while the booking is to be used; the review once attended.
  const checkin = $('checkin-box');
  if (b.status === 'confirmed' && b.checkin_code) {
    if (checkin.dataset.code !== b.checkin_code) {
      checkin.dataset.code = b.checkin_code;
      checkin.replaceChildren(checkinBlock(b, headers(), 'h3'));
    }
    checkin.hidden = false;
  } else {
    checkin.hidden = true;
    checkin.replaceChildren();
    delete checkin.dataset.code;
  }
  renderReview();
  $('booking').hidden = false;
}

// ---------------------------------------------------------------------------------------------
// review (POST /v1/bookings/{id}/review): a rating 1–5 as five radio buttons, a comment of at most
// COMMENT_MAX characters (code points, as the server counts) with a counter.

const COMMENT_MAX = 2000;
const chars = (s) => [...s].length;

function renderReview() {
  const sec = $('review');
  if (!booking || booking.status !== 'attended') {
    sec.hidden = true;
    return;
  }
  sec.hidden = false;
  if (sec.dataset.built) return;
  sec.dataset.built = '1';
  const radios = [1, 2, 3, 4, 5].map((n) => h('label', { class: 'rate', for: `rating-${n}` },
    h('input', { type: 'radio', name: 'rating', id: `rating-${n}`, value: String(n), 'aria-describedby': 'rating-error' }),
    h('span', { class: 'rate-text' }, h('span', { class: 'rate-n' }, String(n)), ' ', tx(h('span', { class: 'rate-w' }), `rating${n}`))));
  const counter = h('p', { class: 'hint counter', id: 'comment-count', 'aria-live': 'polite' });
  const comment = h('textarea', { id: 'comment', name: 'comment', rows: 5, 'aria-describedby': 'comment-count comment-error' });
  const count = () => {
    const left = COMMENT_MAX - chars(comment.value);
    tx(counter, 'charsLeft', { n: left });
    counter.classList.toggle('over', left < 0);
    if (left >= 0 && comment.getAttribute('aria-invalid') === 'true') clearReviewError('comment');
  };
  comment.addEventListener('input', count);
  const form = h('form', { id: 'review-form', novalidate: true },
    h('fieldset', { class: 'rating', 'aria-describedby': 'rating-hint' },
      h('legend', {}, tx(h('span'), 'rating'), tx(h('span', { class: 'badge req' }), 'requiredMark')),
      tx(h('p', { class: 'hint', id: 'rating-hint' }), 'ratingHint'),
      h('div', { class: 'rates' }, radios),
      h('p', { class: 'error', id: 'rating-error', role: 'alert' })),
    h('div', { class: 'field' },
      h('label', { for: 'comment' }, tx(h('span'), 'comment'), tx(h('span', { class: 'badge opt' }), 'optionalMark')),
      comment, counter,
      h('p', { class: 'error', id: 'comment-error', role: 'alert' })),
    h('div', { id: 'review-result', class: 'notice', role: 'alert', 'aria-live': 'assertive', tabindex: '-1' }),
    tx(h('button', { type: 'submit', class: 'primary', id: 'review-submit' }), 'sendReview'));
  for (const r of form.querySelectorAll('input[name=rating]')) r.addEventListener('change', () => clearReviewError('rating'));
  form.addEventListener('submit', sendReview);
  sec.replaceChildren(tx(h('h2', { id: 'review-title' }), 'reviewTitle'), tx(h('p'), 'reviewIntro'), form);
  count();
}

function reviewError(which, key, vars) {
  tx($(`${which}-error`), key, vars);
  if (which === 'rating') for (const r of document.querySelectorAll('input[name=rating]')) r.setAttribute('aria-invalid', 'true');
  else $(which).setAttribute('aria-invalid', 'true');
}

function clearReviewError(which) {
  const err = $(`${which}-error`);
  if (!err) return;
  err.replaceChildren();
  delete err.dataset.i18n;
  if (which === 'rating') for (const r of document.querySelectorAll('input[name=rating]')) r.removeAttribute('aria-invalid');
  else $(which).removeAttribute('aria-invalid');
}

let reviewBusy = false;
async function sendReview(ev) {
  ev.preventDefault();
  if (reviewBusy) return;
  clearReviewError('rating');
  clearReviewError('comment');
  const out = $('review-result');
  const rated = document.querySelector('input[name=rating]:checked');
  const text = $('comment').value.trim();
  let first = null;
  if (!rated) {
    reviewError('rating', 'pickRating');
    first = document.querySelector('input[name=rating]');
  }
  if (chars(text) > COMMENT_MAX) {
    reviewError('comment', 'reason', { r: 'too_long' });
    first = first || $('comment');
  }
  if (first) {
    notice(out, 'err', 'invalid_fields');
    first.focus();
    return;
  }
  const btn = $('review-submit');
  reviewBusy = true;
  btn.disabled = true;
  tx(btn, 'sendingReview');
  notice(out, 'info', 'sendingReview', null, true);
  const body = { rating: Number(rated.value) };
  if (text) body.comment = text;
  const r = await call('POST', `/v1/bookings/${enc(id)}/review`, { body, headers: headers() });
  reviewBusy = false;
  btn.disabled = false;
  tx(btn, 'sendReview');
  const code = errorCode(r);
  if (r.status === 201) return reviewDone(r.json && r.json.review, 'reviewThanks', 'ok');
  if (r.status === 409 && code === 'already_reviewed') return reviewDone(null, 'already_reviewed', 'info');
  if (r.status === 409 && code === 'not_attended') {
    $('review').hidden = true;
    return notice($('result'), 'err', 'not_attended').focus();
  }
  if (r.status === 422 && code === 'invalid_fields' && Array.isArray(r.json.errors)) {
    for (const e of r.json.errors) {
      if (e && (e.field === 'rating' || e.field === 'comment')) reviewError(e.field, 'reason', { r: e.reason });
    }
    notice(out, 'err', 'invalid_fields');
    const bad = document.querySelector('#review-form [aria-invalid=true]');
    if (bad) bad.focus();
    return;
  }
  if (r.status === 404) return notice(out, 'err', 'bookingNotFound');
  if (r.status === 0) return notice(out, 'err', 'networkError');
  if (r.status === 429) return notice(out, 'warn', 'rate_limited', { secs: retryAfter(r) });
  if (r.status === 503) return notice(out, 'warn', 'unavailable', { secs: retryAfter(r) });
  notice(out, 'err', code && i18n.has(code) ? code : 'serverError');
}

// The review is in: the form gives way to a thank-you (and what was sent, when the server says).
function reviewDone(review, key, kind) {
  const sec = $('review');
  const parts = [tx(h('h2', { id: 'review-title' }), 'reviewTitle')];
  const msg = h('div', { id: 'review-result', class: `notice ${kind}`, role: 'status', tabindex: '-1' }, tx(h('p'), key));
  parts.push(msg);
  if (review && Number.isInteger(review.rating)) {
    parts.push(tx(h('p', { id: 'review-rating' }), 'yourRating', { n: review.rating }));
    if (review.comment) parts.push(h('p', { class: 'review-comment', id: 'review-comment' }, review.comment));
  }
  sec.replaceChildren(...parts);
  msg.focus();
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
  if (r.status === 429) return result('warn', 'rate_limited', { secs: retryAfter(r) });
  if (r.status === 503) return result('warn', 'unavailable', { secs: retryAfter(r) });
  result('err', code && i18n.has(code) ? code : 'serverError');
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
