// The booking page of one event: details, slots by local date, the form built from the event's
// field definitions, and every answer of POST /v1/events/{slug}/reservations.
import * as i18n from './i18n.js';
import {
  call, retryAfter, errorCode, accessHeaders, setAccessToken, forgetAccessToken, enc, newKey, sleep, h,
  checkinBlock,
} from './api.js';
import { phasesFact, watchPhase } from './phases.js';

const { t, tx, txValue, txAttr } = i18n;
i18n.init();

const $ = (id) => document.getElementById(id);
const slug = decodeURIComponent(location.pathname.split('/')[2] || '');
const base = `/v1/events/${enc(slug)}`;

const state = {
  event: null,
  slots: [],
  busy: false,       // a submission is in flight (or being polled)
  pending: null,     // {key, body}: the last submission, resent with the same key when unchanged
  holdUntil: 0,      // Retry-After: no resubmission before this time
  day: null,         // the local date whose slots are shown
};

// ---------------------------------------------------------------------------------------------
// status regions

function notice(el, kind, key, vars, spinner) {
  el.className = `notice ${kind}`;
  if (!key) {
    el.replaceChildren();
    return;
  }
  const p = h('p');
  if (spinner) p.append(h('span', { class: 'spinner', 'aria-hidden': 'true' }));
  p.append(tx(h('span'), key, vars));
  el.replaceChildren(p);
}

const pageStatus = (kind, key, vars) => notice($('status'), kind, key, vars);
const pageAlert = (key, vars) => notice($('alert'), 'err', key, vars);
const result = (kind, key, vars, spinner) => notice($('result'), kind, key, vars, spinner);

// ---------------------------------------------------------------------------------------------
// event

async function loadEvent() {
  pageStatus('info', 'loading');
  const r = await call('GET', base, { headers: accessHeaders(slug) });
  if (r.status === 200 && r.json) {
    pageStatus('', null);
    state.event = r.json;
    $('secret').hidden = true;
    renderEvent();
    await loadSlots();
    return;
  }
  if (r.status === 401 && errorCode(r) === 'password_required') {
    forgetAccessToken(slug);
    pageStatus('', null);
    showSecret(r.json);
    return;
  }
  if (r.status === 404) return pageStatus('err', 'notFound');
  if (r.status === 0) return pageStatus('err', 'networkError');
  if (r.status === 429) return pageStatus('warn', 'rate_limited', { secs: retryAfter(r) });
  if (r.status === 503) return pageStatus('warn', 'unavailable', { secs: retryAfter(r) });
  pageStatus('err', 'serverError');
}

function renderEvent() {
  const e = state.event;
  const title = $('title');
  txValue(title, e.title, slug);
  const setTitle = () => { document.title = `${title.textContent} — yoyaku`; };
  setTitle();
  if (!state.titleWatched) i18n.onChange(setTitle);
  state.titleWatched = true;

  const facts = $('facts');
  facts.replaceChildren();
  const fact = (key, ...value) => facts.append(h('div', {}, tx(h('dt'), key), h('dd', {}, ...value)));
  if (e.venue) fact('venue', txValue(h('span'), e.venue));
  if (e.opens_at || e.closes_at) {
    const dd = [];
    if (e.opens_at) dd.push(tx(h('span'), 'opensAt', { at: e.opens_at }));
    if (e.opens_at && e.closes_at) dd.push(' ');
    if (e.closes_at) dd.push(tx(h('span'), 'closesAt', { at: e.closes_at }));
    fact('period', ...dd);
  }
  phasesFact(e, fact); // phased opening: phases.js
  txValue($('description'), e.description || '');
  $('description').hidden = !e.description;

  const policy = $('policy');
  policy.replaceChildren();
  if (Number.isFinite(e.cancel_until_hours)) policy.append(tx(h('li'), 'cancelPolicy', { h: e.cancel_until_hours }));
  if (Number.isFinite(e.per_person_limit)) policy.append(tx(h('li'), 'limitPolicy', { n: e.per_person_limit }));

  const now = Date.now();
  if (e.opens_at && Date.parse(e.opens_at) > now) pageAlert('booking_closed_opens', { at: e.opens_at });
  else if (e.closes_at && Date.parse(e.closes_at) <= now) pageAlert('booking_closed');

  renderFields(Array.isArray(e.fields) ? e.fields : []);
  watchPhase(e, $('book-form'), $('phase-you'), () => Object.fromEntries(
    [...fieldInputs].map(([name, f]) => [name, f.input.value])));
  $('event').hidden = false;
}

