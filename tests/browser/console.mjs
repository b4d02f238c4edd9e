// Browser tests of the staff console (/admin/). Staff accounts come from stack.py (cfg.staff, one
// per role, made with `yoyakuctl staff add`); where the server has no staff sign-in yet the owner's
// views are reached with the API-token fallback and the role tests are skipped with the reason.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import {
  BASE, DESKTOP, MOBILE, api, assert, cfg, checkA11y, eq, jstDate, mail, makeEvent, newPage, shot, test,
  uniq, waitFor,
} from './harness.mjs';

const require = createRequire(import.meta.url);
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const staff = cfg.staff || {};

// Does the server have this POST route? (a GET on it answers 405 then, 404 when it is unknown)
async function hasRoute(method, path) {
  const r = await api('GET', path, { admin: true });
  return r.status === 405;
}

let loginReady = null;
async function canLogin(role) {
  if (loginReady === null) loginReady = (await api('POST', '/v1/admin/login', { body: { login: 'nobody', password: 'x' } })).status !== 404;
  return loginReady && !!staff[role];
}

// Clicks a download link and returns the saved file as text, its UTF-8 BOM checked and removed.
async function downloadCsv(page, selector, name) {
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 20000 }), page.click(selector)]);
  eq(dl.suggestedFilename(), name, 'file name');
  const b = fs.readFileSync(await dl.path());
  eq([...b.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'BOM');
  return b.subarray(3).toString('utf-8');
}

test('console: CSV download when signed in with the API token (no cookie goes with the link)', async (t) => {
  const { slug, slots } = await makeEvent({ capacities: [2] });
  const email = mail('tokcsv');
  eq((await api('POST', `/v1/events/${slug}/reservations`, { body: { slot_id: slots[0].id, email, fields: { name: 'トークン' } } })).status, 201, 'booking');
  const page = await newPage(t, DESKTOP);
  await page.goto(`${BASE}/admin/`);
  await page.click('.token-login summary');
  await page.fill('#token', cfg.adminToken);
  await page.click('#token-form button[type=submit]');
  await page.locator('#nav-events').waitFor();
  await go(page, `#/events/${slug}/bookings`, '#csv-en-utf-8');
  const text = await downloadCsv(page, '#csv-en-utf-8', `${slug}-en.csv`);
  assert(text.includes(email), `booking in the csv: ${text.slice(0, 200)}`);
});

function skip(t, why) {
  t.note = `SKIPPED: ${why}`;
}

// Signs in as `role`: with its staff account when the server has them, else (owner only) with
// the API token. → 'login' | 'token' | null (cannot).
async function signIn(page, role) {
  await page.goto(`${BASE}/admin/`);
  await page.locator('#login').waitFor();
  if (await canLogin(role)) {
    await page.fill('#login-name', staff[role].login);
    await page.fill('#login-password', staff[role].password);
    await page.click('#login-form button[type=submit]');
    await page.locator(`#who .role-${role}`).waitFor();
    return 'login';
  }
  if (role !== 'owner') return null;
  await page.click('.token-login summary');
  await page.fill('#token', cfg.adminToken);
  await page.click('#token-form button[type=submit]');
  await page.locator('#nav-events').waitFor();
  return 'token';
}

async function go(page, hash, ready) {
  await page.evaluate((h) => { location.hash = h; }, hash);
  await page.locator(ready).first().waitFor();
}

