// A minimal staff console: the admin token lives in this tab's sessionStorage only; list events,
// create one, generate slots, list bookings. Everything goes through the /v1/admin API.
import * as i18n from './i18n.js';
import { call, retryAfter, errorCode, enc, h } from './api.js';

const { tx, txValue } = i18n;

i18n.extend({
  ja: {
    adminTitle: '管理コンソール',
    adminLogin: '管理トークンでログイン',
    adminToken: '管理トークン',
    adminTokenHint: 'yoyakuctl token create で作ったトークン。このタブを閉じると消えます。',
    adminLoginButton: 'ログイン',
    adminLogout: 'ログアウト',
    adminBadToken: 'トークンが正しくありません。',
    adminEvents: 'イベント',
    adminNoEvents: 'イベントはまだありません。',
    adminSlug: 'スラッグ',
    adminSlugHint: '半角英小文字・数字・ハイフン（URLになります）',
    adminEventTitle: 'タイトル',
    adminState: '公開',
    adminActions: '操作',
    adminPublished: '公開中',
    adminUnpublished: '非公開',
    adminSecret: 'パスワード付き',
    adminOpen: '開く',
    adminOpenPublic: '予約ページを開く',
    adminGenerate: '枠を追加（曜日と時刻から生成）',
    adminFrom: '開始日',
    adminTo: '終了日',
    adminWeekdays: '曜日',
    adminTimes: '開始時刻（カンマ区切り）',
    adminDuration: '1枠の長さ（分）',
    adminCapacity: '定員',
    adminAddSlots: '枠を追加',
    adminCreated: (v) => `${v.n}件の枠を追加しました。`,
    adminBookings: '予約一覧',
    adminNoBookings: '予約はまだありません。',
    adminFields: '入力内容',
    adminMore: 'さらに表示',
    adminCreate: 'イベントを作る',
    adminTimezone: 'タイムゾーン',
    adminDescription: '説明',
    adminMailLang: 'メールの言語',
    adminPassword: 'パスワード（非公開イベント）',
    adminLimit: 'お一人の予約上限',
    adminCancelHours: 'キャンセル期限（開始の何時間前まで）',
    adminFieldsJson: '入力項目（JSON）',
    adminFieldsHint: 'name・label（文字列か {"ja","en"}）・type（text/email/tel/date/number/select/checkbox）・required・max_length・pattern・options・identity',
    adminFieldsBad: 'JSON の配列で書いてください。',
    adminCreateButton: '作成',
    adminEventCreated: (v) => `イベント「${v.slug}」を作りました。`,
    slug_taken: 'このスラッグはすでに使われています。',
    adminInvalid: '入力内容を確かめてください。',
    adminTz: 'タイムゾーン',
    adminSlots: '枠',
    wd: (v) => '月火水木金土日'[v.n - 1],
  },
  en: {
    adminTitle: 'Staff console',
    adminLogin: 'Sign in with an admin token',
    adminToken: 'Admin token',
    adminTokenHint: 'A token from yoyakuctl token create. It is forgotten when this tab closes.',
    adminLoginButton: 'Sign in',
    adminLogout: 'Sign out',
    adminBadToken: 'This token is not valid.',
    adminEvents: 'Events',
    adminNoEvents: 'No events yet.',
    adminSlug: 'Slug',
    adminSlugHint: 'lower-case letters, digits and hyphens (part of the address)',
    adminEventTitle: 'Title',
    adminState: 'Visibility',
    adminActions: 'Actions',
    adminPublished: 'published',
    adminUnpublished: 'not published',
    adminSecret: 'password',
    adminOpen: 'Open',
    adminOpenPublic: 'Open the booking page',
    adminGenerate: 'Add slots (from weekdays and times)',
    adminFrom: 'From',
    adminTo: 'To',
    adminWeekdays: 'Weekdays',
    adminTimes: 'Start times (comma separated)',
    adminDuration: 'Length of a slot (minutes)',
    adminCapacity: 'Capacity',
    adminAddSlots: 'Add slots',
    adminCreated: (v) => `${v.n} slot${v.n === 1 ? '' : 's'} added.`,
    adminBookings: 'Bookings',
    adminNoBookings: 'No bookings yet.',
    adminFields: 'Details',
    adminMore: 'Show more',
    adminCreate: 'Create an event',
    adminTimezone: 'Time zone',
    adminDescription: 'Description',
    adminMailLang: 'Mail language',
    adminPassword: 'Password (secret event)',
    adminLimit: 'Bookings per person',
    adminCancelHours: 'Cancel until (hours before the start)',
    adminFieldsJson: 'Form fields (JSON)',
    adminFieldsHint: 'name, label (a string or {"ja","en"}), type (text/email/tel/date/number/select/checkbox), required, max_length, pattern, options, identity',
    adminFieldsBad: 'Write a JSON array.',
    adminCreateButton: 'Create',
    adminEventCreated: (v) => `Event "${v.slug}" created.`,
    slug_taken: 'This slug is already taken.',
    adminInvalid: 'Please check the highlighted fields.',
    adminTz: 'Time zone',
    adminSlots: 'Slots',
    wd: (v) => ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'][v.n - 1],
  },
});
i18n.init();