// ---------------------------------------------------------------------------------------------
// slots

function today(tz) {
  try {
    return new Intl.DateTimeFormat('en-CA', { timeZone: tz || 'Asia/Tokyo', year: 'numeric', month: '2-digit', day: '2-digit' })
      .format(new Date());
  } catch (e) {
    return new Date().toISOString().slice(0, 10);
  }
}

async function loadSlots() {
  const st = $('slots-status');
  notice(st, 'info', 'loading');
  const r = await call('GET', `${base}/slots?from=${today(state.event.timezone)}`, { headers: accessHeaders(slug) });
  if (r.status === 200 && r.json && Array.isArray(r.json.slots)) {
    state.slots = r.json.slots.slice().sort((a, b) => (a.starts_at < b.starts_at ? -1 : a.starts_at > b.starts_at ? 1 : 0));
    notice(st, '', null);
    renderSlots();
    return true;
  }
  if (r.status === 401 && errorCode(r) === 'password_required') {
    forgetAccessToken(slug);
    $('event').hidden = true;
    showSecret(r.json);
    return false;
  }
  if (r.status === 0) notice(st, 'err', 'networkError');
  else if (r.status === 429) notice(st, 'warn', 'rate_limited', { secs: retryAfter(r) });
  else if (r.status === 503) notice(st, 'warn', 'unavailable', { secs: retryAfter(r) });
  else notice(st, 'err', 'serverError');
  return false;
}

function selectedSlotId() {
  const r = document.querySelector('input[name=slot]:checked');
  return r ? r.value : null;
}

function renderSlots() {
  const keep = selectedSlotId();
  const box = $('slots');
  const now = Date.now();
  const days = new Map();
  for (const s of state.slots) {
    const d = i18n.ymd(s.starts_at);
    if (!days.has(d)) days.set(d, { slots: [], open: 0 });
    const day = days.get(d);
    day.slots.push(s);
    if (s.remaining > 0 && Date.parse(s.starts_at) > now) day.open += s.remaining;
  }
  if (days.size === 0) {
    box.replaceChildren(tx(h('p', { class: 'muted' }), 'noSlots'));
    updateChosen();
    return;
  }
  // The day shown: the one shown before, else the chosen slot's, else the first with seats.
  const keptSlot = keep && state.slots.find((x) => x.id === keep);
  if (!days.has(state.day)) {
    state.day = keptSlot ? i18n.ymd(keptSlot.starts_at) : null;
    if (!state.day) for (const [d, day] of days) if (day.open > 0) { state.day = d; break; }
    if (!state.day) state.day = days.keys().next().value;
  }
  const groups = [];
  const chips = [];
  for (const [d, day] of days) {
    const items = day.slots.map((s) => {
      const past = Date.parse(s.starts_at) <= now;
      const full = s.remaining <= 0;
      const off = past || full;
      const input = h('input', {
        type: 'radio', name: 'slot', value: s.id, disabled: off,
        checked: !off && s.id === keep, 'aria-describedby': 'slot-error',
      });
      input.addEventListener('change', onSlotChange);
      const left = off ? tx(h('span', { class: 'slot-left' }), past ? 'past' : 'full')
        : tx(h('span', { class: 'slot-left' }), 'seatsLeft', { n: s.remaining });
      const cls = `slot${off ? ' is-full' : ''}${!off && s.remaining <= 3 ? ' is-low' : ''}`;
      return h('label', { class: cls, dataset: { slotId: s.id } }, input,
        h('span', { class: 'slot-text' }, tx(h('span', { class: 'slot-time' }), 'timeRange', { a: s.starts_at, b: s.ends_at }), left));
    });
    const id = `day-${d}`;
    groups.push(h('fieldset', { class: 'day', id, hidden: days.size > 1 && d !== state.day },
      tx(h('legend'), 'date', { d }), h('div', { class: 'slots' }, items)));
    const chip = h('button', {
      type: 'button', class: `date${day.open ? '' : ' is-full'}`, 'aria-pressed': d === state.day ? 'true' : 'false',
      'aria-controls': id, dataset: { date: d },
    }, tx(h('span', { class: 'date-day' }), 'dateShort', { d }),
    day.open ? tx(h('span', { class: 'date-left' }), 'seatsLeft', { n: day.open }) : tx(h('span', { class: 'date-left' }), 'full'));
    chip.addEventListener('click', () => showDay(d));
    chips.push(chip);
  }
  const nodes = [];
  if (days.size > 1) nodes.push(h('div', { class: 'dates', role: 'group', 'aria-labelledby': 'dates-label' },
    tx(h('p', { class: 'dates-label', id: 'dates-label' }), 'chooseDate'), chips));
  box.replaceChildren(...nodes, ...groups);
  updateChosen();
}