async function axe(page, what) {
  if (!(await page.evaluate(() => !!window.axe))) await page.evaluate(AXE);
  const res = await page.evaluate(async () => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert(!bad.length, `axe on ${what}:\n${bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`).join('\n')}`);
}

// Today's JST date and a slot later today (an hour from now, at most 23:00), for the desk.
function laterToday() {
  const now = new Date(Date.now() + 9 * 3600e3);
  const hour = Math.min(23, now.getUTCHours() + 1);
  const d = now.toISOString().slice(0, 10);
  const hh = String(hour).padStart(2, '0');
  return { starts_at: `${d}T${hh}:00:00+09:00`, ends_at: `${d}T${hh}:30:00+09:00`, capacity: 5 };
}

async function eventWithSlot(slot, fields) {
  const slug = uniq('c');
  let r = await api('POST', '/v1/admin/events', { admin: true, body: { slug, title: `窓口 ${slug}`, fields } });
  eq(r.status, 201, `event ${r.text}`);
  r = await api('POST', `/v1/admin/events/${slug}/slots`, { admin: true, body: { slots: [slot] } });
  eq(r.status, 201, `slot ${r.text}`);
  const slots = await waitFor(async () => {
    const s = await api('GET', `/v1/events/${slug}/slots`);
    return s.status === 200 && s.json.slots.length ? s.json.slots : null;
  }, 'slot listed');
  return { slug, slot: slots[0] };
}

test('console: sign-in refusals, role shown, sign out', async (t) => {
  const page = await newPage(t, DESKTOP);
  await page.goto(`${BASE}/admin/`);
  await page.locator('#login').waitFor();
  await checkA11y(page);
  // Empty form: said next to the controls.
  await page.click('#login-form button[type=submit]');
  await page.locator('#login-name-error', { hasText: '入力してください' }).waitFor();
  // The API-token fallback refuses a wrong token in plain words.
  await page.click('.token-login summary');
  await page.fill('#token', 'not-a-valid-admin-token-at-all');
  await page.click('#token-form button[type=submit]');
  await page.locator('#token-error', { hasText: 'トークンが正しくありません' }).waitFor();
  if (!(await canLogin('owner'))) return skip(t, 'POST /v1/admin/login answers 404 (staff branch not merged) or no staff accounts');
  await page.fill('#login-name', staff.owner.login);
  await page.fill('#login-password', 'wrong-password');
  await page.click('#login-form button[type=submit]');
  await page.locator('#login-password-error', { hasText: '違います' }).waitFor();
  await page.fill('#login-password', staff.owner.password);
  await page.click('#login-form button[type=submit]');
  await page.locator('#who .role-owner', { hasText: '管理者' }).waitFor();
  const cookies = await page.context().cookies();
  const c = cookies.find((x) => x.name === 'yoyaku_session');
  assert(c && c.httpOnly, 'HttpOnly session cookie');
  eq(await page.evaluate(() => document.cookie.includes('yoyaku_session')), false, 'cookie hidden from scripts');
  for (const v of ['events', 'new', 'desk', 'rush', 'staff', 'audit']) await page.locator(`#nav-${v}`).waitFor();
  // English on the switch; the role follows.
  await page.click('#lang-toggle');
  await page.locator('#who .role-owner', { hasText: 'owner' }).waitFor();
  await page.click('#lang-toggle');
  await page.click('#logout');
  await page.locator('#login').waitFor();
  const me = await page.evaluate(async () => (await fetch('/v1/admin/me')).status);
  eq(me, 401, 'signed out: /me refuses');
});

