// admin-phone: a booking taken over the phone, through the same public route and rules as the
// booking page (POST /v1/events/{slug}/reservations; 202 answers are followed on
// /v1/requests/{id}). event.js runs on import, so this is a small renderer of its own.
import {
  accessHeaders, call, enc, errorCode, newKey, retryAfter, setAccessToken, sleep,
} from './api.js';
import {
  $, checkbox, clearErrors, failure, field, fieldError, focusFirstError, h, heading, notice, select, tx, txValue,
} from './admin-core.js';
import { eventNav } from './admin-editor.js';

function control(f) {
  const id = `p-${f.name}`;
  const attrs = { name: f.name };
  if (f.max_length) attrs.maxlength = f.max_length;
  if (f.type === 'checkbox') {
    const box = checkbox(id, 'adTmp', false);
    txValue(box.querySelector('label span'), f.label, f.name);
    box.append(h('p', { class: 'error', id: `${id}-error` }));
    box.querySelector('input').setAttribute('aria-describedby', `${id}-error`);
    return box;
  }
  let el;
  if (f.type === 'select') {
    el = select(id, [['', 'choose'], ...(f.options || []).map((o) => [o, o, true])], '');
  } else {
    const type = { email: 'email', tel: 'tel', date: 'date', number: 'text' }[f.type] || 'text';
    el = h('input', { type, ...attrs, inputmode: f.type === 'number' ? 'numeric' : null, autocomplete: 'off' });
  }
  const box = field({ id, key: 'adTmp', control: el, req: f.required });
  txValue(box.querySelector('label span'), f.label, f.name);
  return box;
}

