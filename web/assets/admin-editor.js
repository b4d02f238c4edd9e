// admin-editor: create (POST /v1/admin/events) or edit (PATCH /v1/admin/events/{slug}) an event.
// The booking form's fields are built with controls (add, remove, move up/down; name, type,
// labels, required, identity, max_length, pattern, options) — no JSON is typed anywhere. A 422's
// errors are shown next to the control they name (e.g. "fields[1].name", "prerequisite.min_days").
import { enc } from './api.js';
import {
  $, admin, checkbox, clearErrors, failure, field, fieldError, focusFirstError, h, heading,
  localToRfc3339, notice, num, rfcToLocal, select, t, tx,
} from './admin-core.js';

const TYPES = ['text', 'email', 'tel', 'date', 'number', 'select', 'checkbox'];
let uid = 0;

// One field of the booking form as a card of controls.
function fieldCard(list, f = {}) {
  const id = `fb${++uid}`;
  const label = typeof f.label === 'object' && f.label ? f.label : { ja: f.label || '', en: '' };
  const typeSel = select(`${id}-type`, TYPES.map((x) => [x, `ft_${x}`]), f.type || 'text');
  const opts = field({ id: `${id}-options`, key: 'adFieldOptions', type: 'textarea', hint: 'adFieldOptionsHint',
    value: (f.options || []).join('\n'), attrs: { rows: 3 } });
  const card = h('li', { class: 'fb-card', dataset: { uid: id } });
  const limits = h('div', { class: 'row two' },
    field({ id: `${id}-max`, key: 'adFieldMax', type: 'number', value: f.max_length ?? '', attrs: { min: 1, inputmode: 'numeric' } }),
    field({ id: `${id}-pattern`, key: 'adFieldPattern', hint: 'adFieldPatternHint', value: f.pattern || '',
      attrs: { spellcheck: 'false', autocomplete: 'off' } }));
  const legend = h('h4', { class: 'fb-title', id: `${id}-title` });
  const move = (dir) => {
    const sib = dir < 0 ? card.previousElementSibling : card.nextElementSibling;
    if (!sib) return;
    if (dir < 0) list.insertBefore(card, sib);
    else list.insertBefore(sib, card);
    renumber(list);
    const same = $(`${id}-${dir < 0 ? 'up' : 'down'}`);
    (same.disabled ? $(`${id}-${dir < 0 ? 'down' : 'up'}`) : same).focus();
  };
  const btn = (suffix, key, fn, cls = 'secondary') => {
    const b = tx(h('button', { type: 'button', class: `${cls} small-btn`, id: `${id}-${suffix}` }), key);
    b.addEventListener('click', fn);
    return b;
  };
  const tools = h('div', { class: 'fb-tools' },
    btn('up', 'adMoveUp', () => move(-1)), btn('down', 'adMoveDown', () => move(1)),
    btn('remove', 'adRemoveField', () => {
      const next = card.nextElementSibling || card.previousElementSibling;
      card.remove();
      renumber(list);
      if (next) next.querySelector('input').focus();
      else $('fb-add').focus();
    }, 'danger'));
  const identity = checkbox(`${id}-identity`, 'adFieldIdentity', f.identity);
  identity.querySelector('input').addEventListener('change', (ev) => {
    if (!ev.target.checked) return;
    for (const other of list.querySelectorAll('input[id$="-identity"]')) if (other !== ev.target) other.checked = false;
  });
  card.append(h('div', { class: 'fb-head' }, legend, tools),
    h('div', { class: 'row two' },
      field({ id: `${id}-name`, key: 'adFieldName', hint: 'adFieldNameHint', value: f.name || '',
        attrs: { spellcheck: 'false', autocomplete: 'off', autocapitalize: 'none' } }),
      field({ id: `${id}-type`, key: 'adFieldType', control: typeSel })),
    h('div', { class: 'row two' },
      field({ id: `${id}-label-ja`, key: 'adFieldLabelJa', value: label.ja || '', attrs: { lang: 'ja' } }),
      field({ id: `${id}-label-en`, key: 'adFieldLabelEn', value: label.en || '', attrs: { lang: 'en' } })),
    h('div', { class: 'row two' }, checkbox(`${id}-required`, 'adFieldRequired', f.required), identity),
    limits,
    opts);
  const showOpts = () => {
    opts.hidden = typeSel.value !== 'select';
    limits.hidden = typeSel.value === 'checkbox';
  };
  typeSel.addEventListener('change', showOpts);
  showOpts();
  list.append(card);
  renumber(list);
  return card;
}