test('console: field builder (two fields, prerequisite), slot preview, publish', async (t) => {
  const page = await newPage(t, DESKTOP);
  assert(await signIn(page, 'owner'), 'owner signs in');
  const first = await makeEvent({ days: 1 });
  const slug = uniq('fb');
  await go(page, '#/new', '#editor-form');
  await page.fill('#e-slug', slug);
  await page.fill('#e-title', '2回目接種');
  await page.fill('#e-venue', '保健センター');
  // Field 1: name (required); field 2: voucher (identity, pattern) — added, named, reordered.
  await page.click('#fb-add');
  await page.click('#fb-add');
  const cards = page.locator('#fb-list > li');
  eq(await cards.count(), 2, 'two field cards');
  const uidOf = async (i) => cards.nth(i).getAttribute('data-uid');
  let a = await uidOf(0);
  let b = await uidOf(1);
  await page.fill(`#${a}-name`, 'voucher');
  await page.fill(`#${a}-label-ja`, '接種券番号');
  await page.fill(`#${a}-label-en`, 'Voucher number');
  await page.check(`#${a}-identity`);
  await page.check(`#${a}-required`);
  await page.fill(`#${a}-pattern`, '^[0-9]{10}$');
  await page.fill(`#${b}-name`, 'name');
  await page.fill(`#${b}-label-ja`, '氏名');
  await page.fill(`#${b}-label-en`, 'Name');
  await page.check(`#${b}-required`);
  await page.fill(`#${b}-max`, '50');
  // Keyboard: move the second card (name) up with Enter on its button.
  await page.focus(`#${b}-up`);
  await page.keyboard.press('Enter');
  eq(await uidOf(0), b, 'name moved up');
  // It is first now, so its "up" is disabled: focus moves to its "down", never lost.
  eq(await page.evaluate(() => document.activeElement.id), `${b}-down`, 'focus stays on the moved card');
  await page.keyboard.press('Enter');
  eq(await uidOf(1), b, 'moved down again by keyboard');
  await page.focus(`#${b}-up`);
  await page.keyboard.press('Enter');
  eq(await uidOf(0), b, 'and up');
  // A third field: a checkbox has no length or format; a bad maximum length is refused by the
  // server and said next to that field's control.
  await page.click('#fb-add');
  const c = await uidOf(2);
  await page.fill(`#${c}-name`, 'extra');
  await page.selectOption(`#${c}-type`, 'checkbox');
  assert(!(await page.isVisible(`#${c}-max`)), 'no max_length for a checkbox');
  await page.selectOption(`#${c}-type`, 'text');
  await page.fill(`#${c}-max`, '0');
  // Identity is at most one: checking it on name unchecks voucher.
  await page.check(`#${b}-identity`);
  eq(await page.isChecked(`#${a}-identity`), false, 'one identity');
  await page.check(`#${a}-identity`);
  eq(await page.isChecked(`#${b}-identity`), false, 'one identity again');
  // Prerequisite picked from a select; booking window; not published yet.
  await page.selectOption('#e-pre-event', first.slug);
  await page.fill('#e-pre-days', '21');
  await page.check('#e-pre-attended');
  await page.fill('#e-opens', `${jstDate(-1)}T09:00`);
  await page.fill('#e-closes', `${jstDate(60)}T17:00`);
  await page.uncheck('#e-published');
  // A server 422 shown next to the control it names: a bad time for the reminder.
  await page.fill('#e-rem-at', '');
  await page.evaluate(() => { document.getElementById('e-rem-at').type = 'text'; document.getElementById('e-rem-at').value = '25:99'; });
  await page.click('#editor-submit');
  await page.locator('#e-rem-at-error').filter({ hasText: /./ }).waitFor();
  eq(await page.getAttribute('#e-rem-at', 'aria-invalid'), 'true', 'reminder time marked');
  await page.locator(`#${c}-max-error`).filter({ hasText: /./ }).waitFor();
  eq(await page.getAttribute(`#${c}-max`, 'aria-invalid'), 'true', 'field 3 max_length marked');
  await page.click(`#${c}-remove`);
  eq(await cards.count(), 2, 'removed');
  await page.evaluate(() => { const el = document.getElementById('e-rem-at'); el.value = '09:30'; el.type = 'time'; });
  await page.fill('#e-rem-at', '09:30');
  await page.click('#editor-submit');
  // Created: on to the slot generator.
  await page.locator('#slots-form').waitFor();
  await page.locator('#slots-status', { hasText: slug }).waitFor();
  let r = await api('GET', `/v1/admin/events/${slug}`, { admin: true });
  eq(r.status, 200, 'created');
  const ev = r.json.event || r.json;
  eq(ev.fields.map((f) => f.name), ['name', 'voucher'], 'fields in order');
  eq(ev.fields[1].identity, true, 'identity');
  eq([ev.fields[1].label.ja, ev.fields[1].label.en], ['接種券番号', 'Voucher number'], 'labels');
  eq(ev.fields[0].max_length, 50, 'max_length');
  eq(ev.prerequisite, { event: first.slug, min_days: 21, require_attended: true }, 'prerequisite');
  eq(ev.published, false, 'unpublished');
  eq(ev.opens_at.slice(0, 16), `${jstDate(-1)}T09:00`, 'opens_at local');
  assert(ev.opens_at.endsWith('+09:00'), `opens_at in the event's zone: ${ev.opens_at}`);
  eq(ev.reminder.at, '09:30', 'reminder');

  // Slots: the preview lists what will be made, then they are made.
  await page.fill('#g-from', jstDate(20));
  await page.fill('#g-to', jstDate(26));
  await page.fill('#g-times', '09:00, 9:30');
  await page.fill('#g-capacity', '4');
  await page.locator('#preview-count', { hasText: '10件の枠を作ります' }).waitFor();
  eq(await page.locator('#preview-list li').count(), 10, 'preview items');
  assert((await page.textContent('#preview-list')).includes('09:30–10:00'), 'preview shows times');
  await page.click('#slots-submit');
  await page.locator('#slots-result', { hasText: '10件の枠を追加しました' }).waitFor();

  // The list says it is not published yet.
  await go(page, '#/events', `#events tr[data-slug="${slug}"]`);
  await page.locator(`#events tr[data-slug="${slug}"] .ad-badge`, { hasText: '非公開' }).waitFor();
  // Publish through the editor; the public page then answers.
  eq((await api('GET', `/v1/events/${slug}`)).status, 404, 'unpublished: not public');
  await go(page, `#/events/${slug}`, '#editor-form');
  eq(await page.inputValue('#e-pre-days'), '21', 'loaded back');
  await page.check('#e-published');
  await page.click('#editor-submit');
  await page.locator('#editor-result', { hasText: '保存しました' }).waitFor();
  r = await waitFor(async () => {
    const x = await api('GET', `/v1/events/${slug}`);
    return x.status === 200 ? x : null;
  }, 'published event public');
  eq(r.json.fields.length, 2, 'public fields');
  // The events list shows its badges.
  await go(page, '#/events', `#events tr[data-slug="${slug}"]`);
  await page.locator(`#events tr[data-slug="${slug}"] .ad-badge`, { hasText: '受付中' }).waitFor();
  await checkA11y(page);
});

