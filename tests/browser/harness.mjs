// The browser tests' harness: the stack's addresses (from $YK_BROWSER_CONFIG), API helpers, the
// browser and its contexts, page checks, the test list and the runner. Each test gets a fresh
// browser context; every page is served with a strict Content-Security-Policy added here, so an
// inline script or style, or a request to another origin, fails the test.
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

export const cfg = JSON.parse(fs.readFileSync(process.env.YK_BROWSER_CONFIG, 'utf8'));
export const BASE = cfg.base;
export const OUT = cfg.outDir;
fs.mkdirSync(OUT, { recursive: true });

export const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
  + "font-src 'self'; manifest-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
export const MOBILE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
export const DESKTOP = { viewport: { width: 1200, height: 900 } };

// ---------------------------------------------------------------------------------------------
// API helpers (node's fetch)

export async function api(method, p, { body, admin = false, headers = {}, base = BASE } = {}) {
  const h = { Accept: 'application/json', ...headers };
  if (body !== undefined) h['Content-Type'] = 'application/json';
  if (admin) h.Authorization = `Bearer ${cfg.adminToken}`;
  const r = await fetch(base + p, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, json, text, headers: r.headers };
}

export function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

export function eq(a, b, msg) {
  if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(`${msg}: expected ${JSON.stringify(b)}, got ${JSON.stringify(a)}`);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(fn, what, timeout = 10000) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

// A day `days` from today in Asia/Tokyo, as YYYY-MM-DD.
export function jstDate(days) {
  const d = new Date(Date.now() + 9 * 3600e3 + days * 86400e3);
  return d.toISOString().slice(0, 10);
}

export const uniq = (p) => `${p}-${randomUUID().slice(0, 8)}`;
export const mail = (p) => `${p}-${randomUUID().slice(0, 8)}@example.com`;

export const FIELDS = [
  { name: 'name', label: { ja: '氏名', en: 'Name' }, type: 'text', required: true, max_length: 50 },
  { name: 'insurance_no', label: { ja: '保険証番号', en: 'Insurance number' }, type: 'text', identity: true, pattern: '^[0-9]{8}$' },
  { name: 'phone', label: { ja: '電話番号', en: 'Phone' }, type: 'tel' },
  { name: 'birth', label: { ja: '生年月日', en: 'Date of birth' }, type: 'date' },
  { name: 'people', label: { ja: '人数', en: 'People' }, type: 'number' },
  { name: 'site', label: { ja: '希望会場', en: 'Preferred site' }, type: 'select', options: ['本館', '別館'] },
  { name: 'consent', label: { ja: '注意事項に同意します', en: 'I agree to the terms' }, type: 'checkbox', required: true },
];
export const SIMPLE_FIELDS = [{ name: 'name', label: { ja: '氏名', en: 'Name' }, type: 'text', required: true, max_length: 50 }];

// Creates an event with slots (capacities, one per slot, hour by hour from 09:00 on `day`, and
// more days with `days`); waits until the public API lists every slot. → {slug, slots}
export async function makeEvent({ capacities = [5], fields = SIMPLE_FIELDS, day = 10, days = 1, extra = {} } = {}) {
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

export async function bookingsOf(slug) {
  const r = await api('GET', `/v1/admin/events/${slug}/bookings?limit=100`, { admin: true });
  eq(r.status, 200, `admin bookings ${r.text}`);
  return r.json.bookings;
}

export async function remaining(slug, slotId) {
  const r = await api('GET', `/v1/events/${slug}/slots`);
  return r.json.slots.find((s) => s.id === slotId).remaining;
}

// ---------------------------------------------------------------------------------------------
// browser

export const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

// A context whose pages get the CSP header; collects page errors and console errors.
export async function context(t, opts = {}) {
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

export function watch(ctx, page) {
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

export async function newPage(t, opts) {
  const ctx = await context(t, opts);
  return ctx.newPage();
}

export async function shot(page, name, fullPage = true) {
  await page.screenshot({ path: path.join(OUT, `${name}.png`), fullPage });
}

// Fills the booking form of an event made with FIELDS.
export async function fillFull(page, { email, insurance = '１２３４５６７８', name = '山田 花子' }) {
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
export async function chooseSlot(page, slot) {
  const day = page.locator(`#slots button.date[data-date="${slot.starts_at.slice(0, 10)}"]`);
  if (await day.count()) {
    await day.click();
    eq(await day.getAttribute('aria-pressed'), 'true', 'day button pressed');
  }
  await page.check(`input[name=slot][value="${slot.id}"]`);
}

// Every form control has a label; live regions exist; the page language is set.
export async function checkA11y(page) {
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

// ---------------------------------------------------------------------------------------------
// the test list

export const tests = [];
export const test = (name, fn) => tests.push({ name, fn });
export const shared = {};

// ---------------------------------------------------------------------------------------------
// runner

// Runs the tests whose names contain one of filters (all when none), prints `N passed, N failed`
// last and exits 1 on any failure.
export async function runAll(filters) {
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
}

// ---------------------------------------------------------------------------------------------
// axe-core and SQL (residents' pages; the console tests may use them too)

const require = createRequire(import.meta.url);
let axeSource = null;

// Runs axe-core (WCAG 2.0/2.1 A and AA rules) on the page as it is now; fails on any serious or
// critical violation. The page's CSP refuses an injected <script>, so axe's source is evaluated
// through the DevTools protocol (page.evaluate), which CSP does not govern. → the violations of
// lesser impact, for a note.
export async function axeCheck(page, { exclude = [], what = '' } = {}) {
  if (!axeSource) axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(axeSource);
  const all = await page.evaluate(async (ex) => {
    const r = await window.axe.run(ex.length ? { exclude: ex.map((s) => [s]) } : document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
      resultTypes: ['violations'],
    });
    return {
      passes: r.passes.length,
      violations: r.violations.map((v) => ({
        id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.slice(0, 5).map((n) => `${n.target.join(' ')}: ${n.failureSummary.replace(/\s+/g, ' ').slice(0, 200)}`),
      })),
    };
  }, exclude);
  assert(all.passes >= 10, `axe ran only ${all.passes} rules on ${page.url()}`);
  const res = all.violations;
  const bad = res.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert(bad.length === 0, `axe ${what} ${page.url()}:\n${bad.map((v) => `${v.impact} ${v.id} (${v.help})\n    ${v.nodes.join('\n    ')}`).join('\n')}`);
  return res;
}

// One SQL statement on the stack's PostgreSQL (psql, as tests/integration/ykstack.py does);
// → rows as arrays of strings.
export function sql(query) {
  assert(cfg.pg, 'the stack passes no PostgreSQL conninfo (cfg.pg)');
  const out = execFileSync('psql', ['-d', cfg.pg, '-X', '-At', '-F', '\x1f', '-v', 'ON_ERROR_STOP=1', '-c', query],
    { encoding: 'utf8', timeout: 30000 });
  return out.split('\n').filter((l) => l !== '').map((l) => l.split('\x1f'));
}
