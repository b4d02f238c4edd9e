// Browser tests of the staff console (/admin/).
import {
  BASE, DESKTOP, api, assert, cfg, checkA11y, eq, jstDate, mail, newPage, shot, test, uniq,
  waitFor,
} from './harness.mjs';

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