test('console: bookings, search, CSV (UTF-8 BOM), phone booking, cancel on behalf', async (t) => {
  const page = await newPage(t, DESKTOP);
  const how = await signIn(page, (await canLogin('staff')) ? 'staff' : 'owner');
  assert(how, 'signed in');
  const { slug, slots } = await makeEvent({ capacities: [3, 3] });
  const email = mail('csv');
  const r = await api('POST', `/v1/events/${slug}/reservations`, { body: { slot_id: slots[0].id, email, fields: { name: '=窓口 太郎' } } });
  eq(r.status, 201, `booking ${r.text}`);
  const id = r.json.booking.id;
  await go(page, `#/events/${slug}/bookings`, `#bookings tr[data-id="${id}"]`);
  assert((await page.textContent('#bookings')).includes('=窓口 太郎'), 'fields listed');
  // Search by number, then by e-mail.
  await page.fill('#b-search', `${id}`);
  await page.click('#b-search-form button[type=submit]');
  await page.locator('#bookings-status', { hasText: '1件見つかりました' }).waitFor();
  await page.fill('#b-search', '999999999');
  await page.click('#b-search-form button[type=submit]');
  await page.locator('#bookings-status', { hasText: '見つかりません' }).waitFor();
  await page.fill('#b-search', email.slice(0, 12));
  await page.click('#b-search-form button[type=submit]');
  await page.locator(`#bookings tr[data-id="${id}"]`).waitFor();
  // The CSV link clicked, signed in with the cookie (or the token): UTF-8 with BOM, the booking, the
  // formula guard.
  const text = await downloadCsv(page, '#csv-ja-utf-8', `${slug}-ja.csv`);
  assert(text.includes(id) && text.includes(email), 'booking in the csv');
  assert(text.includes("'=窓口 太郎"), 'formula cell guarded');
  assert(text.split('\r\n')[0].includes('氏名'), 'Japanese header labels');
  // Phone booking through the public route.
  await go(page, `#/events/${slug}/phone`, '#phone-form');
  await page.selectOption('#p-slot', slots[1].id);
  await page.fill('#p-email', mail('phone'));
  await page.click('#phone-submit');
  await page.locator('#p-name-error', { hasText: '入力してください' }).waitFor();
  await page.fill('#p-name', '電話 花子');
  await page.click('#phone-submit');
  await page.locator('#phone-done').waitFor();
  const phoned = (await page.textContent('#phone-done')).match(/\d+/)[0];
  await waitFor(async () => (await api('GET', `/v1/admin/bookings/${phoned}`, { admin: true })).status === 200, 'phone booking stored');
  // Cancel on the resident's behalf (the desk branch's route).
  if (!(await hasRoute('POST', '/v1/admin/bookings/0/cancel'))) {
    t.note = 'cancel on behalf SKIPPED: POST /v1/admin/bookings/{id}/cancel answers 404 (desk branch not merged)';
    return;
  }
  await go(page, `#/events/${slug}/bookings`, `#bookings tr[data-id="${id}"]`);
  await page.click(`button[data-cancel="${id}"]`);
  await page.click(`button[data-confirm="${id}"]`);
  await page.locator(`#bookings tr[data-id="${id}"] .status.cancelled`).waitFor();
});

