// Browser tests of the waitlist (contract §5): the booking page offers a full slot's line when the
// event's waitlist is enabled, and /waitlist/{id}?token=… shows the place and accepts the held seat.
import {
  BASE, SIMPLE_FIELDS, api, assert, axeCheck, cfg, checkA11y, chooseSlot, eq, mail, makeEvent, newPage, shot,
  test, waitFor,
} from './harness.mjs';

test('waitlist: a full slot offers the line; the entry page accepts the held seat', async (t) => {
  const ev = await makeEvent({ capacities: [1], fields: SIMPLE_FIELDS, extra: { waitlist: { enabled: true, hold_minutes: 5 } } });
  const first = await api('POST', `/v1/events/${ev.slug}/reservations`,
    { body: { slot_id: ev.slots[0].id, email: mail('holder'), fields: { name: '先着 花子' } } });
  eq(first.status, 201, `first booking ${first.text}`);
  const page = await newPage(t);
  await page.goto(`${BASE}/events/${ev.slug}`);
  const label = page.locator(`label.slot[data-slot-id="${ev.slots[0].id}"]`);
  await label.locator('text=キャンセル待ち可').waitFor();
  await chooseSlot(page, ev.slots[0]);
  eq((await page.textContent('#submit')).trim(), 'キャンセル待ちに登録する', 'the button joins the line');
  await page.fill('#fld-name', '待機 太郎');
  await page.fill('#booker-email', mail('waiter'));
  await page.click('#submit');
  await page.locator('#waitlist-link').waitFor();
  assert((await page.textContent('#wl-position')).includes('1'), 'first in line');
  await checkA11y(page);
  await axeCheck(page, { what: 'joined' });
  const href = await page.getAttribute('#waitlist-link', 'href');
  assert(/^\/waitlist\/\d+\?token=[^&]+$/.test(href), `entry link ${href}`);

  await page.goto(BASE + href);
  await page.locator('#entry-status', { hasText: '順番待ち' }).waitFor();
  assert(!page.url().includes('token='), 'token off the URL');
  eq((await page.textContent('#event-title')).trim(), ev.def.title, 'the event\'s title');
  await page.locator('#entry-when').waitFor();
  eq(await page.isVisible('#accept'), false, 'nothing to accept while waiting');
  // The booker of the seat cancels: the seat is held for this entry.
  const c = await api('POST', `/v1/bookings/${first.json.booking.id}/cancel`,
    { headers: { 'X-Booking-Token': first.json.token } });
  eq(c.status, 200, `cancel ${c.text}`);
  await waitFor(async () => {
    await page.reload();
    await page.locator('#entry-status').waitFor();
    return (await page.textContent('#entry-status')).includes('お取り置き中');
  }, 'offered');
  await page.locator('#entry-expires').waitFor();
  await axeCheck(page, { what: 'offered' });
  await shot(page, 'waitlist-offered-mobile', false);
  await page.click('#accept');
  await page.locator('#booking-link').waitFor();
  await page.locator('#entry-status', { hasText: '予約済み' }).waitFor();
  await page.click('#booking-link');
  await page.locator('#booking-status').waitFor();
  eq((await page.textContent('#booking-status')).trim(), '予約済み', 'the booking page shows the booking');
});

test('waitlist: leave, a wrong token, English', async (t) => {
  const ev = await makeEvent({ capacities: [1], fields: SIMPLE_FIELDS, extra: { waitlist: { enabled: true } } });
  const b = await api('POST', `/v1/events/${ev.slug}/reservations`,
    { body: { slot_id: ev.slots[0].id, email: mail('holder'), fields: { name: '先着' } } });
  eq(b.status, 201, b.text);
  const j = await api('POST', `/v1/events/${ev.slug}/slots/${ev.slots[0].id}/waitlist`,
    { body: { email: mail('w'), fields: { name: '待機' } } });
  eq(j.status, 201, j.text);
  const page = await newPage(t);
  await page.goto(`${BASE}/waitlist/${j.json.entry.id}?token=${'A'.repeat(43)}`);
  await page.locator('#status', { hasText: '見つかりません' }).waitFor();
  await page.goto(`${BASE}/waitlist/${j.json.entry.id}?token=${j.json.token}`);
  await page.locator('#entry-position').waitFor();
  await page.click('#lang-toggle');
  await page.locator('#entry-status', { hasText: 'Waiting' }).waitFor();
  await page.click('#leave');
  await page.locator('#entry-status', { hasText: 'Left' }).waitFor();
  eq(await page.isVisible('#leave'), false, 'nothing left to do');
});

