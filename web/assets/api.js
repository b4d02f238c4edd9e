// api: the few calls the pages make, as {status, json, headers}. A network failure is status 0,
// never an exception, so every caller handles one shape.

import { tx, txAttr } from './i18n.js';

const ACCESS = 'yoyaku.access.';

export async function call(method, path, { body, headers = {}, signal } = {}) {
  const h = { Accept: 'application/json', ...headers };
  let data;
  if (body !== undefined) {
    h['Content-Type'] = 'application/json';
    data = typeof body === 'string' ? body : JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, { method, headers: h, body: data, credentials: 'same-origin', cache: 'no-store', signal });
  } catch (e) {
    return { status: 0, json: null, headers: new Headers(), error: e };
  }
  let json = null;
  try {
    json = await res.json();
  } catch (e) { /* not JSON */ }
  return { status: res.status, json, headers: res.headers };
}

// Retry-After in seconds (delta-seconds or an HTTP date), at least 1 and at most 120; def if absent.
export function retryAfter(r, def = 5) {
  const v = r.headers && r.headers.get('Retry-After');
  if (!v) return def;
  let s = Number(v);
  if (!Number.isFinite(s)) {
    const at = Date.parse(v);
    s = Number.isFinite(at) ? Math.ceil((at - Date.now()) / 1000) : def;
  }
  return Math.min(120, Math.max(1, Math.ceil(s)));
}

export function errorCode(r) {
  return r.json && typeof r.json === 'object' ? r.json.error || null : null;
}

// Access tokens of secret events (POST /v1/events/{slug}/unlock), for this tab only.
export function accessToken(slug) {
  try {
    const raw = sessionStorage.getItem(ACCESS + slug);
    if (!raw) return null;
    const { token, until } = JSON.parse(raw);
    if (until && Date.now() > until) {
      sessionStorage.removeItem(ACCESS + slug);
      return null;
    }
    return token;
  } catch (e) {
    return null;
  }
}

export function setAccessToken(slug, token, expiresIn) {
  try {
    const until = expiresIn ? Date.now() + expiresIn * 1000 : 0;
    sessionStorage.setItem(ACCESS + slug, JSON.stringify({ token, until }));
  } catch (e) { /* storage blocked: the token lives only in this page */ }
}

export function forgetAccessToken(slug) {
  try { sessionStorage.removeItem(ACCESS + slug); } catch (e) { /* ignore */ }
}

export function accessHeaders(slug) {
  const tok = accessToken(slug);
  return tok ? { 'X-Access-Token': tok } : {};
}

export const enc = encodeURIComponent;

// A new random key for one submission (crypto.randomUUID needs a secure context; 127.0.0.1 and
// https are, but a plain-http LAN address is not: fall back to getRandomValues).
export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Small DOM helper: h('p', {class: 'x', text: 'hi'}, child…)
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === 'text') el.textContent = v;
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// ---------------------------------------------------------------------------------------------
// The check-in QR code: GET /v1/bookings/{id}/qr.svg needs X-Booking-Token, so no <img src> can
// load it, and the pages' CSP (img-src 'self') refuses blob: and data: images. The SVG is parsed
// and rebuilt here from the few elements and attributes a QR drawing uses (nothing else of the
// answer reaches the page), then inserted inline. → an <svg> element, or null.
const SVG_NS = 'http://www.w3.org/2000/svg';
const SVG_KEEP = {
  svg: ['viewBox', 'shape-rendering'],
  g: ['fill', 'transform'],
  rect: ['x', 'y', 'width', 'height', 'fill'],
  path: ['d', 'fill', 'fill-rule'],
};

function svgCopy(src) {
  const name = src.localName;
  if (src.namespaceURI !== SVG_NS || !SVG_KEEP[name]) return null;
  const el = document.createElementNS(SVG_NS, name);
  for (const a of SVG_KEEP[name]) {
    const v = src.getAttribute(a);
    if (v != null && !/[<>]|url\(|javascript:/i.test(v)) el.setAttribute(a, v);
  }
  for (const c of src.children) {
    const copy = svgCopy(c);
    if (copy) el.append(copy);
  }
  return el;
}

export async function qrSvg(id, headers) {
  let res;
  let text;
  try {
    res = await fetch(`/v1/bookings/${enc(id)}/qr.svg`, {
      headers: { Accept: 'image/svg+xml', ...headers }, credentials: 'same-origin', cache: 'no-store',
    });
    if (res.status !== 200 || !/^image\/svg\+xml/.test(res.headers.get('Content-Type') || '')) return null;
    text = await res.text();
  } catch (e) {
    return null;
  }
  const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
  if (doc.getElementsByTagName('parsererror').length) return null;
  const svg = svgCopy(doc.documentElement);
  if (!svg || svg.localName !== 'svg' || !svg.getAttribute('viewBox')) return null;
  svg.setAttribute('role', 'img');
  svg.setAttribute('focusable', 'false');
  svg.classList.add('qr');
  return svg;
}

// The check-in part of a booking: its QR code (loaded now) and its code, large and copyable.
// level: the heading's level (h2 or h3, after the page's own headings).
export function checkinBlock(b, headers, level = 'h3') {
  const code = b.checkin_code || '';
  const box = h('div', { class: 'qr-box', id: 'qr', 'aria-busy': 'true' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }));
  const copyStatus = h('p', { class: 'small copy-status', id: 'copy-status', role: 'status', 'aria-live': 'polite' });
  const copy = tx(h('button', { type: 'button', class: 'secondary copy', id: 'copy-code', 'aria-describedby': 'checkin-code' }), 'copy');
  copy.addEventListener('click', async () => {
    let ok = false;
    try {
      await navigator.clipboard.writeText(code);
      ok = true;
    } catch (e) {
      // no clipboard (an insecure context, or refused): select the code for a manual copy
      const r = document.createRange();
      r.selectNodeContents(document.getElementById('checkin-code'));
      const sel = getSelection();
      sel.removeAllRanges();
      sel.addRange(r);
    }
    tx(copyStatus, ok ? 'copied' : 'copyFailed');
  });
  const section = h('section', { class: 'checkin', id: 'checkin', 'aria-labelledby': 'checkin-title' },
    tx(h(level, { id: 'checkin-title' }), 'checkinTitle'),
    tx(h('p', { class: 'small' }), 'checkinHelp'),
    box,
    tx(h('p', { class: 'checkin-label', id: 'checkin-label' }), 'checkinCode'),
    h('p', { class: 'checkin-row' },
      h('code', { class: 'checkin-code', id: 'checkin-code', translate: 'no' }, code),
      code ? copy : null),
    copyStatus);
  qrSvg(b.id, headers).then((svg) => {
    box.removeAttribute('aria-busy');
    if (svg) {
      txAttr(svg, 'aria-label', 'qrAlt', { code });
      box.replaceChildren(svg);
    } else {
      box.replaceChildren(tx(h('p', { class: 'notice warn' }), 'qrFailed'));
    }
  });
  return section;
}