function renumber(list) {
  const cards = [...list.children];
  cards.forEach((c, i) => {
    const id = c.dataset.uid;
    tx($(`${id}-title`), 'adFieldN', { n: i + 1 });
    $(`${id}-up`).disabled = i === 0;
    $(`${id}-down`).disabled = i === cards.length - 1;
    for (const s of ['up', 'down', 'remove']) {
      const b = $(`${id}-${s}`);
      b.setAttribute('aria-label', t(s === 'up' ? 'adMoveUpN' : s === 'down' ? 'adMoveDownN' : 'adRemoveN', { n: i + 1 }));
      b.dataset.i18nAttr = JSON.stringify({ 'aria-label': [s === 'up' ? 'adMoveUpN' : s === 'down' ? 'adMoveDownN' : 'adRemoveN', { n: i + 1 }] });
    }
  });
  const empty = $('fb-empty');
  if (empty) empty.hidden = cards.length > 0;
}

function readFields(list) {
  return [...list.children].map((c) => {
    const id = c.dataset.uid;
    const v = (s) => $(`${id}-${s}`).value.trim();
    const f = { name: v('name').normalize('NFKC'), type: v('type') };
    const ja = v('label-ja');
    const en = v('label-en');
    if (ja || en) f.label = en ? { ja: ja || en, en } : ja;
    if ($(`${id}-required`).checked) f.required = true;
    if ($(`${id}-identity`).checked) f.identity = true;
    const max = num(v('max'));
    if (max != null && f.type !== 'checkbox') f.max_length = max;
    if (v('pattern') && f.type !== 'checkbox') f.pattern = v('pattern');
    if (f.type === 'select') f.options = v('options').split('\n').map((x) => x.trim()).filter(Boolean);
    return f;
  });
}

const TOP = {
  slug: 'e-slug', title: 'e-title', venue: 'e-venue', timezone: 'e-timezone', description: 'e-description',
  lang: 'e-lang', password: 'e-password', per_person_limit: 'e-limit', cancel_until_hours: 'e-cancel',
  campaign: 'e-campaign', opens_at: 'e-opens', closes_at: 'e-closes', published: 'e-published',
  prerequisite: 'e-pre-event', 'prerequisite.event': 'e-pre-event', 'prerequisite.min_days': 'e-pre-days',
  'prerequisite.require_attended': 'e-pre-attended', reminder: 'e-rem-days', 'reminder.days_before': 'e-rem-days',
  'reminder.at': 'e-rem-at', waitlist: 'e-wl-on', 'waitlist.enabled': 'e-wl-on', 'waitlist.hold_minutes': 'e-wl-hold',
  fields: 'fb-add',
};
const SUB = { name: 'name', type: 'type', label: 'label-ja', required: 'required', identity: 'identity',
  max_length: 'max', pattern: 'pattern', options: 'options' };

// The control a 422 error names, or null.
function controlOf(list, path) {
  if (TOP[path]) return TOP[path];
  const m = /^fields\[(\d+)\](?:\.([a-z_]+)(?:\.([a-z]+))?)?/.exec(path);
  if (!m) return null;
  const card = list.children[Number(m[1])];
  if (!card) return 'fb-add';
  const sub = m[2] === 'label' && m[3] === 'en' ? 'label-en' : SUB[m[2]] || 'name';
  return `${card.dataset.uid}-${sub}`;
}