const $ = (id) => document.getElementById(id);
const KEY = 'yoyaku.admin';
const SAMPLE_FIELDS = [
  { name: 'name', label: { ja: '氏名', en: 'Name' }, type: 'text', required: true, max_length: 50 },
  { name: 'voucher', label: { ja: '接種券番号', en: 'Voucher number' }, type: 'text', required: true, pattern: '^[0-9]{10}$', identity: true },
];

let token = null;
let current = null;   // the event shown in the panel
let cursor = null;    // next_cursor of the bookings list

try { token = sessionStorage.getItem(KEY); } catch (e) { token = null; }

const setTitle = () => { document.title = `${i18n.t('adminTitle')} — yoyaku`; };
setTitle();
i18n.onChange(setTitle);

function notice(el, kind, key, vars) {
  el.className = `notice ${kind}`;
  if (!key) return el.replaceChildren();
  el.replaceChildren(tx(h('p'), key, vars));
  return el;
}

function failure(el, r) {
  if (r.status === 0) return notice(el, 'err', 'networkError');
  if (r.status === 429 || r.status === 503) return notice(el, 'warn', 'busy', { secs: retryAfter(r) });
  return notice(el, 'err', 'serverError');
}

const admin = (method, path, body) => call(method, `/v1/admin${path}`, { body, headers: { Authorization: `Bearer ${token}` } });

// A 401 anywhere: back to the sign-in form.
function signedOut(r) {
  if (r.status !== 401) return false;
  logout();
  tx($('token-error'), 'adminBadToken');
  return true;
}

function logout() {
  token = null;
  try { sessionStorage.removeItem(KEY); } catch (e) { /* ignore */ }
  $('console').hidden = true;
  $('login').hidden = false;
  $('token').value = '';
  $('token').focus();
}

async function login(ev) {
  ev.preventDefault();
  const err = $('token-error');
  err.replaceChildren();
  const value = $('token').value.trim();
  if (!value) {
    tx(err, 'reason', { r: 'required' });
    return;
  }
  token = value;
  const r = await admin('GET', '/events');
  if (r.status === 401) {
    token = null;
    tx(err, 'adminBadToken');
    $('token').setAttribute('aria-invalid', 'true');
    return;
  }
  $('token').removeAttribute('aria-invalid');
  try { sessionStorage.setItem(KEY, token); } catch (e) { /* this page only */ }
  showConsole(r);
}

async function start() {
  renderWeekdays();
  $('c-fields').value = JSON.stringify(SAMPLE_FIELDS, null, 2);
  const d = new Date(Date.now() + 86400e3);
  $('g-from').value = d.toISOString().slice(0, 10);
  $('g-to').value = new Date(d.getTime() + 13 * 86400e3).toISOString().slice(0, 10);
  if (!token) {
    $('login').hidden = false;
    return;
  }
  const r = await admin('GET', '/events');
  if (signedOut(r)) return;
  showConsole(r);
}

function showConsole(r) {
  $('login').hidden = true;
  $('console').hidden = false;
  renderEvents(r);
  const m = /^\/admin\/events\/([^/]+)$/.exec(location.pathname);
  if (m) openEvent(decodeURIComponent(m[1]), false);
}

async function loadEvents() {
  const r = await admin('GET', '/events');
  if (signedOut(r)) return;
  renderEvents(r);
}