function showDay(d) {
  state.day = d;
  for (const chip of document.querySelectorAll('#slots button.date')) chip.setAttribute('aria-pressed', chip.dataset.date === d ? 'true' : 'false');
  for (const fs of document.querySelectorAll('#slots fieldset.day')) fs.hidden = fs.id !== `day-${d}`;
}

function onSlotChange() {
  $('slot-error').replaceChildren();
  updateChosen();
}

function updateChosen() {
  const id = selectedSlotId();
  const s = id && state.slots.find((x) => x.id === id);
  const el = $('chosen-text');
  if (s) tx(el, 'range', { a: s.starts_at, b: s.ends_at });
  else tx(el, 'noneSelected');
}

// ---------------------------------------------------------------------------------------------
// form

const TEXTLIKE = { text: 'text', email: 'email', tel: 'tel', date: 'date', number: 'text' };

// POSIX ERE → JavaScript RegExp, for a soft hint only (the ingress decides). Bracket classes such as
// [[:digit:]] are translated; anything that does not compile gives no hint.
function hintRegex(pattern) {
  if (typeof pattern !== 'string' || !pattern) return null;
  const classes = {
    digit: '0-9', alpha: 'A-Za-z', alnum: '0-9A-Za-z', upper: 'A-Z', lower: 'a-z', space: ' \\t\\r\\n\\v\\f',
    xdigit: '0-9A-Fa-f', punct: '!-\\/:-@\\[-`{-~', blank: ' \\t',
  };
  const src = pattern.replace(/\[:([a-z]+):\]/g, (m, n) => classes[n] || m);
  try {
    return new RegExp(src, 'u');
  } catch (e) {
    try { return new RegExp(src); } catch (e2) { return null; }
  }
}

// The value the ingress matches: NFKC-cleaned for the identity and for email/tel/date/number.
function cleaned(def, v) {
  let s = v;
  if (def.identity || ['email', 'tel', 'date', 'number'].includes(def.type)) s = s.normalize('NFKC').trim();
  if (def.type === 'tel' || def.type === 'date') s = s.replace(/[\u2010-\u2015\u2212\u30fc]/g, '-');
  return s;
}

const fieldInputs = new Map(); // name → {def, input, error}

function fieldBox(id, labelEl, def, input, hints) {
  const err = h('p', { class: 'error', id: `${id}-error` });
  const describedBy = [];
  const hintEls = hints.map(([key, vars], i) => {
    const hid = `${id}-hint${i}`;
    describedBy.push(hid);
    return tx(h('span', { class: 'hint', id: hid }), key, vars);
  });
  describedBy.push(err.id);
  input.setAttribute('aria-describedby', describedBy.join(' '));
  return { box: h('div', { class: 'field', id: `${id}-box` }, labelEl, hintEls, input, err), err };
}