export async function phoneView(view, slug) {
  const card = h('section', { class: 'card', 'aria-labelledby': 'phone-title' });
  const title = heading('adPhoneTitle');
  title.id = 'phone-title';
  const status = h('div', { class: 'notice', id: 'phone-status', role: 'status', 'aria-live': 'polite' });
  card.append(title, eventNav(slug, 'phone'), tx(h('p', { class: 'hint' }), 'adPhoneHint'), status);
  view.append(card);
  const base = `/v1/events/${enc(slug)}`;
  const ev = await call('GET', base, { headers: accessHeaders(slug) });
  if (ev.status === 401 && errorCode(ev) === 'password_required') {
    unlockForm(card, slug, () => { view.replaceChildren(); phoneView(view, slug); });
    return null;
  }
  if (ev.status === 404) {
    notice(status, 'warn', 'adPhoneUnpublished');
    return null;
  }
  if (ev.status !== 200) {
    failure(status, ev);
    return null;
  }
  const sl = await call('GET', `${base}/slots`, { headers: accessHeaders(slug) });
  const slots = sl.status === 200 && sl.json ? sl.json.slots || [] : [];
  const now = Date.now();
  const slotSel = h('select', { id: 'p-slot' }, tx(h('option', { value: '' }), 'choose'),
    slots.filter((s) => Date.parse(s.starts_at) > now).map((s) => {
      const o = tx(h('option', { value: s.id, disabled: s.remaining <= 0 }), 'adSlotOption',
        { a: s.starts_at, b: s.ends_at, n: s.remaining });
      return o;
    }));
  const defs = ev.json.fields || [];
  const out = h('div', { class: 'notice', id: 'phone-result', role: 'status', 'aria-live': 'polite' });
  const form = h('form', { id: 'phone-form', novalidate: true },
    field({ id: 'p-slot', key: 'when', control: slotSel, req: true }),
    field({ id: 'p-email', key: 'email', type: 'email', hint: 'emailHint', req: true, attrs: { autocomplete: 'off', spellcheck: 'false' } }),
    defs.map(control), out,
    tx(h('button', { type: 'submit', class: 'primary', id: 'phone-submit' }), 'adPhoneSubmit'));
  card.append(form);
  let key = newKey();
  let lastBody = '';
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    notice(out, '', null);
    const fields = {};
    for (const f of defs) {
      const el = $(`p-${f.name}`);
      if (f.type === 'checkbox') fields[f.name] = el.checked;
      else if (el.value.trim() !== '') fields[f.name] = el.value.trim();
    }
    const body = { slot_id: $('p-slot').value, email: $('p-email').value.normalize('NFKC').trim(), fields };
    let bad = false;
    if (!body.slot_id) bad = fieldError('p-slot', 'required');
    if (!body.email) bad = fieldError('p-email', 'required') || bad;
    for (const f of defs) {
      if (f.required && (fields[f.name] === undefined || fields[f.name] === false)) bad = fieldError(`p-${f.name}`, 'required') || bad;
    }
    if (bad) {
      notice(out, 'err', 'fixErrors');
      focusFirstError(form);
      return;
    }
    const text = JSON.stringify(body);
    if (text !== lastBody) key = newKey();
    lastBody = text;
    const btn = $('phone-submit');
    btn.disabled = true;
    notice(out, 'info', 'submitting');
    let r = await call('POST', `${base}/reservations`, { body: text, headers: { 'Idempotency-Key': key, ...accessHeaders(slug) } });
    let json = r.json;
    let code = r.status;
    while (code === 202 && json && json.request_id) {
      notice(out, 'info', json.position ? 'adQueuedPos' : 'queued', { n: json.position });
      await sleep(1000);
      r = await call('GET', `/v1/requests/${enc(json.request_id)}`);
      if (r.status !== 200 || !r.json) break;
      json = r.json;
      code = json.status === 'pending' ? 202 : json.booking ? 201 : (json.code || json.http_status || 409);
    }
    btn.disabled = false;
    if (json && json.booking) {
      const b = json.booking;
      out.className = 'notice ok';
      out.replaceChildren(tx(h('p', { id: 'phone-done' }), 'adPhoneDone', { id: b.id }),
        h('p', {}, tx(h('span'), 'adCheckinCode'), ': ', h('code', {}, b.checkin_code || '')));
      key = newKey();
      lastBody = '';
      return;
    }
    const err = json && json.error;
    if (err === 'invalid_fields' && Array.isArray(json.errors)) {
      for (const x of json.errors) {
        if (x.field === 'email') fieldError('p-email', x.reason);
        else if (!fieldError(`p-${x.field}`, x.reason)) fieldError('p-slot', x.reason);
      }
      notice(out, 'err', 'fixErrors');
      focusFirstError(form);
      return;
    }
    if (err === 'booking_closed' && json.opens_at) return notice(out, 'err', 'booking_closed_opens', { at: json.opens_at });
    if (['slot_full', 'already_booked', 'booking_closed', 'prerequisite_not_met', 'not_eligible'].includes(err)) return notice(out, 'err', err);
    if (r.status === 404) return notice(out, 'err', 'slotGone');
    if (r.status === 429 || r.status === 503) return notice(out, 'warn', 'busy', { secs: retryAfter(r) });
    failure(out, r);
  });
  return null;
}

function unlockForm(card, slug, done) {
  const form = h('form', { id: 'phone-unlock', novalidate: true },
    tx(h('p'), 'secretIntro'),
    field({ id: 'p-password', key: 'password', type: 'password', attrs: { autocomplete: 'off' } }),
    tx(h('button', { type: 'submit', class: 'secondary' }), 'unlock'));
  card.append(form);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    const r = await call('POST', `/v1/events/${enc(slug)}/unlock`, { body: { password: $('p-password').value } });
    if (r.status === 200 && r.json) {
      setAccessToken(slug, r.json.access_token, r.json.expires_in);
      done();
    } else if (r.status === 401) fieldError('p-password', null, 'adWrongEventPassword');
    else fieldError('p-password', null, r.status === 429 ? 'adTooMany' : 'serverError');
  });
}