function renderEvents(r) {
  const tbody = $('events');
  if (r.status !== 200 || !r.json || !Array.isArray(r.json.events)) {
    failure($('status'), r);
    return;
  }
  const events = r.json.events;
  if (!events.length) {
    tbody.replaceChildren(h('tr', {}, tx(h('td', { colspan: 4 }), 'adminNoEvents')));
    return;
  }
  tbody.replaceChildren(...events.map((e) => {
    const state = [tx(h('span'), e.published === false ? 'adminUnpublished' : 'adminPublished')];
    if (e.secret) state.push(' · ', tx(h('span'), 'adminSecret'));
    const open = tx(h('button', { type: 'button', class: 'secondary', dataset: { slug: e.slug } }), 'adminOpen');
    open.addEventListener('click', () => openEvent(e.slug, true));
    return h('tr', {}, h('td', {}, h('code', {}, e.slug)), txValue(h('td'), e.title, e.slug), h('td', {}, state), h('td', {}, open));
  }));
}

async function openEvent(slug, push) {
  const r = await admin('GET', `/events/${enc(slug)}`);
  if (signedOut(r)) return;
  if (r.status !== 200 || !r.json) {
    if (r.status === 404) notice($('status'), 'err', 'notFound');
    else failure($('status'), r);
    return;
  }
  notice($('status'), '', null);
  current = r.json;
  if (push) history.pushState(null, '', `/admin/events/${enc(slug)}`);
  const panel = $('event-panel');
  txValue($('panel-title'), current.title, slug);
  $('public-link').href = `/events/${enc(slug)}`;
  const facts = $('panel-facts');
  facts.replaceChildren();
  const fact = (key, value) => facts.append(h('div', {}, tx(h('dt'), key), h('dd', {}, value)));
  fact('adminSlug', h('code', {}, current.slug));
  if (current.venue) fact('venue', current.venue);
  fact('adminTz', current.timezone || 'Asia/Tokyo');
  notice($('slots-result'), '', null);
  panel.hidden = false;
  await loadBookings(true);
  panel.scrollIntoView({ block: 'start' });
  $('panel-title').setAttribute('tabindex', '-1');
  $('panel-title').focus({ preventScroll: true });
}

async function loadBookings(fresh) {
  if (!current) return;
  if (fresh) cursor = null;
  const q = `?limit=50${cursor ? `&cursor=${enc(cursor)}` : ''}`;
  const r = await admin('GET', `/events/${enc(current.slug)}/bookings${q}`);
  if (signedOut(r)) return;
  const tbody = $('bookings');
  if (r.status !== 200 || !r.json || !Array.isArray(r.json.bookings)) {
    failure($('bookings-status'), r);
    return;
  }
  notice($('bookings-status'), '', null);
  const labels = new Map((current.fields || []).map((f) => [f.name, f.label]));
  const rows = r.json.bookings.map((b) => {
    const fields = Object.entries(b.fields || {}).map(([k, v]) => h('div', {},
      txValue(h('span', { class: 'muted' }), labels.get(k) || k, k), ': ', typeof v === 'boolean' ? tx(h('span'), v ? 'yes' : 'no') : String(v)));
    return h('tr', { dataset: { id: b.id } }, h('td', {}, b.id), tx(h('td'), 'range', { a: b.starts_at, b: b.ends_at }),
      h('td', {}, tx(h('span', { class: `status ${b.status}` }), `st_${b.status}`)), h('td', {}, b.email), h('td', {}, fields));
  });
  if (fresh) tbody.replaceChildren(...rows);
  else tbody.append(...rows);
  if (fresh && !rows.length) tbody.replaceChildren(h('tr', {}, tx(h('td', { colspan: 5 }), 'adminNoBookings')));
  cursor = r.json.next_cursor || null;
  $('more').hidden = !cursor;
}

function renderWeekdays() {
  const box = $('weekday-boxes');
  box.replaceChildren(...[1, 2, 3, 4, 5, 6, 7].map((n) => h('label', { class: 'check inline' },
    h('input', { type: 'checkbox', value: n, checked: n <= 5, name: 'weekday' }), tx(h('span'), 'wd', { n }))));
}

function fieldError(id, reason, key) {
  const err = $(`${id}-error`);
  const input = $(id);
  if (!err) return false;
  if (key) tx(err, key);
  else tx(err, 'reason', { r: reason });
  if (input) input.setAttribute('aria-invalid', 'true');
  return true;
}