function badge(required) {
  return tx(h('span', { class: `badge ${required ? 'req' : 'opt'}` }), required ? 'requiredMark' : 'optionalMark');
}

function renderFields(defs) {
  const box = $('fields');
  fieldInputs.clear();
  const nodes = [];
  for (const def of defs) {
    if (!def || typeof def.name !== 'string') continue;
    const id = `fld-${def.name}`;
    const required = !!(def.required || def.identity);
    const labelText = txValue(h('span'), def.label, def.name);
    let input;
    let built;
    if (def.type === 'checkbox') {
      input = h('input', { type: 'checkbox', id, name: def.name, 'aria-required': required ? 'true' : null });
      const label = h('label', { class: 'check', for: id }, input, h('span', {}, labelText, badge(required)));
      const err = h('p', { class: 'error', id: `${id}-error` });
      input.setAttribute('aria-describedby', err.id);
      built = { box: h('div', { class: 'field', id: `${id}-box` }, label, err), err };
    } else if (def.type === 'select') {
      input = h('select', { id, name: def.name, 'aria-required': required ? 'true' : null },
        tx(h('option', { value: '' }), 'choose'),
        (Array.isArray(def.options) ? def.options : []).map((o) => h('option', { value: o, text: o })));
      built = fieldBox(id, h('label', { for: id }, labelText, badge(required)), def, input, []);
    } else {
      const type = TEXTLIKE[def.type] || 'text';
      input = h('input', {
        type, id, name: def.name, 'aria-required': required ? 'true' : null,
        maxlength: Number.isInteger(def.max_length) && def.max_length > 0 ? def.max_length : null,
      });
      if (def.type === 'number') input.setAttribute('inputmode', 'numeric');
      if (def.type === 'email') input.setAttribute('autocomplete', 'email');
      if (def.type === 'tel') input.setAttribute('autocomplete', 'tel');
      if (def.name === 'name' && def.type === 'text') input.setAttribute('autocomplete', 'name');
      if (def.identity) {
        input.setAttribute('autocomplete', 'off');
        input.setAttribute('spellcheck', 'false');
      }
      const hints = [];
      if (Number.isInteger(def.max_length) && def.max_length > 0 && def.type === 'text') hints.push(['maxLen', { n: def.max_length }]);
      built = fieldBox(id, h('label', { for: id }, labelText, badge(required)), def, input, hints);
      const re = def.type !== 'date' ? hintRegex(def.pattern) : null;
      if (re) {
        input.addEventListener('blur', () => {
          const v = cleaned(def, input.value);
          if (v && !re.test(v)) showFieldError(def.name, 'pattern');
        });
      }
    }
    const clear = () => clearFieldError(def.name);
    input.addEventListener('input', clear);
    input.addEventListener('change', clear);
    fieldInputs.set(def.name, { def, input, err: built.err, required });
    nodes.push(built.box);
  }
  // The booker's e-mail (the confirmation goes there), last: after the name, as on paper forms.
  const email = h('input', { type: 'email', id: 'booker-email', name: 'email', autocomplete: 'email', 'aria-required': 'true', maxlength: 254, spellcheck: 'false' });
  const built = fieldBox('booker-email', h('label', { for: 'booker-email' }, tx(h('span'), 'email'), badge(true)), {}, email, [['emailHint']]);
  email.addEventListener('input', () => clearFieldError('\u0000email'));
  fieldInputs.set('\u0000email', { def: { name: 'email', type: 'email' }, input: email, err: built.err, required: true });
  nodes.push(built.box);
  box.replaceChildren(...nodes);
}

function showFieldError(name, reason) {
  const f = fieldInputs.get(name);
  if (!f) return false;
  tx(f.err, 'reason', { r: reason });
  f.input.setAttribute('aria-invalid', 'true');
  return true;
}

function clearFieldError(name) {
  const f = fieldInputs.get(name);
  if (!f) return;
  f.err.replaceChildren();
  delete f.err.dataset.i18n;
  f.input.removeAttribute('aria-invalid');
}

