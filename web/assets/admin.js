// The staff console (/admin/): sign-in, the menu by role, and a hash router over the views in
// admin-*.js. The session is an HttpOnly cookie (POST /v1/admin/login); an API token (the old
// sign-in) is kept for this tab only as a fallback.
import * as i18n from './i18n.js';
import './admin-i18n.js';
import {
  $, admin, can, clearErrors, failure, fieldError, h, notice, state, setToken, tx, t,
} from './admin-core.js';
import { eventsView } from './admin-events.js';
import { editorView } from './admin-editor.js';
import { slotsView } from './admin-slots.js';
import { bookingsView } from './admin-bookings.js';
import { phoneView } from './admin-phone.js';
import { staffView, auditView } from './admin-staff.js';
import { deskView } from './admin-desk.js';
import { rushView } from './admin-rush.js';
import { waitlistView } from './admin-waitlist.js';
import { rosterView } from './admin-roster.js';

i18n.init();

// [hash pattern, least role, view, menu key (null: not in the menu)]
const ROUTES = [
  [/^events$/, 'desk', eventsView, 'adEvents'],
  [/^new$/, 'staff', (v) => editorView(v, null), 'adNewEvent'],
  [/^desk$/, 'desk', deskView, 'adDesk'],
  [/^rush$/, 'staff', rushView, 'adRush'],
  [/^roster$/, 'staff', rosterView, 'adRoster'],
  [/^staff$/, 'owner', staffView, 'adStaff'],
  [/^audit$/, 'owner', auditView, 'adAudit'],
  [/^events\/([a-z0-9-]+)$/, 'staff', (v, m) => editorView(v, m[1]), null],
  [/^events\/([a-z0-9-]+)\/slots$/, 'staff', (v, m) => slotsView(v, m[1]), null],
  [/^events\/([a-z0-9-]+)\/bookings$/, 'staff', (v, m) => bookingsView(v, m[1]), null],
  [/^events\/([a-z0-9-]+)\/phone$/, 'staff', (v, m) => phoneView(v, m[1]), null],
  [/^events\/([a-z0-9-]+)\/waitlist$/, 'staff', (v, m) => waitlistView(v, m[1]), null],
];

let stopView = null;

const setTitle = () => { document.title = `${t('adTitle')} — yoyaku`; };
setTitle();
i18n.onChange(setTitle);