function clearErrors(form) {
  for (const e of form.querySelectorAll('.error')) {
    e.replaceChildren();
    delete e.dataset.i18n;
  }
  for (const e of form.querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid');
}

async function addSlots(ev) {
  ev.preventDefault();
  const form = $('slots-form');
  clearErrors(form);
  const weekdays = [...form.querySelectorAll('input[name=weekday]:checked')].map((x) => Number(x.value));
  const times = $('g-times').value.split(/[,、\s]+/).map((x) => x.normalize('NFKC').trim()).filter(Boolean);
  const body = {
    generate: {
      from: $('g-from').value, to: $('g-to').value, weekdays, times,
      duration_min: Number($('g-duration').value.normalize('NFKC')), capacity: Number($('g-capacity').value.normalize('NFKC')),
    },
  };
  const r = await admin('POST', `/events/${enc(current.slug)}/slots`, body);
  if (signedOut(r)) return;
  const out = $('slots-result');
  if (r.status === 201 && r.json) {
    notice(out, 'ok', 'adminCreated', { n: r.json.created });
    return;
  }
  if (r.status === 422 && Array.isArray(r.json && r.json.errors)) {
    const ids = { from: 'g-from', to: 'g-to', weekdays: 'g-weekdays', times: 'g-times', duration_min: 'g-duration', capacity: 'g-capacity' };
    for (const e of r.json.errors) {
      const key = String(e.field || '').replace(/^generate\./, '').replace(/\[\d+\]$/, '');
      fieldError(ids[key] || 'g-times', e.reason);
    }
    notice(out, 'err', 'adminInvalid');
    return;
  }
  failure(out, r);
}

async function createEvent(ev) {
  ev.preventDefault();
  const form = $('create-form');
  clearErrors(form);
  const out = $('create-result');
  const val = (id) => $(id).value.trim();
  let fields;
  try {
    fields = JSON.parse($('c-fields').value || '[]');
    if (!Array.isArray(fields)) throw new Error('not an array');
  } catch (e) {
    fieldError('c-fields', null, 'adminFieldsBad');
    notice(out, 'err', 'adminInvalid');
    $('c-fields').focus();
    return;
  }
  const def = { slug: val('c-slug'), title: val('c-title'), fields, lang: $('c-lang').value };
  if (val('c-venue')) def.venue = val('c-venue');
  if (val('c-description')) def.description = $('c-description').value;
  if (val('c-timezone')) def.timezone = val('c-timezone');
  if ($('c-password').value) def.password = $('c-password').value;
  if (val('c-limit')) def.per_person_limit = Number(val('c-limit').normalize('NFKC'));
  if (val('c-cancel')) def.cancel_until_hours = Number(val('c-cancel').normalize('NFKC'));
  let bad = false;
  if (!def.slug) bad = fieldError('c-slug', 'required');
  if (!def.title) bad = fieldError('c-title', 'required') || bad;
  if (bad) {
    notice(out, 'err', 'adminInvalid');
    form.querySelector('[aria-invalid=true]').focus();
    return;
  }
  const r = await admin('POST', '/events', def);
  if (signedOut(r)) return;
  if (r.status === 201) {
    notice(out, 'ok', 'adminEventCreated', { slug: def.slug });
    $('c-slug').value = '';
    $('c-title').value = '';
    $('c-password').value = '';
    await loadEvents();
    await openEvent(def.slug, true);
    return;
  }
  if (r.status === 409 && errorCode(r) === 'slug_taken') {
    fieldError('c-slug', null, 'slug_taken');
    notice(out, 'err', 'slug_taken');
    $('c-slug').focus();
    return;
  }
  if (r.status === 422 && Array.isArray(r.json && r.json.errors)) {
    const ids = { slug: 'c-slug', title: 'c-title', venue: 'c-venue', timezone: 'c-timezone', description: 'c-description',
      lang: 'c-lang', password: 'c-password', per_person_limit: 'c-limit', cancel_until_hours: 'c-cancel' };
    const lines = [];
    for (const e of r.json.errors) {
      const f = String(e.field || '');
      if (ids[f]) fieldError(ids[f], e.reason);
      else if (f.startsWith('fields')) {
        fieldError('c-fields', e.reason);
        lines.push(`${f}: ${e.reason}`);
      } else lines.push(`${f}: ${e.reason}`);
    }
    notice(out, 'err', 'adminInvalid');
    if (lines.length) out.append(h('pre', { class: 'code' }, lines.join('\n')));
    const first = form.querySelector('[aria-invalid=true]');
    if (first) first.focus();
    return;
  }
  failure(out, r);
}

$('login-form').addEventListener('submit', login);
$('logout').addEventListener('click', logout);
$('slots-form').addEventListener('submit', addSlots);
$('create-form').addEventListener('submit', createEvent);
$('more').addEventListener('click', () => loadBookings(false));
window.addEventListener('popstate', () => {
  const m = /^\/admin\/events\/([^/]+)$/.exec(location.pathname);
  if (m && token) openEvent(decodeURIComponent(m[1]), false);
});
start();