function clearErrors() {
  for (const name of fieldInputs.keys()) clearFieldError(name);
  $('slot-error').replaceChildren();
  delete $('slot-error').dataset.i18n;
}

function firstInvalid() {
  const slotErr = $('slot-error').textContent;
  if (slotErr) return document.querySelector('input[name=slot]:not(:disabled)');
  for (const f of fieldInputs.values()) if (f.input.getAttribute('aria-invalid') === 'true') return f.input;
  return null;
}

// Checks what needs no server (a slot, required values); returns the body or null.
function collect() {
  let ok = true;
  const missing = (name) => {
    showFieldError(name, 'required');
    ok = false;
  };
  const slotId = selectedSlotId();
  if (!slotId) {
    tx($('slot-error'), 'pickSlot');
    ok = false;
  }
  const fields = {};
  let email = '';
  for (const [name, f] of fieldInputs) {
    const { def, input, required } = f;
    if (name === '\u0000email') {
      email = input.value.trim();
      if (!email) missing(name);
      continue;
    }
    if (def.type === 'checkbox') {
      if (required && !input.checked) missing(name);
      fields[name] = input.checked;
      continue;
    }
    const v = input.value.trim();
    if (!v) {
      if (required) missing(name);
      continue;
    }
    fields[name] = v;
  }
  return ok ? { slot_id: slotId, email, fields } : null;
}

// ---------------------------------------------------------------------------------------------
// submit

function setBusy(on, labelKey) {
  state.busy = on;
  const btn = $('submit');
  btn.disabled = on;
  btn.setAttribute('aria-busy', on ? 'true' : 'false');
  tx(btn, labelKey || (on ? 'submitting' : 'submit'));
}

let holdTimer = null;
function holdFor(secs) {
  state.holdUntil = Date.now() + secs * 1000;
  const btn = $('submit');
  clearInterval(holdTimer);
  const tick = () => {
    const left = Math.ceil((state.holdUntil - Date.now()) / 1000);
    if (left <= 0) {
      clearInterval(holdTimer);
      holdTimer = null;
      setBusy(false);
      return;
    }
    btn.disabled = true;
    tx(btn, 'busyRetry', { secs: left });
  };
  tick();
  holdTimer = setInterval(tick, 250);
}

async function onSubmit(ev) {
  ev.preventDefault();
  if (state.busy || Date.now() < state.holdUntil) return; // a double click or an impatient retry
  clearErrors();
  const body = collect();
  if (!body) {
    result('err', 'fixErrors');
    const el = firstInvalid();
    if (el) el.focus();
    return;
  }
  const text = JSON.stringify(body);
  // The same submission again (a retry after a network error or a 503) keeps its key, so the
  // server answers it once; a changed form is a new submission.
  if (!state.pending || state.pending.body !== text) state.pending = { key: newKey(), body: text };
  const { key } = state.pending;
  setBusy(true);
  result('info', 'submitting', null, true);
  const r = await call('POST', `${base}/reservations`, {
    body: text, headers: { 'Idempotency-Key': key, ...accessHeaders(slug) },
  });
  if (r.status === 202) {
    await waitForDecision(r);
    return;
  }
  await handleAnswer(r.status, r.json, r);
}