export async function editorView(view, slug) {
  const editing = !!slug;
  const card = h('section', { class: 'card', 'aria-labelledby': 'editor-title' });
  const title = heading(editing ? 'adEditEvent' : 'adNewEvent');
  title.id = 'editor-title';
  const status = h('div', { class: 'notice', id: 'editor-status', role: 'status', 'aria-live': 'polite' });
  card.append(title);
  if (editing) card.append(eventNav(slug, 'edit'));
  card.append(status);
  view.append(card);
  const [all, one] = await Promise.all([admin('GET', '/events'),
    editing ? admin('GET', `/events/${enc(slug)}`) : Promise.resolve(null)]);
  if (all.status !== 200 || (one && one.status !== 200)) {
    failure(status, one && one.status !== 200 ? one : all);
    return null;
  }
  const ev = one ? one.json.event || one.json : {};
  const others = (all.json.events || []).filter((e) => e.slug !== slug);
  const tz = ev.timezone || 'Asia/Tokyo';
  const pre = ev.prerequisite || {};
  const rem = ev.reminder || {};
  const wl = ev.waitlist || {};

  const list = h('ol', { class: 'fb-list', id: 'fb-list' });
  const add = tx(h('button', { type: 'button', class: 'secondary', id: 'fb-add', 'aria-describedby': 'fb-add-error' }), 'adAddField');
  add.addEventListener('click', () => fieldCard(list).querySelector('input').focus());
  const preSel = select('e-pre-event', [['', 'adNone'], ...others.map((e) => [e.slug, `${typeof e.title === 'object' ? e.title.ja : e.title} (${e.slug})`, true])], pre.event || '');

  const form = h('form', { id: 'editor-form', novalidate: true },
    h('div', { class: 'row two' },
      field({ id: 'e-slug', key: 'adSlug', hint: 'adSlugHint', value: ev.slug || '', req: true,
        attrs: { maxlength: 64, spellcheck: 'false', autocomplete: 'off', autocapitalize: 'none', disabled: editing } }),
      field({ id: 'e-title', key: 'adEventTitle', value: typeof ev.title === 'object' ? ev.title.ja : ev.title || '', req: true })),
    h('div', { class: 'row two' },
      field({ id: 'e-venue', key: 'venue', value: ev.venue || '' }),
      field({ id: 'e-timezone', key: 'adTimezone', value: tz, attrs: { spellcheck: 'false' } })),
    field({ id: 'e-description', key: 'adDescription', type: 'textarea', value: ev.description || '' }),
    h('div', { class: 'row two' },
      field({ id: 'e-lang', key: 'adMailLang', control: select('e-lang', [['ja', '日本語', true], ['en', 'English', true]], ev.lang || 'ja') }),
      field({ id: 'e-password', key: 'adPassword', type: 'password', hint: editing && ev.secret ? 'adPasswordKeep' : 'adPasswordHint',
        attrs: { autocomplete: 'new-password' } })),

    h('fieldset', { class: 'ad-group', id: 'fb' }, tx(h('legend'), 'adFormFields'),
      tx(h('p', { class: 'hint', id: 'fb-empty' }), 'adNoFields'), list, add, h('p', { class: 'error', id: 'fb-add-error' })),

    h('fieldset', { class: 'ad-group' }, tx(h('legend'), 'adWindow'),
      tx(h('p', { class: 'hint', id: 'e-window-hint' }), 'adWindowHint', { tz }),
      h('div', { class: 'row two' },
        field({ id: 'e-opens', key: 'adOpensAt', type: 'datetime-local', value: rfcToLocal(ev.opens_at) }),
        field({ id: 'e-closes', key: 'adClosesAt', type: 'datetime-local', value: rfcToLocal(ev.closes_at) }))),

    h('fieldset', { class: 'ad-group' }, tx(h('legend'), 'adRules'),
      h('div', { class: 'row two' },
        field({ id: 'e-limit', key: 'adLimit', type: 'number', value: ev.per_person_limit ?? 1, attrs: { min: 1 } }),
        field({ id: 'e-cancel', key: 'adCancelHours', type: 'number', value: ev.cancel_until_hours ?? 24, attrs: { min: 0 } })),
      field({ id: 'e-campaign', key: 'adCampaign', hint: editing ? 'adCampaignFixed' : 'adCampaignHint', value: ev.campaign || '',
        attrs: { spellcheck: 'false', disabled: editing } })),

    h('fieldset', { class: 'ad-group' }, tx(h('legend'), 'adPrerequisite'),
      tx(h('p', { class: 'hint' }), 'adPrerequisiteHint'),
      field({ id: 'e-pre-event', key: 'adPreEvent', control: preSel }),
      h('div', { class: 'row two' },
        field({ id: 'e-pre-days', key: 'adPreDays', type: 'number', value: pre.min_days ?? '', attrs: { min: 0 } }),
        checkbox('e-pre-attended', 'adPreAttended', pre.require_attended))),

    h('fieldset', { class: 'ad-group' }, tx(h('legend'), 'adReminder'),
      h('div', { class: 'row two' },
        field({ id: 'e-rem-days', key: 'adRemDays', type: 'number', value: rem.days_before ?? 1, attrs: { min: 0 } }),
        field({ id: 'e-rem-at', key: 'adRemAt', type: 'time', value: rem.at || '10:00' }))),

    h('fieldset', { class: 'ad-group' }, tx(h('legend'), 'adWaitlist'),
      h('div', { class: 'row two' }, checkbox('e-wl-on', 'adWaitlistOn', wl.enabled),
        field({ id: 'e-wl-hold', key: 'adHoldMinutes', type: 'number', value: wl.hold_minutes ?? 60, attrs: { min: 1 } }))),

    h('fieldset', { class: 'ad-group' }, tx(h('legend'), 'adPublication'),
      checkbox('e-published', 'adPublished', ev.published !== false)),
    h('div', { class: 'notice', id: 'editor-result', role: 'status', 'aria-live': 'polite' }),
    tx(h('button', { type: 'submit', class: 'primary', id: 'editor-submit' }), editing ? 'adSave' : 'adCreateButton'));
  card.append(form);
  for (const f of ev.fields || []) fieldCard(list, f);
  renumber(list);
  form.addEventListener('submit', (e) => submit(e, { form, list, ev, editing, slug }));
  return null;
}

