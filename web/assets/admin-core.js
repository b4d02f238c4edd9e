// admin-core: what every console view shares — the signed-in staff member and their role, the
// /v1/admin calls (session cookie; an API token from the fallback sign-in when one is set), notices,
// errors next to controls, and a few DOM builders that keep every input labelled.
import * as i18n from './i18n.js';
import { call, retryAfter, h } from './api.js';

export const { tx, txValue, txAttr, t } = i18n;
export { h };

const TOKEN = 'yoyaku.admin';
const RANK = { desk: 1, staff: 2, owner: 3 };

export const state = { me: null, role: null, token: null, onSignedOut: null };
try { state.token = sessionStorage.getItem(TOKEN); } catch (e) { state.token = null; }

export function setToken(tok) {
  state.token = tok;
  try {
    if (tok) sessionStorage.setItem(TOKEN, tok);
    else sessionStorage.removeItem(TOKEN);
  } catch (e) { /* this page only */ }
}

// True when the signed-in role is `least` or above.
export const can = (least) => (RANK[state.role] || 0) >= RANK[least];

export async function admin(method, path, body) {
  const headers = state.token ? { Authorization: `Bearer ${state.token}` } : {};
  const r = await call(method, `/v1/admin${path}`, { body, headers });
  if (r.status === 401 && state.me && path !== '/login' && state.onSignedOut) state.onSignedOut();
  return r;
}

export const $ = (id) => document.getElementById(id);

export function notice(el, kind, key, vars) {
  el.className = `notice ${kind || ''}`;
  if (!key) {
    el.replaceChildren();
    return el;
  }
  el.replaceChildren(tx(h('p'), key, vars));
  return el;
}

// Any answer not handled by the caller, in plain words.
export function failure(el, r) {
  if (r.status === 0) return notice(el, 'err', 'networkError');
  if (r.status === 429 || r.status === 503) return notice(el, 'warn', 'busy', { secs: retryAfter(r) });
  if (r.status === 403) return notice(el, 'err', 'adForbidden');
  if (r.status === 404) return notice(el, 'err', 'adNotFound');
  return notice(el, 'err', 'serverError');
}

// A labelled control: {id, key (label text key), type, hint, value, attrs, control (an element)}.
// The error paragraph is `${id}-error`, always present, so aria-describedby never points nowhere.
export function field({ id, key, type = 'text', hint, value, attrs = {}, control, req }) {
  const described = [hint ? `${id}-hint` : null, `${id}-error`].filter(Boolean).join(' ');
  let el = control;
  if (!el) {
    el = type === 'textarea' ? h('textarea', { id, ...attrs }) : h('input', { id, type, ...attrs });
    if (value != null) el.value = value;
  }
  el.id = id;
  el.setAttribute('aria-describedby', described);
  const label = h('label', { for: id }, tx(h('span'), key));
  if (req) label.append(tx(h('span', { class: 'badge req' }), 'requiredMark'));
  return h('div', { class: 'field' }, label,
    hint ? tx(h('span', { class: 'hint', id: `${id}-hint` }), hint) : null,
    el, h('p', { class: 'error', id: `${id}-error` }));
}

export function checkbox(id, key, checked) {
  const input = h('input', { type: 'checkbox', id, checked: !!checked });
  return h('div', { class: 'field' }, h('label', { class: 'check', for: id }, input, tx(h('span'), key)));
}

export function select(id, options, value) {
  const s = h('select', { id });
  for (const [v, key, raw] of options) {
    const o = h('option', { value: v });
    if (raw) o.textContent = key;
    else tx(o, key);
    s.append(o);
  }
  if (value != null) s.value = value;
  return s;
}

export function fieldError(id, reason, key) {
  const err = $(`${id}-error`);
  if (!err) return false;
  if (key) tx(err, key);
  else tx(err, 'reason', { r: reason });
  const input = $(id);
  if (input) input.setAttribute('aria-invalid', 'true');
  return true;
}

export function clearErrors(root) {
  for (const e of root.querySelectorAll('.error')) {
    e.replaceChildren();
    delete e.dataset.i18n;
  }
  for (const e of root.querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid');
}

export function focusFirstError(root) {
  const first = root.querySelector('[aria-invalid=true]');
  if (first) first.focus();
}

export const num = (s) => {
  const v = String(s ?? '').normalize('NFKC').trim();
  return v === '' ? null : Number(v);
};

// A view's heading, focused when the view opens (screen readers and keyboards start there).
export function heading(key, vars) {
  return tx(h('h2', { tabindex: '-1', class: 'view-title' }), key, vars);
}

export function statusBadge(status) {
  return tx(h('span', { class: `status ${status}` }), `st_${status}`);
}

// ---------------------------------------------------------------------------------------------
// time zones: "YYYY-MM-DDTHH:MM" local to tz ↔ RFC 3339 with that zone's offset

function offsetMinutes(tz, utcMs) {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  }).formatToParts(new Date(utcMs));
  const g = (k) => Number(parts.find((p) => p.type === k).value);
  const asUtc = Date.UTC(g('year'), g('month') - 1, g('day'), g('hour') % 24, g('minute'), g('second'));
  return Math.round((asUtc - utcMs) / 60000);
}

export function localToRfc3339(local, tz) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(local || '');
  if (!m) return null;
  const naive = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
  let off;
  try {
    off = offsetMinutes(tz, naive);
    off = offsetMinutes(tz, naive - off * 60000);
  } catch (e) {
    off = 540;
  }
  const sign = off < 0 ? '-' : '+';
  const a = Math.abs(off);
  const pad = (n) => String(n).padStart(2, '0');
  return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:00${sign}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
}

// Narrow screens show each table row as a card; every cell names its column (data-label, via CSS).
export function labelCells(row, keys) {
  keys.forEach((k, i) => {
    const td = row.children[i];
    if (!td || !k) return;
    td.dataset.labelKey = k;
    td.dataset.label = t(k);
  });
  return row;
}

i18n.onChange(() => {
  for (const td of document.querySelectorAll('td[data-label-key]')) td.dataset.label = t(td.dataset.labelKey);
});

export const rfcToLocal = (rfc) => (rfc ? String(rfc).slice(0, 16) : '');
