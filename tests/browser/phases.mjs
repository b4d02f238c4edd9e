// Browser tests of phased opening on the booking page (contract §2 "Phases", §5): the phases are
// listed, the booker is told when their own phase opens as they type, a booking outside it is
// refused with that time, one inside it books.
import {
  BASE, api, assert, axeCheck, bookingsOf, chooseSlot, eq, mail, makeEvent, newPage, shot, test,
} from './harness.mjs';
import * as i18n from '../../web/assets/i18n.js';
import '../../web/assets/phases.js';

const BIRTH = [
  { name: 'name', label: { ja: '氏名', en: 'Name' }, type: 'text', required: true, max_length: 50 },
  { name: 'birth', label: { ja: '生年月日', en: 'Date of birth' }, type: 'date' },
];

function jst(msFromNow) {
  const d = new Date(Date.now() + msFromNow + 9 * 3600e3);
  return `${d.toISOString().slice(0, 16)}:00+09:00`;
}

test('phases: listed, the booker told when their phase opens, refused then booked', async (t) => {
  const everyone = jst(7 * 86400e3);
  const elders = jst(-3600e3);
  const ev = await makeEvent({ fields: BIRTH, extra: { phases: [
    { opens_at: everyone },
    { opens_at: elders, field: 'birth', max: '1961-12-31' },
  ] } });
  const page = await newPage(t);
  await page.goto(`${BASE}/events/${ev.slug}`);
  await page.locator('#phases li').first().waitFor();
  eq(await page.locator('#phases li').count(), 2, 'two phases listed');
  const first = (await page.textContent('#phases li >> nth=0')).trim();
  eq(first, i18n.textIn('ja', 'phaseLine', { at: elders, field: 'birth', label: BIRTH[1].label, date: true,
    min: null, max: '1961-12-31' }), 'the earlier phase first, with its field and bound');
  assert(first.includes('生年月日') && first.includes('1961-12-31') && first.includes('以前'), first);
  assert((await page.textContent('#phases li >> nth=1')).includes('どなたでも'), 'everyone\'s phase');

  await chooseSlot(page, ev.slots[0]);
  await page.fill('#fld-name', '若い 太郎');
  await page.fill('#booker-email', mail('young'));
  await page.fill('#fld-birth', '1990-05-05');
  const yours = i18n.textIn('ja', 'phaseYours', { at: everyone });
  await page.locator('#phase-you', { hasText: yours }).waitFor();
  await axeCheck(page, { what: 'phases' });
  await shot(page, 'phases-mobile');
  await page.click('#submit');
  await page.locator('#result', { hasText: '現在、予約を受け付けていません' }).waitFor();
  assert((await page.textContent('#result')).includes(i18n.textIn('ja', 'dateTime', { at: everyone })),
    'the refusal says when their phase opens');
  eq((await bookingsOf(ev.slug)).length, 0, 'nothing booked');

  await page.fill('#fld-birth', '1950-01-01');
  await page.locator('#phase-you', { hasText: 'あなたは今、予約できます' }).waitFor();
  await page.click('#submit');
  await page.locator('#booking-number').waitFor();
  eq((await bookingsOf(ev.slug)).length, 1, 'booked in their phase');

  // English, and the server agrees with the page's rule.
  const r = await api('POST', `/v1/events/${ev.slug}/reservations`,
    { body: { slot_id: ev.slots[0].id, email: mail('api'), fields: { name: 'x', birth: '1962-01-01' } } });
  eq(r.status, 409, r.text);
  eq(r.json.opens_at, everyone, 'opens_at of their phase');
  assert(i18n.textIn('en', 'phaseLine', { at: everyone, field: null }).includes('everyone'), 'English words');
});