export function eventNav(slug, here) {
  const s = enc(slug);
  const items = [['edit', `#/events/${s}`, 'adEdit'], ['slots', `#/events/${s}/slots`, 'adSlots'],
    ['bookings', `#/events/${s}/bookings`, 'adBookings'], ['phone', `#/events/${s}/phone`, 'adPhone'],
    ['waitlist', `#/events/${s}/waitlist`, 'adWaitlistView']];
  return h('nav', { class: 'tabs ev-tabs', 'aria-label': slug },
    h('code', { class: 'ev-slug' }, slug),
    ...items.map(([k, href, key]) => tx(h('a', { href, class: 'button secondary small-btn', 'aria-current': k === here ? 'page' : null }), key)));
}

async function submit(e, { form, list, ev, editing, slug }) {
  e.preventDefault();
  clearErrors(form);
  const out = $('editor-result');
  const val = (id) => $(id).value.trim();
  const tz = val('e-timezone') || 'Asia/Tokyo';
  const def = { title: val('e-title'), fields: readFields(list), lang: $('e-lang').value, timezone: tz };
  if (!editing) def.slug = val('e-slug');
  def.venue = val('e-venue');
  def.description = $('e-description').value;
  if ($('e-password').value) def.password = $('e-password').value;
  def.per_person_limit = num(val('e-limit')) ?? 1;
  def.cancel_until_hours = num(val('e-cancel')) ?? 24;
  if (!editing && val('e-campaign')) def.campaign = val('e-campaign');
  for (const [k, id] of [['opens_at', 'e-opens'], ['closes_at', 'e-closes']]) {
    if (val(id)) def[k] = localToRfc3339(val(id), tz);
    else if (ev[k]) def[k] = null;
  }
  if ($('e-pre-event').value) {
    def.prerequisite = { event: $('e-pre-event').value, min_days: num(val('e-pre-days')) ?? 0,
      require_attended: $('e-pre-attended').checked };
  } else if (ev.prerequisite) def.prerequisite = null;
  def.reminder = { days_before: num(val('e-rem-days')) ?? 1, at: val('e-rem-at') || '10:00' };
  if ($('e-wl-on').checked || ev.waitlist) def.waitlist = { enabled: $('e-wl-on').checked, hold_minutes: num(val('e-wl-hold')) ?? 60 };
  def.published = $('e-published').checked;

  // What the server would refuse anyway, said at once.
  let bad = false;
  if (!editing && !def.slug) bad = fieldError('e-slug', 'required');
  else if (!editing && !/^[a-z0-9-]{1,64}$/.test(def.slug)) bad = fieldError('e-slug', 'pattern');
  if (!def.title) bad = fieldError('e-title', 'required') || bad;
  const seen = new Set();
  [...list.children].forEach((c, i) => {
    const f = def.fields[i];
    if (!f.name) bad = fieldError(`${c.dataset.uid}-name`, 'required') || bad;
    else if (!/^[a-z0-9_]+$/.test(f.name)) bad = fieldError(`${c.dataset.uid}-name`, 'pattern') || bad;
    else if (seen.has(f.name)) bad = fieldError(`${c.dataset.uid}-name`, null, 'adDuplicateName') || bad;
    seen.add(f.name);
    if (f.type === 'select' && !f.options.length) bad = fieldError(`${c.dataset.uid}-options`, 'required') || bad;
  });
  if (bad) {
    notice(out, 'err', 'adInvalid');
    focusFirstError(form);
    return;
  }
  const btn = $('editor-submit');
  btn.disabled = true;
  const r = editing ? await admin('PATCH', `/events/${enc(slug)}`, def) : await admin('POST', '/events', def);
  btn.disabled = false;
  if (r.status === 200 || r.status === 201) {
    $('e-password').value = '';
    if (!editing) {
      sessionStorage.setItem('yoyaku.admin.flash', 'adEventCreated');
      location.hash = `#/events/${enc(def.slug)}/slots`;
      return;
    }
    notice(out, 'ok', 'adSaved');
    return;
  }
  if (r.status === 409 && r.json && r.json.error === 'slug_taken') {
    fieldError('e-slug', null, 'slug_taken');
    notice(out, 'err', 'slug_taken');
    $('e-slug').focus();
    return;
  }
  if (r.status === 422 && r.json && Array.isArray(r.json.errors)) {
    const rest = [];
    for (const x of r.json.errors) {
      const id = controlOf(list, String(x.field || ''));
      if (!(id && fieldError(id, x.reason))) rest.push(`${x.field}: ${t('reason', { r: x.reason })}`);
    }
    notice(out, 'err', 'adInvalid');
    if (rest.length) out.append(h('ul', {}, rest.map((x) => h('li', {}, x))));
    focusFirstError(form);
    return;
  }
  failure(out, r);
}