async function waitForDecision(r) {
  const rid = r.json && r.json.request_id;
  let url = r.headers.get('Location') || (rid ? `/v1/requests/${enc(rid)}` : null);
  if (!url) {
    setBusy(false);
    result('err', 'serverError');
    return;
  }
  if (!url.startsWith('/')) {
    try { url = new URL(url, location.href).pathname; } catch (e) { /* keep */ }
  }
  let position = r.json && r.json.position;
  let secs = r.json && r.json.estimated_wait_seconds;
  tx($('submit'), 'waiting');
  result('info', 'queued', null, true);
  const showQueue = () => showQueuePlace(position, secs);
  showQueue();
  const deadline = Date.now() + 30 * 60 * 1000;
  let wait = 1000;
  while (Date.now() < deadline) {
    await sleep(wait);
    wait = 1000;
    const p = await call('GET', url, { headers: accessHeaders(slug) });
    if (p.status === 200 && p.json && p.json.status === 'pending') {
      if (Number.isFinite(p.json.position)) position = p.json.position;
      if (Number.isFinite(p.json.estimated_wait_seconds)) secs = p.json.estimated_wait_seconds;
      showQueue();
      continue;
    }
    if (p.status === 200 && p.json) {
      const code = Number(p.json.code) || (p.json.booking ? 201 : 409);
      showQueuePlace(null);
      await handleAnswer(code, p.json, p);
      return;
    }
    if (p.status === 0 || p.status === 429 || p.status === 503) {
      if (p.status) wait = retryAfter(p, 2) * 1000;
      continue; // the request is queued; keep asking
    }
    break; // 404: the answer expired or never existed
  }
  showQueuePlace(null);
  setBusy(false);
  result('err', 'serverError');
}

// The place in the line while a request is pending: "number N; N-1 ahead of you, about M min",
// in a polite live region of its own (rewritten only when a figure changes).
function showQueuePlace(position, secs) {
  const el = $('queue');
  if (!Number.isFinite(position) || position < 1) {
    el.hidden = true;
    el.replaceChildren();
    el.dataset.shown = '';
    return;
  }
  const s = Number.isFinite(secs) && secs > 0 ? Math.round(secs) : 0;
  const key = `${position}/${Math.ceil(s / 60)}`;
  if (el.dataset.shown === key && !el.hidden) return;
  el.dataset.shown = key;
  el.replaceChildren(
    tx(h('p', { class: 'queue-line', id: 'queue-line' }), 'queueLine', { n: position }),
    tx(h('p', { class: 'queue-ahead', id: 'queue-ahead' }), 'queueAhead', { n: position, secs: s }),
  );
  el.hidden = false;
}

async function handleAnswer(status, body, r) {
  const code = body && body.error;
  if (status === 201 && body && body.booking) {
    showDone(body);
    return;
  }
  if (status === 429 || status === 503) {
    const secs = retryAfter(r, 5);
    result('warn', status === 429 ? 'rate_limited' : 'unavailable', { secs });
    state.busy = false;
    holdFor(secs);
    return;
  }
  setBusy(false);
  if (status === 0) {
    result('err', 'networkError');
    return;
  }
  // A decided refusal is kept under its key: the next press (after a change, or a seat freed
  // meanwhile) is a new submission. Only an answer never seen (network, 429, 503) keeps the key.
  if ([400, 401, 404, 409, 413, 422].includes(status)) state.pending = null;
  if (status === 409) {
    if (code === 'slot_full') {
      result('err', 'slot_full');
      await refreshSlotsAfterRefusal();
      return;
    }
    if (code === 'booking_closed') {
      if (body.opens_at && Date.parse(body.opens_at) > Date.now()) result('err', 'booking_closed_opens', { at: body.opens_at });
      else if (body.opens_at === null && state.event.phases) result('err', 'booking_closed_phase_none');
      else result('err', 'booking_closed');
      await loadSlots();
      return;
    }
    result('err', code && i18n.has(code) ? code : 'serverError');
    return;
  }
  if (status === 422 && code === 'invalid_fields' && Array.isArray(body.errors)) {
    const elsewhere = []; // reasons about a field this form does not show
    for (const e of body.errors) {
      if (!e || typeof e.field !== 'string') continue;
      let shown = false;
      if (e.field === 'slot_id') {
        tx($('slot-error'), 'pickSlot');
        shown = true;
      } else if (e.field === 'email' && !fieldInputs.has('email')) {
        shown = showFieldError('\u0000email', e.reason);
      } else {
        shown = showFieldError(e.field, e.reason);
        if (e.field === 'email') shown = showFieldError('\u0000email', e.reason) || shown;
      }
      if (!shown) elsewhere.push(e);
    }
    result('err', 'invalid_fields');
    if (elsewhere.length) {
      $('result').append(h('ul', { class: 'small' }, elsewhere.map((e) => h('li', {}, `${e.field}: `,
        tx(h('span'), 'reason', { r: e.reason })))));
    }
    const el = firstInvalid();
    if (el) el.focus();
    return;
  }
  if (status === 404) {
    result('err', 'slotGone');
    await refreshSlotsAfterRefusal();
    return;
  }
  if (status === 401 && code === 'password_required') {
    forgetAccessToken(slug);
    $('event').hidden = true;
    pageStatus('warn', 'password_required');
    showSecret(body);
    return;
  }
  result('err', code && i18n.has(code) ? code : 'serverError');
}