function renderNav() {
  const list = $('nav-list');
  const here = location.hash.replace(/^#\/?/, '') || 'events';
  list.replaceChildren(...ROUTES.filter((r) => r[3] && can(r[1])).map((r) => {
    const path = r[0].source.replace(/^\^|\$$/g, '');
    const a = tx(h('a', { href: `#/${path}`, id: `nav-${path}` }), r[3]);
    if (here === path || (path === 'events' && here.startsWith('events/'))) a.setAttribute('aria-current', 'page');
    return h('li', {}, a);
  }));
  $('nav').setAttribute('aria-label', t('adMenu'));
}

function renderWho() {
  const who = $('who');
  const m = state.me || {};
  who.replaceChildren(h('span', { class: 'who-name' }, m.name || m.login || t('adTokenUser')),
    tx(h('span', { class: `role role-${state.role}` }), `role_${state.role}`),
    tx(h('button', { type: 'button', class: 'secondary small-btn', id: 'logout' }), 'adSignOut'));
  $('logout').addEventListener('click', signOut);
  who.hidden = false;
}

let generation = 0;

async function route() {
  if (!state.me) return;
  const gen = ++generation;
  if (stopView) stopView();
  stopView = null;
  notice($('status'), '', null);
  const here = location.hash.replace(/^#\/?/, '') || 'events';
  // Each view draws into its own box: whatever a view left behind still loading lands in a
  // detached box, never in the next view.
  const view = h('div', { class: 'view' });
  $('view').replaceChildren(view);
  renderNav();
  for (const [re, least, fn] of ROUTES) {
    const m = re.exec(here);
    if (!m) continue;
    if (!can(least)) {
      view.append(h('section', { class: 'card', id: 'forbidden' }, tx(h('h2', { tabindex: '-1', class: 'view-title' }), 'adForbiddenTitle'),
        tx(h('p'), 'adForbidden')));
    } else {
      const stop = (await fn(view, m)) || null;
      if (gen !== generation) {
        if (stop) stop();
        return;
      }
      stopView = stop;
    }
    // The new view's heading takes the focus, so keyboard and screen-reader users start there.
    const title = view.querySelector('.view-title');
    if (title && !view.contains(document.activeElement)) title.focus({ preventScroll: true });
    return;
  }
  notice($('status'), 'err', 'adNotFound');
}

function signedIn(me) {
  state.me = me;
  state.role = me.role || 'owner';
  $('login').hidden = true;
  $('nav').hidden = false;
  renderWho();
  route();
}

function showLogin() {
  state.me = null;
  state.role = null;
  generation++;
  if (stopView) stopView();
  stopView = null;
  $('view').replaceChildren();
  $('nav').hidden = true;
  $('who').hidden = true;
  $('login').hidden = false;
  $('login-password').value = '';
  $('login-name').focus();
}

state.onSignedOut = () => {
  setToken(null);
  showLogin();
  notice($('status'), 'warn', 'adSessionEnded');
};

// Who is signed in: GET /v1/admin/me ({"staff":{login,name,role}} or the fields at the top). A
// token sign-in on a server without /me is checked by listing events (a token is an owner's by default).
async function whoAmI() {
  const r = await admin('GET', '/me');
  if (r.status === 200 && r.json) {
    const j = r.json.staff || r.json.token || r.json;
    return { login: j.login || j.name || '', name: j.name || j.login || '', role: j.role || 'owner' };
  }
  if (r.status === 404 && state.token) {
    const e = await admin('GET', '/events');
    if (e.status === 200) return { login: '', name: '', role: 'owner' };
    return e.status === 401 ? null : { error: e };
  }
  if (r.status === 401 || r.status === 404) return null;
  return { error: r };
}

async function signIn(ev) {
  ev.preventDefault();
  const form = $('login-form');
  clearErrors(form);
  const login = $('login-name').value.normalize('NFKC').trim();
  const password = $('login-password').value;
  let bad = false;
  if (!login) bad = fieldError('login-name', 'required');
  if (!password) bad = fieldError('login-password', 'required') || bad;
  if (bad) {
    form.querySelector('[aria-invalid=true]').focus();
    return;
  }
  const btn = form.querySelector('button[type=submit]');
  btn.disabled = true;
  const r = await admin('POST', '/login', { login, password });
  btn.disabled = false;
  if (r.status === 200 && r.json) {
    setToken(null);
    const s = r.json.staff || {};
    $('login-password').value = '';
    signedIn({ login: s.login || login, name: s.name || login, role: s.role || 'desk' });
    return;
  }
  if (r.status === 401) {
    fieldError('login-password', null, 'adWrongPassword');
    $('login-password').focus();
    return;
  }
  if (r.status === 429) {
    fieldError('login-password', null, 'adTooMany');
    return;
  }
  failure($('status'), r);
}

async function tokenSignIn(ev) {
  ev.preventDefault();
  const form = $('token-form');
  clearErrors(form);
  const value = $('token').value.trim();
  if (!value) {
    fieldError('token', 'required');
    return;
  }
  setToken(value);
  const me = await whoAmI();
  if (!me) {
    setToken(null);
    fieldError('token', null, 'adBadToken');
    $('token').focus();
    return;
  }
  if (me.error) {
    setToken(null);
    failure($('status'), me.error);
    return;
  }
  $('token').value = '';
  signedIn(me);
}

async function signOut() {
  if (state.token) setToken(null);
  else await admin('POST', '/logout');
  showLogin();
  history.replaceState(null, '', '/admin/');
}

async function start() {
  const me = await whoAmI();
  if (me && me.error) {
    failure($('status'), me.error);
    $('login').hidden = false;
    return;
  }
  if (!me) {
    if (state.token) setToken(null);
    showLogin();
    return;
  }
  signedIn(me);
}

$('login-form').addEventListener('submit', signIn);
$('token-form').addEventListener('submit', tokenSignIn);
window.addEventListener('hashchange', route);
i18n.onChange(() => { if (state.me) renderNav(); });
start();
