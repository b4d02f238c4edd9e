// phases: the booking page's phased opening (contract §2 "Phases"): the list of phases, and when
// the booker's own phase opens as they fill the form, by the server's rule (common/yk_phase.c):
// a phase is met when it has no field, or the booker's value of its field lies within min..max
// (numbers as numbers, dates as dates); the booker may book from the earliest opens_at they meet.
import * as i18n from './i18n.js';
import { h } from './api.js';

const { tx } = i18n;

// A field's label in language l: {ja, en}, a string, or the field's name.
function labelIn(l, v) {
  const lab = v.label;
  if (lab && typeof lab === 'object') return lab[l] || lab.ja || lab.en || v.field;
  return lab || v.field;
}
const at = (l, v) => i18n.textIn(l, 'dateTime', { at: v.at });

function whoJa(v) {
  const name = labelIn('ja', v);
  if (!v.field) return 'どなたでも';
  const [lo, hi] = v.date ? ['以降', '以前'] : ['以上', '以下'];
  if (v.min != null && v.max != null) return `${name}が ${v.min} ${lo}、${v.max} ${hi}の方`;
  return v.min != null ? `${name}が ${v.min} ${lo}の方` : `${name}が ${v.max} ${hi}の方`;
}

function whoEn(v) {
  const name = labelIn('en', v);
  if (!v.field) return 'everyone';
  const [lo, hi] = v.date ? ['on or after', 'on or before'] : ['at least', 'at most'];
  if (v.min != null && v.max != null) return `${name} ${lo} ${v.min} and ${hi} ${v.max}`;
  return v.min != null ? `${name} ${lo} ${v.min}` : `${name} ${hi} ${v.max}`;
}

i18n.extend({
  ja: {
    phases: '受付の順番',
    phaseLine: (v) => `${at('ja', v)} から: ${whoJa(v)}`,
    phaseYours: (v) => `あなたの受付開始は ${at('ja', v)} です。`,
    phaseYoursOpen: 'あなたは今、予約できます。',
    phaseNone: '入力された内容では、どの受付の対象にもなりません。',
    booking_closed_phase_none: '入力された内容では、このイベントの予約の対象になりません。',
  },
  en: {
    phases: 'Who may book when',
    phaseLine: (v) => `From ${at('en', v)}: ${whoEn(v)}`,
    phaseYours: (v) => `Bookings open for you ${at('en', v)}.`,
    phaseYoursOpen: 'You can book now.',
    phaseNone: 'With these details you are in none of the booking phases.',
    booking_closed_phase_none: 'With these details you cannot book this event.',
  },
});

// The booker's value of a phase's field as a number (a date as its day number), or null.
function valueOf(def, raw) {
  const s = String(raw ?? '').normalize('NFKC').trim().replace(/[\u2010-\u2015\u2212\u30fc]/g, '-');
  if (!s) return null;
  if (def && def.type === 'date') {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
    return m ? Date.UTC(+m[1], +m[2] - 1, +m[3]) / 86400e3 : null;
  }
  return /^\d+$/.test(s) ? Number(s) : null;
}

function bound(def, v) {
  if (v == null) return null;
  return def && def.type === 'date' ? valueOf(def, v) : Number(v);
}

// The phase the booker with these values ({name: raw value}) meets that opens first, or null.
export function earliestPhase(e, values) {
  const defs = new Map((Array.isArray(e.fields) ? e.fields : []).map((f) => [f.name, f]));
  let best = null;
  for (const p of Array.isArray(e.phases) ? e.phases : []) {
    const t = Date.parse(p.opens_at);
    if (!Number.isFinite(t) || (best && best.t <= t)) continue;
    if (p.field) {
      const def = defs.get(p.field);
      const v = valueOf(def, values[p.field]);
      const lo = bound(def, p.min);
      const hi = bound(def, p.max);
      if (v == null || (lo != null && v < lo) || (hi != null && v > hi)) continue;
    }
    best = { t, opens_at: p.opens_at };
  }
  return best;
}

// Adds the phases to the event's facts (fact(key, ...nodes) appends a <dt>/<dd> pair).
export function phasesFact(e, fact) {
  if (!Array.isArray(e.phases) || e.phases.length === 0) return;
  const defs = new Map((Array.isArray(e.fields) ? e.fields : []).map((f) => [f.name, f]));
  const sorted = [...e.phases].sort((a, b) => Date.parse(a.opens_at) - Date.parse(b.opens_at));
  const list = h('ul', { class: 'phases', id: 'phases' }, sorted.map((p) => {
    const def = defs.get(p.field);
    return tx(h('li'), 'phaseLine', {
      at: p.opens_at, field: p.field || null, label: def ? def.label : null,
      date: !!(def && def.type === 'date'), min: p.min ?? null, max: p.max ?? null,
    });
  }));
  fact('phases', list);
}

// Tells the booker, in el, when their phase opens, from the form's current values (read by
// values()), again on every change of the form.
export function watchPhase(e, form, el, values) {
  if (!Array.isArray(e.phases) || e.phases.length === 0) {
    el.hidden = true;
    return;
  }
  const fields = e.phases.map((p) => p.field).filter(Boolean);
  const show = () => {
    const v = values();
    const p = earliestPhase(e, v);
    if (!p && !fields.some((f) => String(v[f] ?? '').trim())) {
      el.hidden = true; // nothing typed yet that a phase could be met by
      return;
    }
    if (!p) tx(el, 'phaseNone');
    else if (p.t <= Date.now()) tx(el, 'phaseYoursOpen');
    else tx(el, 'phaseYours', { at: p.opens_at });
    el.hidden = false;
  };
  form.addEventListener('input', show);
  form.addEventListener('change', show);
  show();
}