test('console: the desk checks a booking in by number', async (t) => {
  const asDesk = await canLogin('desk');
  const { slug, slot } = await eventWithSlot(laterToday(), [{ name: 'name', label: { ja: '氏名', en: 'Name' }, type: 'text', required: true }]);
  const r = await api('POST', `/v1/events/${slug}/reservations`, { body: { slot_id: slot.id, email: mail('desk'), fields: { name: '受付 次郎' } } });
  eq(r.status, 201, `booking ${r.text}`);
  const id = r.json.booking.id;
  const page = await newPage(t, MOBILE);
  assert(await signIn(page, asDesk ? 'desk' : 'owner'), 'signed in');
  // The desk sees only events (reading) and the desk.
  if (asDesk) eq(await page.locator('#nav-list a').count(), 2, 'desk menu: events and desk');
  await go(page, '#/desk', '#desk-form');
  await page.click('#desk-form button[type=submit]');
  await page.locator('#desk-code-error', { hasText: '入力してください' }).waitFor();
  await page.fill('#desk-code', '999999999');
  await page.keyboard.press('Enter');
  await page.locator('#desk-result', { hasText: '見つかりません' }).waitFor();
  await page.fill('#desk-code', String(id).replace(/\d/g, (d) => String.fromCharCode(0xff10 + Number(d)))); // full-width digits
  await page.keyboard.press('Enter');
  await page.locator('#desk-booking', { hasText: '受付 次郎' }).waitFor();
  await page.locator('#desk-status .status.confirmed').waitFor();
  const notes = [];
  if (!asDesk) notes.push('desk account SKIPPED (no staff sign-in yet: POST /v1/admin/login 404; looked up as the owner)');
  if (await hasRoute('POST', '/v1/admin/checkin')) {
    await page.click('#desk-attended');
    await page.locator('#desk-result', { hasText: '来場済みにしました' }).waitFor();
    await page.locator('#desk-status .status.attended').waitFor();
    eq((await api('GET', `/v1/admin/bookings/${id}`, { admin: true })).json.booking.status, 'attended', 'stored');
    // A mistake corrected: no-show releases the seat; once the slot's 5 seats are all taken, marking
    // the booking attended again is refused and the desk says why.
    await page.click('#desk-noshow');
    await page.locator('#desk-result', { hasText: '未来場にしました' }).waitFor();
    await page.locator('#desk-status .status.no_show').waitFor();
    for (let i = 0; i < 5; i++) {
      const b = await api('POST', `/v1/events/${slug}/reservations`, { body: { slot_id: slot.id, email: mail('deskfill'), fields: { name: '満席 三郎' } } });
      eq(b.status, 201, `seat ${i + 1} of 5 after the no-show: ${b.text}`);
    }
    await page.click('#desk-attended');
    await page.locator('#desk-result', { hasText: '席は他の方に渡り' }).waitFor();
    eq((await api('GET', `/v1/admin/bookings/${id}`, { admin: true })).json.booking.status, 'no_show', 'still a no-show');
  } else notes.push('check-in SKIPPED: POST /v1/admin/checkin answers 404 (desk branch not merged)');
  if (asDesk) {
    // Not allowed for the desk: the console says so, and the API refuses.
    await go(page, `#/events/${slug}/bookings`, '#forbidden');
    const code = await page.evaluate(async () => (await fetch('/v1/admin/events', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"slug":"x-desk","title":"x"}',
    })).status);
    eq(code, 403, 'desk cannot create events');
  }
  t.note = notes.join('; ');
});

