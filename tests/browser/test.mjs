// Browser tests of the booking pages. Started by tests/browser/run (stack.py), which passes the
// stack's addresses in $YK_BROWSER_CONFIG. Each test gets a fresh browser context; every page is
// served with a strict Content-Security-Policy added here, so an inline script or style, or a
// request to another origin, fails the test. Prints `N passed, N failed` last.
//
// Arguments: parts of test names to run only those (e.g. `node test.mjs cancel`).
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { chromium } from 'playwright-core';

const cfg = JSON.parse(fs.readFileSync(process.env.YK_BROWSER_CONFIG, 'utf8'));
const BASE = cfg.base;
const OUT = cfg.outDir;
fs.mkdirSync(OUT, { recursive: true });

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
  + "font-src 'self'; manifest-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
const MOBILE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const DESKTOP = { viewport: { width: 1200, height: 900 } };

// ---------------------------------------------------------------------------------------------
// API helpers (node's fetch)

async function api(method, p, { body, admin = false, headers = {}, base = BASE } = {}) {
  const h = { Accept: 'application/json', ...headers };
  if (body !== undefined) h['Content-Type'] = 'application/json';
  if (admin) h.Authorization = `Bearer ${cfg.adminToken}`;
  const r = await fetch(base + p, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, json, text, headers: r.headers };
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

function eq(a, b, msg) {
  if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(`${msg}: expected ${JSON.stringify(b)}, got ${JSON.stringify(a)}`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(fn, what, timeout = 10000) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

// A day `days` from today in Asia/Tokyo, as YYYY-MM-DD.
function jstDate(days) {
  const d = new Date(Date.now() + 9 * 3600e3 + days * 86400e3);
  return d.toISOString().slice(0, 10);
}

const uniq = (p) => `${p}-${randomUUID().slice(0, 8)}`;
const mail = (p) => `${p}-${randomUUID().slice(0, 8)}@example.com`;

const FIELDS = [
  { name: 'name', label: { ja: '氏名', en: 'Name' }, type: 'text', required: true, max_length: 50 },
  { name: 'insurance_no', label: { ja: '保険証番号', en: 'Insurance number' }, type: 'text', identity: true, pattern: '^[0-9]{8}$' },
  { name: 'phone', label: { ja: '電話番号', en: 'Phone' }, type: 'tel' },
  { name: 'birth', label: { ja: '生年月日', en: 'Date of birth' }, type: 'date' },
  { name: 'people', label: { ja: '人数', en: 'People' }, type: 'number' },
  { name: 'site', label: { ja: '希望会場', en: 'Preferred site' }, type: 'select', options: ['本館', '別館'] },
  { name: 'consent', label: { ja: '注意事項に同意します', en: 'I agree to the terms' }, type: 'checkbox', required: true },
];
const SIMPLE_FIELDS = [{ name: 'name', label: { ja: '氏名', en: 'Name' }, type: 'text', required: true, max_length: 50 }];

// Creates an event with slots (capacities, one per slot, hour by hour from 09:00 on `day`, and
// more days with `days`); waits until the public API lists every slot. → {slug, slots}
async function makeEvent({ capacities = [5], fields = SIMPLE_FIELDS, day = 10, days = 1, extra = {} } = {}) {
  const slug = uniq('b');
  const def = {
    slug, title: `ブラウザ試験 ${slug}`, venue: '市民会館 2階 ホール', timezone: 'Asia/Tokyo',
    description: '接種券と本人確認書類をお持ちください。\n駐車場はありません。', fields, ...extra,
  };
  let r = await api('POST', '/v1/admin/events', { body: def, admin: true });
  eq(r.status, 201, `create event ${r.text}`);
  const slots = [];
  for (let d = 0; d < days; d++) {
    capacities.forEach((cap, i) => {
      const date = jstDate(day + d);
      const hh = String(9 + i).padStart(2, '0');
      slots.push({ starts_at: `${date}T${hh}:00:00+09:00`, ends_at: `${date}T${hh}:30:00+09:00`, capacity: cap });
    });
  }
  r = await api('POST', `/v1/admin/events/${slug}/slots`, { body: { slots }, admin: true });
  eq(r.status, 201, `add slots ${r.text}`);
  const listed = await waitFor(async () => {
    let headers = {};
    if (extra.password) { // a secret event's slots are read with an access token
      const u = await api('POST', `/v1/events/${slug}/unlock`, { body: { password: extra.password } });
      if (u.status !== 200) return null;
      headers = { 'X-Access-Token': u.json.access_token };
    }
    const s = await api('GET', `/v1/events/${slug}/slots`, { headers });
    return s.status === 200 && s.json.slots.length === slots.length ? s.json.slots : null;
  }, `slots of ${slug}`);
  listed.sort((a, b) => (a.starts_at < b.starts_at ? -1 : 1));
  return { slug, def, slots: listed };
}

async function bookingsOf(slug) {
  const r = await api('GET', `/v1/admin/events/${slug}/bookings?limit=100`, { admin: true });
  eq(r.status, 200, `admin bookings ${r.text}`);
  return r.json.bookings;
}

async function remaining(slug, slotId) {
  const r = await api('GET', `/v1/events/${slug}/slots`);
  return r.json.slots.find((s) => s.id === slotId).remaining;
}

// ---------------------------------------------------------------------------------------------
// browser

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

// A context whose pages get the CSP header; collects page errors and console errors.
async function context(t, opts = {}) {
  const ctx = await browser.newContext({ locale: 'ja-JP', timezoneId: 'Asia/Tokyo', ...MOBILE, ...opts });
  ctx.setDefaultTimeout(10000);
  ctx.yk = { t };  // the test that owns the context now (a later test may take it over)
  await ctx.route('**/*', async (route) => {
    const req = route.request();
    if (!req.url().startsWith(BASE) && !req.url().startsWith(cfg.queueBase)) {
      ctx.yk.t.problems.push(`request to another origin: ${req.url()}`);
      return route.abort();
    }
    if (req.resourceType() !== 'document') return route.fallback();
    const resp = await route.fetch();
    return route.fulfill({ response: resp, headers: { ...resp.headers(), 'content-security-policy': CSP } });
  });
  ctx.on('page', (page) => watch(ctx, page));
  t.contexts.push(ctx);
  return ctx;
}

function watch(ctx, page) {
  page.on('pageerror', (e) => ctx.yk.t.problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    const { t } = ctx.yk;
    if (m.type() !== 'error') return;
    const text = m.text();
    if (/Failed to load resource: the server responded with a status of (4\d\d|503)/.test(text)) return;
    if (t.allowConsole && t.allowConsole.test(text)) return;
    t.problems.push(`console error: ${text}`);
  });
}

async function newPage(t, opts) {
  const ctx = await context(t, opts);
  return ctx.newPage();
}

async function shot(page, name, fullPage = true) {
  await page.screenshot({ path: path.join(OUT, `${name}.png`), fullPage });
}

// Fills the booking form of an event made with FIELDS.
async function fillFull(page, { email, insurance = '１２３４５６７８', name = '山田 花子' }) {
  await page.fill('#fld-name', name);
  await page.fill('#fld-insurance_no', insurance);
  await page.fill('#fld-phone', '０９０－１２３４－５６７８');
  await page.fill('#fld-birth', '1980-04-01');
  await page.fill('#fld-people', '２');
  await page.selectOption('#fld-site', '別館');
  await page.check('#fld-consent');
  await page.fill('#booker-email', email);
}

// Shows the slot's day (the date buttons, when there are several days), then checks the slot.
async function chooseSlot(page, slot) {
  const day = page.locator(`#slots button.date[data-date="${slot.starts_at.slice(0, 10)}"]`);
  if (await day.count()) {
    await day.click();
    eq(await day.getAttribute('aria-pressed'), 'true', 'day button pressed');
  }
  await page.check(`input[name=slot][value="${slot.id}"]`);
}

// Every form control has a label; live regions exist; the page language is set.
async function checkA11y(page) {
  const problems = await page.evaluate(() => {
    const out = [];
    for (const el of document.querySelectorAll('input, select, textarea, button')) {
      if (el.type === 'hidden' || el.closest('[hidden]')) continue;
      const named = (el.labels && el.labels.length) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')
        || (el.tagName === 'BUTTON' && el.textContent.trim());
      if (!named) out.push(`no label: ${el.outerHTML.slice(0, 80)}`);
    }
    if (!document.documentElement.lang) out.push('no lang on <html>');
    if (!document.querySelector('[aria-live]')) out.push('no aria-live region');
    const ids = new Map();
    for (const el of document.querySelectorAll('[id]')) ids.set(el.id, (ids.get(el.id) || 0) + 1);
    for (const [id, n] of ids) if (n > 1) out.push(`duplicate id ${id}`);
    for (const el of document.querySelectorAll('[aria-describedby]')) {
      for (const id of el.getAttribute('aria-describedby').split(/\s+/)) {
        if (id && !document.getElementById(id)) out.push(`aria-describedby points nowhere: ${id}`);
      }
    }
    return out;
  });
  assert(problems.length === 0, problems.join('\n'));
}

// ---------------------------------------------------------------------------------------------
// tests

const tests = [];
const test = (name, fn) => tests.push({ name, fn });
const shared = {};

test('index lists published events and links to each', async (t) => {
  const ev = await makeEvent();
  const page = await newPage(t);
  await page.goto(`${BASE}/`);
  const link = page.locator('a.event-link', { hasText: ev.def.title });
  await link.waitFor();
  assert((await link.textContent()).includes('市民会館'), 'venue shown');
  await checkA11y(page);
  await shot(page, 'index-mobile');
  await link.click();
  await page.waitForURL(`${BASE}/events/${ev.slug}`);
  await page.locator('#title', { hasText: ev.def.title }).waitFor();
});

test('book a slot end to end (full-width digits in the identity)', async (t) => {
  const ev = await makeEvent({ capacities: [3, 10, 10, 10, 10], fields: FIELDS, days: 3 });
  const page = await newPage(t);
  await page.goto(`${BASE}/events/${ev.slug}`);
  await page.locator('#title', { hasText: ev.def.title }).waitFor();
  await page.locator('input[name=slot]').first().waitFor();
  eq(await page.locator('input[name=slot]').count(), 15, 'slot radios');
  eq(await page.locator('fieldset.day').count(), 3, 'days');
  const legend = await page.locator('fieldset.day legend').first().textContent();
  assert(/\d+年\d+月\d+日（.）/.test(legend), `date legend in Japanese: ${legend}`);
  const first = page.locator(`label.slot[data-slot-id="${ev.slots[0].id}"]`);
  assert((await first.textContent()).includes('残り3'), 'remaining seats shown');
  await checkA11y(page);
  await shot(page, 'event-mobile');
  await shot(page, 'event-mobile-top', false);

  // Several days: date buttons, the first day shown; another day's times show on its button.
  eq(await page.locator('#slots button.date').count(), 3, 'date buttons');
  assert(await page.isVisible(`#day-${ev.slots[0].starts_at.slice(0, 10)}`), 'first day shown');
  assert(await page.isHidden(`#day-${ev.slots[6].starts_at.slice(0, 10)}`), 'second day hidden');
  const email = mail('e2e');
  await chooseSlot(page, ev.slots[6]);
  assert(await page.isHidden(`#day-${ev.slots[0].starts_at.slice(0, 10)}`), 'first day hidden now');
  assert((await page.textContent('#chosen-text')).includes('10:00'), 'chosen slot shown');
  await fillFull(page, { email });
  await shot(page, 'event-mobile-filled');
  await page.click('#submit');
  await page.locator('#booking-number').waitFor();
  const number = (await page.textContent('#booking-number')).trim();
  assert(/^\d+$/.test(number), `booking number ${number}`);
  const done = await page.textContent('#done');
  assert(done.includes('予約が完了しました'), 'success title');
  assert(done.includes(`確認メールを ${email} に送りました`), 'mail sent line');
  assert((await page.textContent('#booking-when')).includes('10:00'), 'time in success view');
  eq(await page.evaluate(() => document.activeElement.id), 'done', 'focus moved to the result');
  const href = await page.getAttribute('#booking-link', 'href');
  assert(new RegExp(`^/bookings/${number}\\?token=[^&]+$`).test(href), `booking link ${href}`);
  await shot(page, 'booked-mobile', false);

  const rows = await bookingsOf(ev.slug);
  eq(rows.length, 1, 'bookings in the event');
  const b = rows[0];
  eq(b.id, number, 'booking id');
  eq(b.email, email, 'email');
  eq(b.slot_id, ev.slots[6].id, 'slot');
  eq(b.fields.insurance_no, '12345678', 'identity NFKC-cleaned');
  eq(b.fields.name, '山田 花子', 'name');
  eq(b.fields.site, '別館', 'select');
  eq(b.fields.consent, true, 'checkbox');
  eq(b.fields.birth, '1980-04-01', 'date');
  shared.booked = { page, slug: ev.slug, number, email, slot: ev.slots[6], ctx: page.context() };
  t.keepContext = true;
});

// The text of a mail file with its base64 and quoted-printable parts decoded.
function mailText(raw) {
  let text = raw;
  for (const m of raw.matchAll(/Content-Transfer-Encoding:\s*base64[^\n]*\n(?:[^\r\n]+\r?\n)*\r?\n([A-Za-z0-9+/=\r\n]+)/gi)) {
    text += `\n${Buffer.from(m[1].replace(/\s+/g, ''), 'base64').toString('utf8')}`;
  }
  if (/quoted-printable/i.test(raw)) {
    const qp = raw.replace(/=\r?\n/g, '').replace(/(?:=[0-9A-F]{2})+/g, (m) => Buffer.from(m.replace(/=/g, ''), 'hex').toString('utf8'));
    text += `\n${qp}`;
  }
  return text;
}

test('the confirmation mail\'s link opens the booking page', async (t) => {
  const s = shared.booked;
  assert(s, 'needs the booking of the previous test');
  if (!cfg.notifier) {
    t.note = 'no yoyaku-notifier built: skipped';
    return;
  }
  const link = await waitFor(() => {
    for (const f of fs.readdirSync(cfg.mailDir)) {
      const text = mailText(fs.readFileSync(path.join(cfg.mailDir, f), 'utf8'));
      if (!text.includes(s.email)) continue;
      const m = text.match(/https?:\/\/\S+?\/bookings\/(\d+)\?token=([A-Za-z0-9_%.~-]+)/);
      if (m && m[1] === s.number) return m[0];
    }
    return null;
  }, 'the confirmation mail with its link', 15000);
  assert(link.startsWith(`${BASE}/bookings/${s.number}?token=`), `link ${link} points at this server`);
  const page = await newPage(t);
  await page.goto(link);
  await page.locator('#booking-number', { hasText: s.number }).waitFor();
  eq(new URL(page.url()).search, '', 'token moved out of the URL');
  eq((await page.textContent('#booking-status')).trim(), '予約済み', 'status');
});

test('booking page from the link: details, token off the URL, cancel', async (t) => {
  const s = shared.booked;
  assert(s, 'needs the booking of the previous test');
  t.contexts.push(s.ctx);
  s.ctx.yk.t = t;
  const { page } = s;
  const before = await remaining(s.slug, s.slot.id);
  await page.click('#booking-link');
  await page.waitForURL(`${BASE}/bookings/${s.number}`);
  assert(!page.url().includes('token'), `token left the URL: ${page.url()}`);
  await page.locator('#booking-number', { hasText: s.number }).waitFor();
  eq((await page.textContent('#booking-status')).trim(), '予約済み', 'status');
  const text = await page.textContent('#booking');
  for (const part of ['保険証番号', '12345678', '別館', '山田 花子', 'はい', '10:00']) assert(text.includes(part), `booking page shows ${part}`);
  await checkA11y(page);
  await shot(page, 'booking-mobile');

  await page.click('#cancel');
  const dialog = page.locator('dialog#confirm');
  await dialog.waitFor();
  assert(await dialog.evaluate((d) => d.open), 'dialog open');
  await shot(page, 'booking-confirm-mobile', false);
  await page.click('#confirm-no');
  assert(!(await dialog.evaluate((d) => d.open)), 'dialog closed');
  eq((await page.textContent('#booking-status')).trim(), '予約済み', 'still booked after "keep it"');

  await page.click('#cancel');
  await page.click('#confirm-yes');
  await page.locator('#result', { hasText: '予約をキャンセルしました' }).waitFor();
  eq((await page.textContent('#booking-status')).trim(), 'キャンセル済み', 'status after cancel');
  assert(await page.locator('#cancel').isHidden(), 'no cancel button any more');
  await shot(page, 'booking-cancelled-mobile', false);
  await waitFor(async () => (await remaining(s.slug, s.slot.id)) === before + 1, 'the seat freed');
  const rows = await bookingsOf(s.slug);
  eq(rows[0].status, 'cancelled', 'cancelled in the admin API');

  // A reload still finds the booking: the token stayed in this tab's sessionStorage.
  await page.reload();
  await page.locator('#booking-status', { hasText: 'キャンセル済み' }).waitFor();
});

test('double click and a retry after a lost answer book once', async (t) => {
  const ev = await makeEvent({ capacities: [10] });
  const page = await newPage(t);
  const keys = [];
  page.on('request', (r) => {
    if (r.method() === 'POST' && r.url().endsWith('/reservations')) keys.push(r.headers()['idempotency-key']);
  });
  await page.goto(`${BASE}/events/${ev.slug}`);
  await chooseSlot(page, ev.slots[0]);
  await page.fill('#fld-name', '二度 押子');
  const email1 = mail('dbl');
  await page.fill('#booker-email', email1);
  await page.dblclick('#submit');
  await page.locator('#booking-number').waitFor();
  await sleep(300);
  let rows = (await bookingsOf(ev.slug)).filter((b) => b.email === email1);
  eq(rows.length, 1, 'one booking after a double click');
  assert(keys.length >= 1 && keys.every((k) => k === keys[0]) && /^[0-9a-f-]{36}$/.test(keys[0]), `one key: ${keys}`);

  // The answer of the first POST is lost (the server booked): pressing again sends the same key
  // and gets the same booking back.
  const page2 = await newPage(t);
  t.allowConsole = /net::ERR_FAILED|Failed to fetch/;
  const keys2 = [];
  let lose = true;
  await page2.route('**/reservations', async (route) => {
    keys2.push(route.request().headers()['idempotency-key']);
    if (lose) {
      lose = false;
      await route.fetch();
      return route.abort('failed');
    }
    return route.fallback();
  });
  await page2.goto(`${BASE}/events/${ev.slug}`);
  await chooseSlot(page2, ev.slots[0]);
  await page2.fill('#fld-name', '再送 太郎');
  const email2 = mail('retry');
  await page2.fill('#booker-email', email2);
  await page2.click('#submit');
  await page2.locator('#result', { hasText: '通信できませんでした' }).waitFor();
  eq(await page2.isEnabled('#submit'), true, 'button enabled again after a network error');
  await page2.click('#submit');
  await page2.locator('#booking-number').waitFor();
  eq(keys2.length, 2, 'two POSTs');
  eq(keys2[0], keys2[1], 'the retry used the same Idempotency-Key');
  rows = (await bookingsOf(ev.slug)).filter((b) => b.email === email2);
  eq(rows.length, 1, 'one booking after the retry');
  eq((await page2.textContent('#booking-number')).trim(), rows[0].id, 'the same booking shown');
});

test('slot_full: clear message, slots refreshed, another time books', async (t) => {
  const ev = await makeEvent({ capacities: [1, 5] });
  const page = await newPage(t);
  await page.goto(`${BASE}/events/${ev.slug}`);
  await chooseSlot(page, ev.slots[0]);
  await page.fill('#fld-name', '満席 太郎');
  await page.fill('#booker-email', mail('full'));
  // Someone else takes the last seat meanwhile.
  const r = await api('POST', `/v1/events/${ev.slug}/reservations`,
    { body: { slot_id: ev.slots[0].id, email: mail('other'), fields: { name: '先着 花子' } } });
  eq(r.status, 201, `other booking ${r.text}`);
  await waitFor(async () => (await remaining(ev.slug, ev.slots[0].id)) === 0, 'slot full in the API');
  await page.click('#submit');
  await page.locator('#result', { hasText: 'この日時は満席になりました' }).waitFor();
  const full = page.locator(`label.slot[data-slot-id="${ev.slots[0].id}"]`);
  await full.locator('text=満席').waitFor();
  assert(await page.isDisabled(`input[name=slot][value="${ev.slots[0].id}"]`), 'full slot disabled');
  assert((await page.textContent('#slot-error')).includes('日時を選んでください'), 'asks for another time');
  await shot(page, 'slot-full-mobile', false);
  await chooseSlot(page, ev.slots[1]);
  await page.click('#submit');
  await page.locator('#booking-number').waitFor();
});

test('refusals: already_booked (identity in full-width digits), booking_closed', async (t) => {
  const ev = await makeEvent({ capacities: [5, 5], fields: FIELDS });
  const r = await api('POST', `/v1/events/${ev.slug}/reservations`,
    { body: { slot_id: ev.slots[0].id, email: mail('first'), fields: { name: '一回目', insurance_no: '55556666', consent: true } } });
  eq(r.status, 201, `first booking ${r.text}`);
  const page = await newPage(t);
  const keys = [];
  page.on('request', (q) => { if (q.method() === 'POST') keys.push(q.headers()['idempotency-key']); });
  await page.goto(`${BASE}/events/${ev.slug}`);
  await chooseSlot(page, ev.slots[1]);
  await fillFull(page, { email: mail('again'), insurance: '５５５５６６６６' });
  await page.click('#submit');
  await page.locator('#result', { hasText: 'すでに予約済みです' }).waitFor();
  eq(await page.isEnabled('#submit'), true, 'button usable again');
  // A decided refusal is not replayed: pressing again is a new submission with a new key.
  await page.click('#submit');
  await waitFor(() => keys.length === 2, 'a second POST');
  await page.locator('#result', { hasText: 'すでに予約済みです' }).waitFor();
  assert(keys[0] !== keys[1], 'new Idempotency-Key after a refusal');
  eq((await bookingsOf(ev.slug)).length, 1, 'no second booking');

  const opens = new Date(Date.now() + 3 * 86400e3 + 9 * 3600e3).toISOString().slice(0, 10);
  const ev2 = await makeEvent({ capacities: [5], extra: { opens_at: `${opens}T09:00:00+09:00` } });
  const page2 = await newPage(t);
  await page2.goto(`${BASE}/events/${ev2.slug}`);
  const [y, m, d] = opens.split('-').map(Number);
  await page2.locator('#alert', { hasText: `受付開始は ${y}年${m}月${d}日` }).waitFor();
  await chooseSlot(page2, ev2.slots[0]);
  await page2.fill('#fld-name', '早すぎ 太郎');
  await page2.fill('#booker-email', mail('early'));
  await page2.click('#submit');
  await page2.locator('#result', { hasText: '現在、予約を受け付けていません' }).waitFor();
  assert((await page2.textContent('#result')).includes('09:00'), 'opening time shown');
  await shot(page2, 'closed-mobile', false);
});

test('invalid fields: messages next to each field', async (t) => {
  const ev = await makeEvent({ capacities: [5], fields: FIELDS });
  const page = await newPage(t);
  const posts = [];
  page.on('request', (r) => { if (r.method() === 'POST') posts.push(r.url()); });
  await page.goto(`${BASE}/events/${ev.slug}`);
  await page.locator('#fld-name').waitFor();
  // Nothing chosen or filled: the page says so without asking the server.
  await page.click('#submit');
  await page.locator('#fld-name-error', { hasText: '入力してください' }).waitFor();
  assert((await page.textContent('#slot-error')).includes('日時を選んでください'), 'slot missing');
  assert((await page.textContent('#fld-consent-error')).includes('入力してください'), 'consent missing');
  assert((await page.textContent('#booker-email-error')).includes('入力してください'), 'email missing');
  eq(posts.length, 0, 'no request for an incomplete form');
  eq(await page.getAttribute('#fld-name', 'aria-invalid'), 'true', 'aria-invalid');
  await shot(page, 'invalid-required-mobile', false);

  // The server refuses what it alone checks: the identity pattern, an e-mail without a domain.
  await chooseSlot(page, ev.slots[0]);
  await fillFull(page, { email: 'nobody@localhost', insurance: '１２３４-abc' });
  await page.click('#submit');
  await page.locator('#fld-insurance_no-error', { hasText: '形式が正しくありません' }).waitFor();
  assert((await page.textContent('#booker-email-error')).includes('形式が正しくありません'), 'email pattern');
  eq(await page.textContent('#fld-name-error'), '', 'no message on a good field');
  eq(await page.evaluate(() => document.activeElement.id), 'fld-insurance_no', 'focus on the first bad field');
  eq(posts.length, 1, 'one request');
  await shot(page, 'invalid-server-mobile', false);
  // Fixing the fields clears the messages and books.
  await page.fill('#fld-insurance_no', '87654321');
  eq(await page.textContent('#fld-insurance_no-error'), '', 'message cleared on input');
  await page.fill('#booker-email', mail('fixed'));
  await page.click('#submit');
  await page.locator('#booking-number').waitFor();
});

test('202: the queue view polls until the booking is decided', async (t) => {
  const ev = await makeEvent({ capacities: [5] });
  const page = await newPage(t);
  const statuses = [];
  page.on('response', (r) => {
    if (r.request().method() === 'POST' && r.url().endsWith('/reservations')) statuses.push(r.status());
  });
  let polls = 0;
  page.on('request', (r) => { if (r.url().includes('/v1/requests/')) polls++; });
  await page.goto(`${cfg.queueBase}/events/${ev.slug}`);
  await chooseSlot(page, ev.slots[0]);
  await page.fill('#fld-name', '順番 待子');
  await page.fill('#booker-email', mail('queue'));
  await page.click('#submit');
  await page.locator('#result', { hasText: '順番待ちです' }).waitFor();
  await shot(page, 'queued-mobile', false);
  await page.locator('#booking-number').waitFor({ timeout: 15000 });
  eq(statuses, [202], 'the reservation answered 202');
  assert(polls >= 1, 'polled /v1/requests');
  const rows = await bookingsOf(ev.slug);
  eq(rows.length, 1, 'one booking');
  eq((await page.textContent('#booking-number')).trim(), rows[0].id, 'booking number from the poll');
});

test('busy answers honour Retry-After and retry with the same key', async (t) => {
  const ev = await makeEvent({ capacities: [5] });
  const page = await newPage(t);
  const keys = [];
  let busy = true;
  await page.route('**/reservations', async (route) => {
    keys.push(route.request().headers()['idempotency-key']);
    if (busy) {
      busy = false;
      return route.fulfill({
        status: 503, headers: { 'Retry-After': '2', 'Content-Type': 'application/json' },
        body: JSON.stringify({ error: 'unavailable', message: 'busy' }),
      });
    }
    return route.fallback();
  });
  await page.goto(`${BASE}/events/${ev.slug}`);
  await chooseSlot(page, ev.slots[0]);
  await page.fill('#fld-name', '混雑 太郎');
  await page.fill('#booker-email', mail('busy'));
  await page.click('#submit');
  await page.locator('#result', { hasText: '混み合っています' }).waitFor();
  assert((await page.textContent('#result')).includes('2秒後'), 'Retry-After seconds shown');
  assert(await page.isDisabled('#submit'), 'no resubmission before Retry-After');
  assert((await page.textContent('#submit')).includes('秒後'), 'countdown on the button');
  await shot(page, 'busy-mobile', false);
  await page.waitForFunction(() => !document.getElementById('submit').disabled, null, { timeout: 5000 });
  await page.click('#submit');
  await page.locator('#booking-number').waitFor();
  eq(keys.length, 2, 'two attempts');
  eq(keys[0], keys[1], 'same Idempotency-Key');
});

test('language: default from the browser, toggle keeps the input', async (t) => {
  const ev = await makeEvent({ capacities: [5], fields: FIELDS });
  const page = await newPage(t, { locale: 'en-US' });
  await page.goto(`${BASE}/events/${ev.slug}`);
  await page.locator('#slots-title', { hasText: 'Choose a time' }).waitFor();
  eq(await page.getAttribute('html', 'lang'), 'en', 'html lang');
  assert((await page.textContent('label[for=fld-name]')).includes('Name'), 'English label');
  assert((await page.textContent('label[for=fld-insurance_no]')).includes('Insurance number'), 'English label 2');
  const legend = await page.locator('fieldset.day legend').first().textContent();
  assert(/[A-Z][a-z]{2}, \d+ [A-Z][a-z]{2} \d{4}/.test(legend), `English date: ${legend}`);
  await page.fill('#fld-name', 'Taro Yamada');
  await chooseSlot(page, ev.slots[0]);
  await shot(page, 'event-mobile-en');
  await page.click('#lang-toggle');
  await page.locator('#slots-title', { hasText: '日時を選ぶ' }).waitFor();
  eq(await page.getAttribute('html', 'lang'), 'ja', 'html lang after toggle');
  assert((await page.textContent('label[for=fld-name]')).includes('氏名'), 'Japanese label');
  eq(await page.inputValue('#fld-name'), 'Taro Yamada', 'typed value kept');
  assert(await page.isChecked(`input[name=slot][value="${ev.slots[0].id}"]`), 'chosen slot kept');
  eq((await page.textContent('#lang-toggle')).trim(), 'English', 'toggle offers English');
  await page.reload();
  await page.locator('#slots-title', { hasText: '日時を選ぶ' }).waitFor();
  await page.click('#lang-toggle');
  await page.locator('#slots-title', { hasText: 'Choose a time' }).waitFor();
  // An answer in English too.
  await chooseSlot(page, ev.slots[0]);
  await page.click('#submit');
  await page.locator('#fld-name-error', { hasText: 'This is required.' }).waitFor();
});

test('secret event asks for a password', async (t) => {
  const ev = await makeEvent({ capacities: [5], extra: { password: 'himitsu-2026' } });
  const page = await newPage(t);
  await page.goto(`${BASE}/events/${ev.slug}`);
  await page.locator('#secret').waitFor();
  assert((await page.textContent('#secret-event')).includes(ev.def.title), 'title shown');
  eq(await page.evaluate(() => document.activeElement.id), 'password', 'focus on the password');
  await page.click('#unlock-form button[type=submit]');
  await page.locator('#password-error', { hasText: '入力してください' }).waitFor();
  await page.fill('#password', 'wrong-password');
  const unlock = page.waitForResponse((r) => r.url().endsWith('/unlock'));
  await page.click('#unlock-form button[type=submit]');
  const ur = await unlock;
  await shot(page, 'secret-mobile', false);
  eq(ur.status(), 401, 'a wrong password is 401');
  await page.locator('#password-error', { hasText: 'パスワードが違います' }).waitFor();
  await page.fill('#password', 'himitsu-2026');
  await page.click('#unlock-form button[type=submit]');
  await page.locator('#title', { hasText: ev.def.title }).waitFor();
  await page.locator('input[name=slot]').first().waitFor();
  const heads = [];
  page.on('request', (r) => { if (r.url().includes('/reservations')) heads.push(r.headers()['x-access-token']); });
  await chooseSlot(page, ev.slots[0]);
  await page.fill('#fld-name', '秘密 太郎');
  await page.fill('#booker-email', mail('secret'));
  await page.click('#submit');
  await page.locator('#booking-number').waitFor();
  assert(heads[0], 'X-Access-Token sent');
  // The token lives in this tab's sessionStorage: a reload opens the page without asking again.
  await page.goto(`${BASE}/events/${ev.slug}`);
  await page.locator('#title', { hasText: ev.def.title }).waitFor();
  assert(await page.isHidden('#secret'), 'no password asked again in this tab');
  // A token the server no longer accepts (expired, or the password changed) asks again.
  await page.evaluate((slug) => sessionStorage.setItem(`yoyaku.access.${slug}`,
    JSON.stringify({ token: 'A'.repeat(64), until: 0 })), ev.slug);
  await page.reload();
  await page.locator('#secret').waitFor();
  eq(await page.evaluate(() => document.activeElement.id), 'password', 'asked again');
});

test('booking page: wrong token or no token', async (t) => {
  const page = await newPage(t);
  await page.goto(`${BASE}/bookings/1?token=not-the-right-token`);
  await page.locator('#status', { hasText: '予約が見つかりません' }).waitFor();
  assert(!page.url().includes('token'), 'token left the URL');
  await shot(page, 'booking-notfound-mobile', false);
  const page2 = await newPage(t, { locale: 'en-GB' });
  await page2.goto(`${BASE}/bookings/123`);
  await page2.locator('#status', { hasText: 'link is not complete' }).waitFor();
  await page2.goto(`${BASE}/bookings/abc?token=x`);
  await page2.locator('#status', { hasText: 'Booking not found, or the link is wrong' }).waitFor();
  const page3 = await newPage(t);
  await page3.goto(`${BASE}/events/no-such-event`);
  await page3.locator('#status', { hasText: 'イベントが見つかりません' }).waitFor();
});

test('desktop layout', async (t) => {
  const ev = await makeEvent({ capacities: [1, 2, 8, 8], fields: FIELDS, days: 2 });
  const r = await api('POST', `/v1/events/${ev.slug}/reservations`,
    { body: { slot_id: ev.slots[0].id, email: mail('d'), fields: { name: '先着', insurance_no: '11112222', consent: true } } });
  eq(r.status, 201, `booking ${r.text}`);
  await waitFor(async () => (await remaining(ev.slug, ev.slots[0].id)) === 0, 'slot full in the API');
  const page = await newPage(t, DESKTOP);
  await page.goto(`${BASE}/events/${ev.slug}`);
  await page.locator('input[name=slot]').first().waitFor();
  assert(await page.isDisabled(`input[name=slot][value="${ev.slots[0].id}"]`), 'full slot disabled');
  await shot(page, 'event-desktop');
});

test('staff console: sign in, create an event, add slots, list bookings', async (t) => {
  const page = await newPage(t, DESKTOP);
  await page.goto(`${BASE}/admin`);
  await page.locator('#login').waitFor();
  await page.fill('#token', 'not-a-valid-admin-token-at-all');
  await page.click('#login-form button[type=submit]');
  await page.locator('#token-error', { hasText: 'トークンが正しくありません' }).waitFor();
  await page.fill('#token', cfg.adminToken);
  await page.click('#login-form button[type=submit]');
  await page.locator('#console').waitFor();
  await page.locator('#events tr').first().waitFor();

  const slug = uniq('staff');
  await page.fill('#c-slug', slug);
  await page.fill('#c-title', '職員が作ったイベント');
  await page.fill('#c-venue', '保健センター');
  await page.click('#create-form button[type=submit]');
  await page.locator('#create-result', { hasText: `イベント「${slug}」を作りました` }).waitFor();
  await page.locator('#panel-title', { hasText: '職員が作ったイベント' }).waitFor();
  eq(new URL(page.url()).pathname, `/admin/events/${slug}`, 'event in the address');
  await page.locator(`#events button[data-slug="${slug}"]`).waitFor();
  // The same slug again is refused next to the field.
  await page.fill('#c-slug', slug);
  await page.fill('#c-title', 'again');
  await page.click('#create-form button[type=submit]');
  await page.locator('#c-slug-error', { hasText: 'すでに使われています' }).waitFor();

  const from = jstDate(20);
  const to = jstDate(26);
  await page.fill('#g-from', from);
  await page.fill('#g-to', to);
  await page.fill('#g-times', '09:00, 09:30');
  await page.fill('#g-capacity', '4');
  await page.click('#slots-form button[type=submit]');
  await page.locator('#slots-result', { hasText: '件の枠を追加しました' }).waitFor();
  const created = Number((await page.textContent('#slots-result')).match(/(\d+)件/)[1]);
  eq(created, 10, 'weekdays of one week, two times');
  const slots = await waitFor(async () => {
    const r = await api('GET', `/v1/events/${slug}/slots`);
    return r.status === 200 && r.json.slots.length === created ? r.json.slots : null;
  }, 'generated slots listed');
  assert(slots.every((s) => s.capacity === 4), 'capacity');
  const r = await api('POST', `/v1/events/${slug}/reservations`,
    { body: { slot_id: slots[0].id, email: mail('staff'), fields: { name: '窓口 太郎', voucher: '0123456789' } } });
  eq(r.status, 201, `booking ${r.text}`);
  await page.click(`#events button[data-slug="${slug}"]`);
  await page.locator(`#bookings tr[data-id="${r.json.booking.id}"]`).waitFor();
  assert((await page.textContent('#bookings')).includes('窓口 太郎'), 'fields listed with labels');
  await checkA11y(page);
  await shot(page, 'admin-desktop');
  // Signing out forgets the token.
  await page.click('#logout');
  await page.locator('#login').waitFor();
  eq(await page.evaluate(() => sessionStorage.getItem('yoyaku.admin')), null, 'token forgotten');
});

// ---------------------------------------------------------------------------------------------
// runner

const filters = process.argv.slice(2);
const chosen = filters.length ? tests.filter((x) => filters.some((f) => x.name.includes(f))) : tests;
let passed = 0;
let failed = 0;
const t00 = Date.now();
for (const { name, fn } of chosen) {
  const t = { problems: [], contexts: [], keepContext: false, note: '' };
  const t0 = Date.now();
  let err = null;
  try {
    await Promise.race([fn(t), sleep(60000).then(() => { throw new Error('test took over 60 s'); })]);
    if (t.problems.length) err = new Error(t.problems.join('\n'));
  } catch (e) {
    err = e;
    if (t.problems.length) err.message += `\n${t.problems.join('\n')}`;
    for (const ctx of t.contexts) {
      for (const p of ctx.pages()) {
        const file = `FAILED-${name.replace(/[^a-z0-9]+/gi, '-').slice(0, 40)}-${ctx.pages().indexOf(p)}`;
        await p.screenshot({ path: path.join(OUT, `${file}.png`), fullPage: true }).catch(() => {});
      }
    }
  }
  if (!t.keepContext) for (const ctx of t.contexts) await ctx.close().catch(() => {});
  const ms = Date.now() - t0;
  if (err) {
    failed++;
    console.log(`FAIL ${name} (${ms} ms)\n  ${String(err.stack || err).split('\n').join('\n  ')}`);
  } else {
    passed++;
    console.log(`ok   ${name} (${ms} ms)${t.note ? ` — ${t.note}` : ''}`);
  }
}
await browser.close();
console.log(`browser tests: ${Date.now() - t00} ms; screenshots in ${OUT}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
