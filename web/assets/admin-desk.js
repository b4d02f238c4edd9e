// admin-desk: the check-in desk. Type a booking number or a check-in code (YK1-<id>-<6>), or scan
// the QR code with the camera (BarcodeDetector, where the browser has it); see who it is, then one
// tap: attended (POST /v1/admin/checkin {"code"}) or no-show (POST …/bookings/{id}/attendance).
import { enc } from './api.js';
import {
  $, admin, clearErrors, failure, field, fieldError, h, heading, notice, statusBadge, tx, txValue,
} from './admin-core.js';
import { fieldList } from './admin-bookings.js';

const REFUSALS = ['not_today', 'cancelled', 'prerequisite_not_attended', 'seat_released',
  'already_booked'];

// "YK1-123-ABCDEF" → "123"; a bare number stays; full-width digits and spaces are folded.
export function bookingIdOf(code) {
  const c = code.normalize('NFKC').replace(/\s+/g, '');
  const m = /^YK1-([^-]+)-/i.exec(c);
  return m ? m[1] : c;
}

export async function deskView(view) {
  const card = h('section', { class: 'card', 'aria-labelledby': 'desk-title' });
  const title = heading('adDesk');
  title.id = 'desk-title';
  const out = h('div', { class: 'notice', id: 'desk-result', role: 'status', 'aria-live': 'assertive' });
  const code = field({ id: 'desk-code', key: 'adDeskCode', hint: 'adDeskHint',
    attrs: { autocomplete: 'off', spellcheck: 'false', autocapitalize: 'characters', enterkeyhint: 'search' } });
  const form = h('form', { id: 'desk-form', novalidate: true, class: 'desk-form' }, code,
    tx(h('button', { type: 'submit', class: 'primary' }), 'adLookUp'));
  const who = h('div', { id: 'desk-booking', class: 'desk-booking' });
  card.append(title, form);
  let stopCam = null;
  if ('BarcodeDetector' in window && navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
    const camBtn = tx(h('button', { type: 'button', class: 'secondary', id: 'desk-camera' }), 'adScan');
    const video = h('video', { id: 'desk-video', hidden: true, muted: true, playsinline: true, 'aria-label': 'QR' });
    camBtn.addEventListener('click', async () => {
      if (stopCam) {
        stopCam();
        return;
      }
      stopCam = await scan(video, (text) => {
        $('desk-code').value = text;
        if (stopCam) stopCam();
        form.requestSubmit();
      }, () => { stopCam = null; tx(camBtn, 'adScan'); }, out);
      if (stopCam) tx(camBtn, 'adScanStop');
    });
    card.append(h('p', {}, camBtn), video);
  }
  card.append(out, who);
  view.append(card);
  const titles = new Map();
  admin('GET', '/events').then((r) => {
    if (r.status === 200 && r.json) for (const e of r.json.events || []) titles.set(e.slug, e);
  });

  const show = (b, entered) => {
    const ev = titles.get(b.event) || { fields: [] };
    const attended = tx(h('button', { type: 'button', class: 'primary big-btn', id: 'desk-attended' }), 'adMarkAttended');
    const noShow = tx(h('button', { type: 'button', class: 'secondary', id: 'desk-noshow' }), 'adMarkNoShow');
    attended.addEventListener('click', async () => {
      attended.disabled = true;
      const r = await admin('POST', '/checkin', { code: entered });
      attended.disabled = false;
      answer(r, 'adCheckedIn');
    });
    noShow.addEventListener('click', async () => {
      const r = await admin('POST', `/bookings/${enc(b.id)}/attendance`, { status: 'no_show' });
      answer(r, 'adMarkedNoShow');
    });
    who.replaceChildren(h('article', { class: 'card inner', 'aria-labelledby': 'desk-who' },
      h('h3', { id: 'desk-who' }, txValue(h('span'), ev.title, b.event || ''), ' · ', h('code', {}, b.id)),
      h('p', { id: 'desk-status' }, statusBadge(b.status)),
      h('dl', { class: 'facts' },
        h('div', {}, tx(h('dt'), 'when'), tx(h('dd'), 'range', { a: b.starts_at, b: b.ends_at })),
        h('div', {}, tx(h('dt'), 'email'), h('dd', {}, b.email || ''))),
      fieldList(ev, b.fields),
      h('div', { class: 'acts desk-acts' }, attended, noShow)));
  };
  const answer = (r, okKey) => {
    if (r.status === 200 && r.json && r.json.booking) {
      notice(out, 'ok', okKey, { id: r.json.booking.id });
      $('desk-status').replaceChildren(statusBadge(r.json.booking.status));
      $('desk-code').select();
      return;
    }
    const err = r.json && r.json.error;
    if (r.status === 409 && REFUSALS.includes(err)) return notice(out, 'err', `desk_${err}`);
    if (r.status === 404) return notice(out, 'err', 'adBookingNotFound');
    return failure(out, r);
  };

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    const entered = $('desk-code').value.normalize('NFKC').trim();
    if (!entered) {
      fieldError('desk-code', 'required');
      $('desk-code').focus();
      return;
    }
    const id = bookingIdOf(entered);
    notice(out, 'info', 'loading');
    const r = await admin('GET', `/bookings/${enc(id)}`);
    if (r.status === 200 && r.json && r.json.booking) {
      notice(out, '', null);
      show(r.json.booking, entered);
      if (r.json.booking.status === 'cancelled') notice(out, 'err', 'desk_cancelled');
      $('desk-attended').focus();
      return;
    }
    who.replaceChildren();
    if (r.status === 404) {
      notice(out, 'err', 'adBookingNotFound');
      $('desk-code').select();
      return;
    }
    failure(out, r);
  });
  $('desk-code').focus(); // the desk types (or a scanner "types") straight away
  return () => { if (stopCam) stopCam(); };
}

async function scan(video, found, stopped, out) {
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } });
  } catch (e) {
    notice(out, 'warn', 'adNoCamera');
    return null;
  }
  const detector = new window.BarcodeDetector({ formats: ['qr_code'] });
  video.srcObject = stream;
  video.hidden = false;
  await video.play().catch(() => {});
  let on = true;
  const stop = () => {
    on = false;
    for (const tr of stream.getTracks()) tr.stop();
    video.hidden = true;
    video.srcObject = null;
    stopped();
  };
  (async () => {
    while (on) {
      try {
        const codes = await detector.detect(video);
        const hit = codes.find((c) => /^YK1-/i.test(c.rawValue || ''));
        if (hit) {
          found(hit.rawValue);
          return;
        }
      } catch (e) { /* a frame not ready yet */ }
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  return stop;
}