test('console: a staff-role account is refused the staff accounts page', async (t) => {
  if (!(await canLogin('staff'))) return skip(t, 'no staff sign-in yet (POST /v1/admin/login 404)');
  const page = await newPage(t, DESKTOP);
  await signIn(page, 'staff');
  await page.locator('#nav-events').waitFor();
  eq(await page.locator('#nav-staff').count(), 0, 'menu hides staff accounts');
  eq(await page.locator('#nav-audit').count(), 0, 'menu hides the audit log');
  await go(page, '#/staff', '#forbidden');
  const codes = await page.evaluate(async () => [(await fetch('/v1/admin/staff')).status, (await fetch('/v1/admin/audit')).status]);
  eq(codes, [403, 403], 'API refuses staff and audit');
});

test('console: the owner manages staff accounts and reads the audit log', async (t) => {
  if (!(await canLogin('owner'))) return skip(t, 'no staff sign-in yet (POST /v1/admin/login 404)');
  const page = await newPage(t, DESKTOP);
  await signIn(page, 'owner');
  await go(page, '#/staff', '#staff-form');
  const login = uniq('desk').replace(/-/g, '_');
  await page.fill('#s-login', login);
  await page.fill('#s-name', '臨時 受付');
  await page.selectOption('#s-role', 'desk');
  await page.click('#s-generate');
  await page.click('#staff-form button[type=submit]');
  await page.locator('#staff-result', { hasText: '追加しました' }).waitFor();
  await page.locator(`#staff-rows tr[data-login="${login}"]`).waitFor();
  await page.selectOption(`#staff-rows tr[data-login="${login}"] select`, 'staff');
  await page.locator('#staff-status', { hasText: '更新しました' }).waitFor();
  await page.fill('#s-login', login);
  await page.fill('#s-name', 'again');
  await page.fill('#s-password', 'another-password-1');
  await page.click('#staff-form button[type=submit]');
  await page.locator('#s-login-error', { hasText: 'すでに使われています' }).waitFor();
  await go(page, '#/audit', '#audit-rows tr');
});