async function refreshSlotsAfterRefusal() {
  if (await loadSlots()) notice($('slots-status'), 'info', 'slotsRefreshed');
  const sel = document.querySelector('input[name=slot]:checked');
  const first = sel || document.querySelector('input[name=slot]:not(:disabled)');
  if (!sel) tx($('slot-error'), 'pickSlot');
  if (first) first.focus();
}

function showDone(body) {
  const b = body.booking;
  const link = `/bookings/${enc(b.id)}?token=${enc(body.token || '')}`;
  const done = $('done');
  done.replaceChildren(
    tx(h('h2', { id: 'done-title' }), 'bookedTitle'),
    h('dl', { class: 'kv' },
      tx(h('dt'), 'bookingNo'), h('dd', { class: 'big-number', id: 'booking-number' }, b.id),
      tx(h('dt'), 'when'), tx(h('dd', { id: 'booking-when' }), 'range', { a: b.starts_at, b: b.ends_at }),
      state.event && state.event.venue ? [tx(h('dt'), 'venue'), txValue(h('dd'), state.event.venue)] : null),
    tx(h('p'), 'mailSent', { email: b.email }),
    checkinBlock(b, { 'X-Booking-Token': body.token || '', ...accessHeaders(slug) }),
    tx(h('p', { class: 'muted small' }), 'keepLink'),
    tx(h('a', { class: 'primary', href: link, id: 'booking-link' }), 'openBooking'),
  );
  $('book-form').hidden = true;
  done.hidden = false;
  state.busy = true; // never submit again from this page
  done.focus();
  window.scrollTo({ top: 0 });
}

// ---------------------------------------------------------------------------------------------
// secret events

function showSecret(body) {
  const sec = $('secret');
  const title = body && body.title;
  txValue($('secret-event'), title || '', slug);
  sec.hidden = false;
  $('password').focus();
}

async function onUnlock(ev) {
  ev.preventDefault();
  const pw = $('password');
  const err = $('password-error');
  err.replaceChildren();
  pw.removeAttribute('aria-invalid');
  if (!pw.value) {
    tx(err, 'reason', { r: 'required' });
    pw.setAttribute('aria-invalid', 'true');
    pw.focus();
    return;
  }
  const btn = ev.submitter || document.querySelector('#unlock-form button');
  btn.disabled = true;
  const r = await call('POST', `${base}/unlock`, { body: { password: pw.value } });
  btn.disabled = false;
  if (r.status === 200 && r.json && r.json.access_token) {
    setAccessToken(slug, r.json.access_token, r.json.expires_in);
    pw.value = '';
    $('secret').hidden = true;
    pageStatus('', null);
    await loadEvent();
    return;
  }
  pw.setAttribute('aria-invalid', 'true');
  if (r.status === 401) tx(err, 'wrong_password');
  else if (r.status === 404 || r.status === 405) tx(err, 'unlockUnavailable');
  else if (r.status === 429) tx(err, 'tooManyTries', { secs: retryAfter(r, 60) });
  else if (r.status === 503) tx(err, 'unavailable', { secs: retryAfter(r) });
  else if (r.status === 0) tx(err, 'networkError');
  else tx(err, 'serverError');
  pw.focus();
}

// ---------------------------------------------------------------------------------------------

$('book-form').addEventListener('submit', onSubmit);
$('unlock-form').addEventListener('submit', onUnlock);
txAttr($('details'), 'aria-label', 'eventTitle');
if (!slug) pageStatus('err', 'notFound');
else loadEvent();
