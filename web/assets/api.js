// api: the few calls the pages make, as {status, json, headers}. A network failure is status 0,
// never an exception, so every caller handles one shape.

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
