// admin-events: the events list with state badges (open, closed, secret, sold out, unpublished)
// and, per event, the links to what the signed-in role may do with it.
import { enc, call } from './api.js';
import {
  admin, can, failure, h, heading, labelCells, notice, tx, txValue,
} from './admin-core.js';

// open: inside opens_at..closes_at (either may be absent); closed: outside it.
export function windowState(e, now = Date.now()) {
  const o = e.opens_at ? Date.parse(e.opens_at) : null;
  const c = e.closes_at ? Date.parse(e.closes_at) : null;
  if ((o && now < o) || (c && now >= c)) return 'closed';
  return 'open';
}

// Public slots of a published, non-secret event (secret or unpublished ones are not listed publicly).
export async function publicSlots(e) {
  if (e.published === false || e.secret) return null;
  const r = await call('GET', `/v1/events/${enc(e.slug)}/slots`);
  return r.status === 200 && r.json && Array.isArray(r.json.slots) ? r.json.slots : null;
}

export function badges(e, slots) {
  const out = [];
  const b = (cls, key) => out.push(tx(h('span', { class: `ad-badge ${cls}` }), key));
  if (e.published === false) b('off', 'adBadgeUnpublished');
  b(windowState(e) === 'open' ? 'on' : 'off', windowState(e) === 'open' ? 'adBadgeOpen' : 'adBadgeClosed');
  if (e.secret) b('secret', 'adBadgeSecret');
  if (slots && slots.length && slots.every((s) => s.remaining <= 0)) b('full', 'adBadgeSoldOut');
  return h('span', { class: 'badges' }, out);
}

export async function eventsView(view) {
  const card = h('section', { class: 'card', 'aria-labelledby': 'events-title' });
  const title = heading('adEvents');
  title.id = 'events-title';
  const status = h('div', { class: 'notice', role: 'status', 'aria-live': 'polite', id: 'events-status' });
  card.append(title, status);
  if (can('staff')) card.append(h('p', {}, tx(h('a', { href: '#/new', class: 'button primary', id: 'new-event' }), 'adNewEvent')));
  view.append(card);
  notice(status, 'info', 'loading');
  const r = await admin('GET', '/events');
  if (r.status !== 200 || !r.json || !Array.isArray(r.json.events)) {
    failure(status, r);
    return null;
  }
  notice(status, '', null);
  const events = r.json.events;
  if (!events.length) {
    card.append(tx(h('p', { class: 'muted' }), 'adNoEvents'));
    return null;
  }
  const tbody = h('tbody', { id: 'events' });
  const table = h('table', { class: 'stack' },
    h('thead', {}, h('tr', {}, tx(h('th', { scope: 'col' }), 'adEventTitle'), tx(h('th', { scope: 'col' }), 'adSlug'),
      tx(h('th', { scope: 'col' }), 'adState'), tx(h('th', { scope: 'col' }), 'adActions'))),
    tbody);
  card.append(h('div', { class: 'table-wrap' }, table));
  for (const e of events) {
    const slug = enc(e.slug);
    const acts = h('span', { class: 'acts' });
    const link = (href, key) => acts.append(tx(h('a', { href, class: 'button secondary small-btn' }), key));
    if (can('staff')) {
      link(`#/events/${slug}`, 'adEdit');
      link(`#/events/${slug}/slots`, 'adSlots');
      link(`#/events/${slug}/bookings`, 'adBookings');
      link(`#/events/${slug}/phone`, 'adPhone');
    }
    link(`/events/${slug}`, 'adPublicPage');
    const state = h('span', { class: 'badges' }, badges(e, null));
    const row = h('tr', { dataset: { slug: e.slug } },
      h('td', { class: 'lead' }, txValue(h('strong'), e.title, e.slug)),
      h('td', {}, h('code', {}, e.slug)), h('td', {}, state), h('td', {}, acts));
    labelCells(row, ['adEventTitle', 'adSlug', 'adState', 'adActions']);
    tbody.append(row);
    publicSlots(e).then((slots) => { if (slots) state.replaceChildren(badges(e, slots)); });
  }
  return null;
}

