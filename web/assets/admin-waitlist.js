// admin-waitlist: one event's waitlist (GET /v1/admin/events/{slug}/waitlist): every entry of its
// slots' lines, by slot and place, with its state, the offer's end and the booker's address.
import * as i18n from './i18n.js';
import { call, enc } from './api.js';
import { admin, failure, h, heading, notice, tx } from './admin-core.js';
import { eventNav } from './admin-editor.js';
import { fieldList } from './admin-bookings.js';
import { WAITLIST_WORDS } from './waitlist-words.js';

i18n.extend(WAITLIST_WORDS);

const COLS = ['wlNumber', 'when', 'status', 'wlPosition', 'wlHeldUntil', 'email', 'adFields'];

export async function waitlistView(view, slug) {
  const card = h('section', { class: 'card', 'aria-labelledby': 'waitlist-title' });
  const title = heading('adWaitlistView');
  title.id = 'waitlist-title';
  const status = h('div', { class: 'notice', id: 'waitlist-status', role: 'status', 'aria-live': 'polite' });
  card.append(title, eventNav(slug, 'waitlist'), status);
  view.append(card);
  notice(status, 'info', 'loading');
  const [e, r] = await Promise.all([admin('GET', `/events/${enc(slug)}`),
    admin('GET', `/events/${enc(slug)}/waitlist`)]);
  if (e.status !== 200 || r.status !== 200 || !r.json || !Array.isArray(r.json.entries)) {
    failure(status, e.status !== 200 ? e : r);
    return null;
  }
  notice(status, '', null);
  const ev = e.json.event || e.json;
  const entries = r.json.entries;
  if (!entries.length) {
    card.append(tx(h('p', { class: 'muted', id: 'waitlist-none' }), 'adWlNone'));
    return null;
  }
  // The slot's times, from the public slot list when the event shows it (else the slot's id).
  const slots = new Map();
  const pub = await call('GET', `/v1/events/${enc(slug)}/slots`);
  if (pub.status === 200 && pub.json && Array.isArray(pub.json.slots)) for (const s of pub.json.slots) slots.set(s.id, s);
  const rows = entries.map((x) => {
    const s = slots.get(x.slot_id);
    return h('tr', { dataset: { entryId: x.id } },
      h('td', {}, x.id),
      s ? tx(h('td'), 'range', { a: s.starts_at, b: s.ends_at }) : h('td', {}, `#${x.slot_id}`),
      h('td', {}, tx(h('span', { class: `status wl-${x.status}` }), `wl_${x.status}`)),
      h('td', {}, Number.isFinite(x.position) ? String(x.position) : ''),
      x.offer_expires_at ? tx(h('td'), 'dateTime', { at: x.offer_expires_at }) : h('td'),
      h('td', {}, x.email || ''),
      h('td', {}, fieldList(ev, x.fields)));
  });
  card.append(h('div', { class: 'table-wrap' }, h('table', { class: 'stack' },
    h('thead', {}, h('tr', {}, COLS.map((k) => tx(h('th', { scope: 'col' }), k)))),
    h('tbody', { id: 'waitlist' }, rows))));
  return null;
}