test('console: the rush chart renders and seats left are listed', async (t) => {
  const page = await newPage(t, DESKTOP);
  assert(await signIn(page, (await canLogin('staff')) ? 'staff' : 'owner'), 'signed in');
  const { slug } = await makeEvent({ capacities: [2, 3] });
  // Queue something through the ingress that never waits, so the chart has a reason to move.
  await api('POST', `/v1/events/${slug}/reservations`, { base: cfg.queueBase,
    body: { slot_id: (await api('GET', `/v1/events/${slug}/slots`)).json.slots[0].id, email: mail('rush'), fields: { name: 'r' } } });
  await go(page, '#/rush', '#rush-chart');
  await page.locator('#rush-chart polyline.s0').waitFor({ state: 'attached' });
  await waitFor(async () => (await page.locator('#rush-chart polyline.s0').getAttribute('points')).split(' ').length >= 2, 'two samples', 8000);
  await page.locator(`#seats tr[data-slug="${slug}"]`).waitFor();
  const left = Number(await page.textContent(`#seats tr[data-slug="${slug}"] td:nth-child(2)`));
  assert(left >= 4 && left <= 5, `seats left ${left}`);
});

// Each console view: axe-core (no serious or critical violation) at 1280 and 390 px wide, no
// sideways scrolling at 390, screenshots of both (OUT).
async function viewsChecked(t, part) {
  const page = await newPage(t, DESKTOP);
  const how = await signIn(page, 'owner');
  assert(how, 'signed in');
  const { slug, slots } = await makeEvent({ capacities: [2] });
  const b = await api('POST', `/v1/events/${slug}/reservations`, { body: { slot_id: slots[0].id, email: mail('axe'), fields: { name: '見本 太郎' } } });
  eq(b.status, 201, 'a booking to list');
  const groups = [
    [['events', '#/events', '#events tr'], ['new', '#/new', '#editor-form']],
    [['edit', `#/events/${slug}`, '#editor-form'], ['slots', `#/events/${slug}/slots`, '#preview-list li']],
    [['bookings', `#/events/${slug}/bookings`, '#bookings tr'], ['phone', `#/events/${slug}/phone`, '#phone-form'], ['desk', '#/desk', '#desk-form']],
    [['rush', '#/rush', '#rush-chart']],
  ];
  const views = groups[part - 1];
  if (part === 4 && how === 'login') views.push(['staff', '#/staff', '#staff-form'], ['audit', '#/audit', '#audit-rows']);
  for (const [name, hash, ready] of views) {
    await page.setViewportSize({ width: 1280, height: 800 });
    await go(page, hash, ready);
    if (name === 'new') await page.click('#fb-add');
    await checkA11y(page);
    await axe(page, name);
    await shot(page, `console-${name}-1280`);
    await page.setViewportSize({ width: 390, height: 844 });
    await axe(page, `${name} at 390`);
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    assert(wide <= 390, `${name}: no sideways scrolling at 390 px (${wide})`);
    await shot(page, `console-${name}-390`);
    await page.setViewportSize({ width: 360, height: 740 });
    const narrow = await page.evaluate(() => document.documentElement.scrollWidth);
    assert(narrow <= 360, `${name}: no sideways scrolling at 360 px (${narrow})`);
  }
  if (part === 4) {
    await page.click('#logout');
    await page.locator('#login').waitFor();
    await axe(page, 'sign-in');
    await shot(page, 'console-signin-390');
    if (how !== 'login') t.note = 'staff and audit views SKIPPED: no staff sign-in yet';
  }
}

test('console: views pass axe at 360/390/1280 wide (events, new event)', (t) => viewsChecked(t, 1));
test('console: views pass axe at 360/390/1280 wide (edit, slots)', (t) => viewsChecked(t, 2));
test('console: views pass axe at 360/390/1280 wide (bookings, phone, desk)', (t) => viewsChecked(t, 3));
test('console: views pass axe at 360/390/1280 wide (rush, staff, audit, sign-in)', (t) => viewsChecked(t, 4));