test('console: the waitlist view lists an event\'s entries', async (t) => {
  const ev = await makeEvent({ capacities: [1], fields: SIMPLE_FIELDS, extra: { waitlist: { enabled: true } } });
  const b = await api('POST', `/v1/events/${ev.slug}/reservations`,
    { body: { slot_id: ev.slots[0].id, email: mail('holder'), fields: { name: '先着' } } });
  eq(b.status, 201, b.text);
  const who = mail('console-wl');
  const j = await api('POST', `/v1/events/${ev.slug}/slots/${ev.slots[0].id}/waitlist`,
    { body: { email: who, fields: { name: '待機 三郎' } } });
  eq(j.status, 201, j.text);
  const page = await newPage(t);
  await page.goto(`${BASE}/admin/`);
  await page.locator('#login').waitFor();
  await page.click('.token-login summary');
  await page.fill('#token', cfg.adminToken);
  await page.click('#token-form button[type=submit]');
  await page.locator('#nav-events').waitFor();
  await page.evaluate((h) => { location.hash = h; }, `#/events/${ev.slug}/waitlist`);
  const row = page.locator(`#waitlist tr[data-entry-id="${j.json.entry.id}"]`);
  await row.waitFor();
  const text = await row.textContent();
  for (const part of [who, '順番待ち', '待機 三郎']) assert(text.includes(part), `row shows ${part}: ${text}`);
  await page.locator('a[aria-current=page]', { hasText: 'キャンセル待ち' }).waitFor();
  await axeCheck(page, { what: 'console waitlist' });
  await shot(page, 'console-waitlist-mobile', false);
});

test('waitlist: a seat freed meanwhile is booked instead (slot_available)', async (t) => {
  const ev = await makeEvent({ capacities: [1], fields: SIMPLE_FIELDS, extra: { waitlist: { enabled: true } } });
  const b = await api('POST', `/v1/events/${ev.slug}/reservations`,
    { body: { slot_id: ev.slots[0].id, email: mail('holder'), fields: { name: '先着' } } });
  eq(b.status, 201, b.text);
  const page = await newPage(t);
  await page.goto(`${BASE}/events/${ev.slug}`);
  await page.locator(`label.slot[data-slot-id="${ev.slots[0].id}"]`).locator('text=キャンセル待ち可').waitFor();
  await chooseSlot(page, ev.slots[0]);
  await page.fill('#fld-name', '待機 四郎');
  await page.fill('#booker-email', mail('late'));
  // Nobody waits, and the seat frees before the press: the line is refused, the seat shown free.
  const c = await api('POST', `/v1/bookings/${b.json.booking.id}/cancel`, { headers: { 'X-Booking-Token': b.json.token } });
  eq(c.status, 200, c.text);
  await waitFor(async () => {
    const s = await api('GET', `/v1/events/${ev.slug}/slots`);
    return s.json.slots[0].remaining === 1;
  }, 'the seat free in the API');
  await page.click('#submit');
  await page.locator('#result', { hasText: '空きがあります' }).waitFor();
  await page.locator(`label.slot[data-slot-id="${ev.slots[0].id}"]`).locator('text=残り1').waitFor();
  await chooseSlot(page, ev.slots[0]);
  eq((await page.textContent('#submit')).trim(), '予約する', 'the button books again');
  await page.click('#submit');
  await page.locator('#booking-number').waitFor();
});
