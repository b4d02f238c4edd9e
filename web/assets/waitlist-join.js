// The booking page's waitlist (contract §5: "offers the waitlist when full"): a full slot of an
// event whose waitlist is enabled stays selectable, and the form then joins the slot's line
// (POST /v1/events/{slug}/slots/{slot_id}/waitlist) instead of booking. event.js calls these.
import * as i18n from './i18n.js';
import { call, enc, sleep, h } from './api.js';
import { WAITLIST_WORDS } from './waitlist-words.js';

i18n.extend(WAITLIST_WORDS);
const { tx } = i18n;

// The event takes waitlist entries.
export function waitlistOpen(event) {
  return !!(event && event.waitlist && event.waitlist.enabled);
}

// Slot s is full but its line can be joined.
export function canJoin(event, s) {
  return waitlistOpen(event) && s && s.remaining <= 0 && Date.parse(s.starts_at) > Date.now();
}

// The submit button's words for the chosen slot (join instead of book).
export function submitLabel(event, s) {
  return canJoin(event, s) ? 'wlJoin' : 'submit';
}

// Joins the line of body.slot_id: the final answer {status, json, headers} (a 202 is polled).
export async function join(slug, body, headers) {
  const r = await call('POST', `/v1/events/${enc(slug)}/slots/${enc(body.slot_id)}/waitlist`, {
    body: JSON.stringify(body), headers,
  });
  if (r.status !== 202) return r;
  const url = `/v1/requests/${enc(r.json && r.json.request_id)}`;
  for (let i = 0; i < 600; i++) {
    await sleep(1000);
    const p = await call('GET', url, { headers });
    if (p.status === 200 && p.json && p.json.status !== 'pending') {
      return { status: Number(p.json.code) || 500, json: p.json, headers: p.headers };
    }
  }
  return { status: 0, json: null, headers: new Headers() };
}

// The done box after a join: the place in line and the entry's link (its token is shown once).
export function joinedBox(body) {
  const e = body.entry;
  const link = `/waitlist/${enc(e.id)}?token=${enc(body.token || '')}`;
  return [
    tx(h('h2', { id: 'done-title' }), 'wlJoinedTitle'),
    Number.isFinite(e.position) ? tx(h('p', { id: 'wl-position' }), 'wlJoinedPos', { n: e.position }) : null,
    tx(h('p'), 'wlWaiting'),
    tx(h('p', { class: 'muted small' }), 'wlKeepLink'),
    tx(h('a', { class: 'primary', href: link, id: 'waitlist-link' }), 'wlOpen'),
  ];
}