test('console: English from the browser language, and the switch back to Japanese', async (t) => {
  const page = await newPage(t, { ...DESKTOP, locale: 'en-US' });
  await page.goto(`${BASE}/admin/`);
  await page.locator('#login-title', { hasText: 'Staff sign-in' }).waitFor();
  eq(await page.getAttribute('html', 'lang'), 'en', 'lang attribute');
  await page.click('.token-login summary');
  await page.fill('#token', cfg.adminToken);
  await page.click('#token-form button[type=submit]');
  await page.locator('#nav-events', { hasText: 'Events' }).waitFor();
  await page.locator('#events tr').first().waitFor();
  eq(await page.getAttribute('#events tr td:nth-child(2)', 'data-label'), 'Slug', 'card labels in English');
  await page.click('#lang-toggle');
  await page.locator('#nav-events', { hasText: 'イベント' }).waitFor();
  eq(await page.getAttribute('#events tr td:nth-child(2)', 'data-label'), 'スラッグ', 'card labels follow the switch');
  eq(await page.getAttribute('html', 'lang'), 'ja', 'lang attribute switched');
});

test('console: the events list badges open, closed, secret, sold out and unpublished', async (t) => {
  const later = `${jstDate(30)}T09:00:00+09:00`;
  const closed = await makeEvent({ extra: { opens_at: later } });
  const secret = await makeEvent({ extra: { password: 'himitsu-123' } });
  const full = await makeEvent({ capacities: [1] });
  const r = await api('POST', `/v1/events/${full.slug}/reservations`, { body: { slot_id: full.slots[0].id, email: mail('full'), fields: { name: '満席' } } });
  eq(r.status, 201, `booking ${r.text}`);
  const hidden = await makeEvent();
  eq((await api('PATCH', `/v1/admin/events/${hidden.slug}`, { admin: true, body: { published: false } })).status, 200, 'unpublish');
  const page = await newPage(t, MOBILE);
  assert(await signIn(page, 'owner'), 'signed in');
  await page.locator('#events tr').first().waitFor();
  const badges = async (slug, want) => {
    const row = page.locator(`#events tr[data-slug="${slug}"]`);
    for (const w of want) await row.locator('.ad-badge', { hasText: w }).waitFor();
  };
  await badges(closed.slug, ['受付期間外']);
  await badges(secret.slug, ['受付中', 'パスワード付き']);
  await badges(full.slug, ['受付中', '満席']);
  await badges(hidden.slug, ['非公開']);
  await shot(page, 'console-badges-390');
});

test('console: a roster upload shows its progress and rows, or lists its problems', async (t) => {
  const page = await newPage(t, DESKTOP);
  assert(await signIn(page, (await canLogin('staff')) ? 'staff' : 'owner'), 'signed in');
  const campaign = uniq('roster');
  await go(page, '#/roster', '#roster-form');
  await page.fill('#roster-campaign', campaign);
  await page.click('#roster-show');
  await page.locator('#roster-current', { hasText: 'まだありません' }).waitFor();
  const rows = Array.from({ length: 20000 }, (_, i) => `${10000000 + i},1961-01-05`).join('\r\n');
  await page.setInputFiles('#roster-file', { name: 'roster.csv', mimeType: 'text/csv', buffer: Buffer.from(`voucher,birth\r\n${rows}\r\n`) });
  await page.click('#roster-upload');
  await page.locator('#roster-status', { hasText: '20000 行の名簿' }).waitFor();
  await page.locator('#roster-current', { hasText: '20000 行' }).waitFor();
  eq((await api('GET', `/v1/admin/campaigns/${campaign}/roster`, { admin: true })).json.rows, 20000, 'stored');
  await page.setInputFiles('#roster-file', { name: 'bad.csv', mimeType: 'text/csv', buffer: Buffer.from('voucher,birth\r\n1\r\n') });
  await page.click('#roster-upload');
  await page.locator('#roster-errors li', { hasText: '2 行目：列の数' }).waitFor();
  eq((await api('GET', `/v1/admin/campaigns/${campaign}/roster`, { admin: true })).json.rows, 20000, 'nothing replaced');
  await checkA11y(page);
  await axe(page, 'roster');
  await shot(page, 'console-roster-1280');
});
