// admin-bookings: one event's bookings (status filter, pages by cursor), a search by booking number
// (GET /v1/admin/bookings/{id}) or e-mail (over the loaded pages), cancel on a resident's behalf,
// the CSV downloads (plain links: the session cookie goes with them; signed in with an API token,
// fetched with its Authorization header and saved from a blob) and the reviews.
import { enc } from './api.js';
import {
  $, admin, failure, field, h, heading, labelCells, notice, select, state, statusBadge, tx, txValue,
} from './admin-core.js';
import { eventNav } from './admin-editor.js';

const COLS = ['bookingNo', 'when', 'status', 'email', 'adFields', 'adActions'];

export function fieldList(ev, fields) {
  const labels = new Map((ev.fields || []).map((f) => [f.name, f.label]));
  return h('dl', { class: 'mini' }, Object.entries(fields || {}).map(([k, v]) => h('div', {},
    txValue(h('dt'), labels.get(k) || k, k),
    typeof v === 'boolean' ? tx(h('dd'), v ? 'yes' : 'no') : h('dd', {}, String(v)))));
}

// A link's file fetched with the API token (a link cannot carry an Authorization header) and saved
// under the link's download name.
async function downloadWithToken(a, status) {
  let r;
  try {
    r = await fetch(a.href, { headers: { Authorization: `Bearer ${state.token}` } });
  } catch (e) {
    failure(status, { status: 0 });
    return;
  }
  if (!r.ok) {
    failure(status, { status: r.status, headers: r.headers });
    return;
  }
  const url = URL.createObjectURL(await r.blob());
  const save = h('a', { href: url, download: a.getAttribute('download'), hidden: true });
  document.body.append(save);
  save.click();
  save.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

export async function bookingsView(view, slug) {
  const card = h('section', { class: 'card', 'aria-labelledby': 'bookings-title' });
  const title = heading('adBookings');
  title.id = 'bookings-title';
  const status = h('div', { class: 'notice', id: 'bookings-status', role: 'status', 'aria-live': 'polite' });
  card.append(title, eventNav(slug, 'bookings'), status);
  view.append(card);
  const r = await admin('GET', `/events/${enc(slug)}`);
  if (r.status !== 200) {
    failure(status, r);
    return null;
  }
  const ev = r.json.event || r.json;
  const s = enc(slug);
  const csv = (lang, encoding) => {
    const a = tx(h('a', {
      href: `/v1/admin/events/${s}/bookings.csv?lang=${lang}&encoding=${encoding}`, download: `${slug}-${lang}${encoding === 'cp932' ? '-cp932' : ''}.csv`, // the server's name
      class: 'button secondary small-btn', id: `csv-${lang}-${encoding}`,
    }), 'adCsvLink', { lang: lang === 'ja' ? '日本語' : 'English', enc: encoding === 'utf-8' ? 'UTF-8' : 'Shift_JIS (CP932)' });
    a.addEventListener('click', (e) => {
      if (!state.token) return; // the session cookie goes with the plain link
      e.preventDefault();
      downloadWithToken(a, status);
    });
    return a;
  };
  card.append(h('div', { class: 'ad-group csv' }, tx(h('h3'), 'adCsv'),
    h('p', { class: 'acts' }, csv('ja', 'utf-8'), csv('ja', 'cp932'), csv('en', 'utf-8'), csv('en', 'cp932'))));

  const filter = select('b-status', [['', 'adAll'], ['confirmed', 'st_confirmed'], ['cancelled', 'st_cancelled'],
    ['attended', 'st_attended'], ['no_show', 'st_no_show']], '');
  const search = h('form', { id: 'b-search-form', class: 'searchbar', role: 'search', novalidate: true },
    field({ id: 'b-search', key: 'adSearch', hint: 'adSearchHint', attrs: { type: 'search', autocomplete: 'off', spellcheck: 'false' } }),
    tx(h('button', { type: 'submit', class: 'secondary' }), 'adSearchButton'));
  card.append(h('div', { class: 'row two' }, field({ id: 'b-status', key: 'adStatusFilter', control: filter }), search));
  const tbody = h('tbody', { id: 'bookings' });
  card.append(h('div', { class: 'table-wrap' }, h('table', { class: 'stack' },
    h('thead', {}, h('tr', {}, COLS.map((k) => tx(h('th', { scope: 'col' }), k)))), tbody)));
  const more = tx(h('button', { type: 'button', class: 'secondary', id: 'more', hidden: true }), 'adMore');
  card.append(h('p', {}, more));
  const reviews = h('section', { class: 'card', id: 'reviews', 'aria-labelledby': 'reviews-title' }, tx(h('h2', { id: 'reviews-title' }), 'adReviews'));
  view.append(reviews);

  let cursor = null;
  let loaded = [];
  const row = (b) => {
    const acts = h('td', {});
    if (b.status === 'confirmed') acts.append(cancelButton(b, ev, (nb) => tbody.querySelector(`tr[data-id="${b.id}"]`).replaceWith(row(nb))));
    return labelCells(h('tr', { dataset: { id: b.id } }, h('td', {}, h('code', {}, b.id)), tx(h('td'), 'range', { a: b.starts_at, b: b.ends_at }),
      h('td', {}, statusBadge(b.status)), h('td', { class: 'email' }, b.email), h('td', {}, fieldList(ev, b.fields)), acts), COLS);
  };
  const show = (list) => {
    tbody.replaceChildren(...list.map(row));
    if (!list.length) tbody.append(h('tr', {}, tx(h('td', { colspan: COLS.length }), 'adNoBookings')));
  };
  const load = async (fresh) => {
    if (fresh) {
      cursor = null;
      loaded = [];
    }
    const q = new URLSearchParams({ limit: '50' });
    if (filter.value) q.set('status', filter.value);
    if (cursor) q.set('cursor', cursor);
    const res = await admin('GET', `/events/${s}/bookings?${q}`);
    if (res.status !== 200 || !res.json || !Array.isArray(res.json.bookings)) {
      failure(status, res);
      return;
    }
    notice(status, '', null);
    loaded = loaded.concat(res.json.bookings);
    cursor = res.json.next_cursor || null;
    more.hidden = !cursor;
    show(loaded);
  };
  filter.addEventListener('change', () => load(true));
  more.addEventListener('click', () => load(false));
  search.addEventListener('submit', async (e) => {
    e.preventDefault();
    const q = $('b-search').value.normalize('NFKC').trim();
    if (!q) {
      show(loaded);
      return;
    }
    if (!/^(\d+|YK1-.+)$/i.test(q)) {
      const found = loaded.filter((b) => (b.email || '').toLowerCase().includes(q.toLowerCase()));
      show(found);
      notice(status, 'info', 'adFound', { n: found.length });
      return;
    }
    const id = /^YK1-([^-]+)-/i.exec(q) ? /^YK1-([^-]+)-/i.exec(q)[1] : q;
    const res = await admin('GET', `/bookings/${enc(id)}`);
    if (res.status === 200 && res.json && res.json.booking) {
      show([res.json.booking]);
      notice(status, 'info', 'adFound', { n: 1 });
    } else if (res.status === 404) {
      show([]);
      notice(status, 'warn', 'adBookingNotFound');
    } else failure(status, res);
  });
  await load(true);
  loadReviews(reviews, s);
  return null;
}

// Two steps in place (no modal): "Cancel for the resident" → "Really cancel?" yes / no.
export function cancelButton(b, ev, done) {
  const box = h('span', { class: 'acts' });
  const first = tx(h('button', { type: 'button', class: 'danger small-btn', dataset: { cancel: b.id } }), 'adCancelFor');
  const ask = () => {
    const yes = tx(h('button', { type: 'button', class: 'danger solid small-btn', dataset: { confirm: b.id } }), 'adCancelYes');
    const no = tx(h('button', { type: 'button', class: 'secondary small-btn' }), 'cancelNo');
    const msg = h('span', { role: 'status', class: 'inline-msg' });
    no.addEventListener('click', () => { box.replaceChildren(first); first.focus(); });
    yes.addEventListener('click', async () => {
      yes.disabled = true;
      const r = await admin('POST', `/bookings/${enc(b.id)}/cancel`);
      yes.disabled = false;
      if (r.status === 200 && r.json && r.json.booking) done(r.json.booking);
      else if (r.status === 404) tx(msg, 'adNotAvailable');
      else failure(msg, r);
    });
    box.replaceChildren(tx(h('span', { class: 'inline-msg' }), 'adCancelAsk'), yes, no, msg);
    yes.focus();
  };
  first.addEventListener('click', ask);
  box.append(first);
  return box;
}

async function loadReviews(box, s) {
  const body = h('div', { id: 'reviews-body' });
  box.append(body);
  const r = await admin('GET', `/events/${s}/reviews`);
  if (r.status === 404) {
    body.append(tx(h('p', { class: 'muted' }), 'adNotAvailable'));
    return;
  }
  if (r.status !== 200 || !r.json) {
    failure(body.appendChild(h('div', { class: 'notice' })), r);
    return;
  }
  const { count = 0, average } = r.json;
  body.append(h('p', { class: 'big-stat' }, tx(h('span', { id: 'reviews-summary' }), 'adReviewSummary',
    { n: count, avg: average == null ? '–' : Number(average).toFixed(1) })));
  const list = (r.json.reviews || []).slice(0, 100);
  if (list.length) {
    body.append(h('ul', { class: 'reviews' }, list.map((v) => h('li', {},
      h('span', { class: 'stars', 'aria-hidden': 'true' }, '★'.repeat(v.rating || 0) + '☆'.repeat(5 - (v.rating || 0))),
      tx(h('span', { class: 'sr-only' }), 'adRating', { n: v.rating }),
      v.comment ? h('p', {}, v.comment) : null))));
  }
}
