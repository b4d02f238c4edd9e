// admin-staff: staff accounts (owner: list, add, change role, disable, reset password through
// /v1/admin/staff) and the audit log (owner: /v1/admin/audit, pages by cursor).
import { enc } from './api.js';
import {
  $, admin, clearErrors, failure, field, fieldError, focusFirstError, h, heading, labelCells,
  notice, select, state, tx, txAttr,
} from './admin-core.js';

const ROLES = [['owner', 'role_owner'], ['staff', 'role_staff'], ['desk', 'role_desk']];
const COLS = ['adLoginName', 'adName', 'adRole', 'adAccount', 'adActions'];

function randomPassword() {
  const abc = 'abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  const b = crypto.getRandomValues(new Uint8Array(16));
  return [...b].map((x) => abc[x % abc.length]).join('');
}

function showError(out, r, map) {
  if (r.status === 409 && r.json && r.json.error === 'login_taken') {
    fieldError(map.login, null, 'adLoginTaken');
    return notice(out, 'err', 'adLoginTaken');
  }
  if (r.status === 422 && r.json && Array.isArray(r.json.errors)) {
    for (const x of r.json.errors) fieldError(map[x.field] || map.login, x.reason);
    return notice(out, 'err', 'adInvalid');
  }
  return failure(out, r);
}

export async function staffView(view) {
  const card = h('section', { class: 'card', 'aria-labelledby': 'staff-title' });
  const title = heading('adStaff');
  title.id = 'staff-title';
  const status = h('div', { class: 'notice', id: 'staff-status', role: 'status', 'aria-live': 'polite' });
  card.append(title, status);
  view.append(card);
  const tbody = h('tbody', { id: 'staff-rows' });
  card.append(h('div', { class: 'table-wrap' }, h('table', { class: 'stack' },
    h('thead', {}, h('tr', {}, COLS.map((k) => tx(h('th', { scope: 'col' }), k)))), tbody)));

  const load = async () => {
    const r = await admin('GET', '/staff');
    if (r.status !== 200 || !r.json) {
      failure(status, r);
      return;
    }
    const list = r.json.staff || r.json.accounts || [];
    tbody.replaceChildren(...list.map((s) => staffRow(s, status, load)));
  };
  await load();

  const pw = field({ id: 's-password', key: 'password', type: 'text', hint: 'adPasswordGenHint',
    attrs: { autocomplete: 'new-password', spellcheck: 'false' } });
  const gen = tx(h('button', { type: 'button', class: 'secondary small-btn', id: 's-generate' }), 'adGenPassword');
  gen.addEventListener('click', () => { $('s-password').value = randomPassword(); });
  pw.append(gen);
  const out = h('div', { class: 'notice', id: 'staff-result', role: 'status', 'aria-live': 'polite' });
  const form = h('form', { id: 'staff-form', novalidate: true }, tx(h('h3'), 'adAddStaff'),
    h('div', { class: 'row two' },
      field({ id: 's-login', key: 'adLoginName', attrs: { autocomplete: 'off', spellcheck: 'false', autocapitalize: 'none' } }),
      field({ id: 's-name', key: 'adName' })),
    h('div', { class: 'row two' }, field({ id: 's-role', key: 'adRole', control: select('s-role', ROLES, 'desk') }), pw),
    out, tx(h('button', { type: 'submit', class: 'primary' }), 'adAddStaffButton'));
  card.append(form);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    const body = { login: $('s-login').value.normalize('NFKC').trim(), name: $('s-name').value.trim(),
      role: $('s-role').value, password: $('s-password').value };
    let bad = false;
    if (!body.login) bad = fieldError('s-login', 'required');
    if (!body.name) bad = fieldError('s-name', 'required') || bad;
    if (!body.password) bad = fieldError('s-password', 'required') || bad;
    if (bad) {
      focusFirstError(form);
      return;
    }
    const r = await admin('POST', '/staff', body);
    if (r.status === 201 || r.status === 200) {
      notice(out, 'ok', 'adStaffAdded', { login: body.login });
      form.reset();
      await load();
      return;
    }
    showError(out, r, { login: 's-login', name: 's-name', role: 's-role', password: 's-password' });
    focusFirstError(form);
  });
  return null;
}

function staffRow(s, status, reload) {
  const id = `st-${s.login.replace(/[^a-z0-9_-]/gi, '_')}`;
  const role = select(`${id}-role`, ROLES, s.role);
  txAttr(role, 'aria-label', 'adRoleOf', { login: s.login });
  const patch = async (body, okKey) => {
    const r = await admin('PATCH', `/staff/${enc(s.login)}`, body);
    if (r.status === 200) {
      notice(status, 'ok', okKey, { login: s.login });
      await reload();
    } else failure(status, r);
  };
  role.addEventListener('change', () => patch({ role: role.value }, 'adStaffSaved'));
  const me = state.me && state.me.login === s.login;
  const acts = h('span', { class: 'acts' });
  const toggle = tx(h('button', { type: 'button', class: s.disabled ? 'secondary small-btn' : 'danger small-btn', disabled: me }),
    s.disabled ? 'adEnable' : 'adDisable');
  toggle.addEventListener('click', () => patch({ disabled: !s.disabled }, 'adStaffSaved'));
  const reset = tx(h('button', { type: 'button', class: 'secondary small-btn' }), 'adResetPassword');
  reset.addEventListener('click', async () => {
    const pw = randomPassword();
    const r = await admin('PATCH', `/staff/${enc(s.login)}`, { password: pw });
    if (r.status === 200) {
      status.className = 'notice ok';
      status.replaceChildren(tx(h('p'), 'adNewPassword', { login: s.login }), h('p', {}, h('code', { class: 'secret-pw' }, pw)));
    } else failure(status, r);
  });
  acts.append(toggle, reset);
  const acct = tx(h('span', { class: `status ${s.disabled ? 'cancelled' : 'confirmed'}` }), s.disabled ? 'adDisabled' : 'adActive');
  return labelCells(h('tr', { dataset: { login: s.login } }, h('td', {}, h('code', {}, s.login)), h('td', {}, s.name || ''),
    h('td', {}, role), h('td', {}, acct), h('td', {}, acts)), COLS);
}

export async function auditView(view) {
  const card = h('section', { class: 'card', 'aria-labelledby': 'audit-title' });
  const title = heading('adAudit');
  title.id = 'audit-title';
  const status = h('div', { class: 'notice', id: 'audit-status', role: 'status', 'aria-live': 'polite' });
  const cols = ['adAt', 'adActor', 'adAction', 'adTarget'];
  const tbody = h('tbody', { id: 'audit-rows' });
  const more = tx(h('button', { type: 'button', class: 'secondary', hidden: true, id: 'audit-more' }), 'adMore');
  card.append(title, status, h('div', { class: 'table-wrap' }, h('table', { class: 'stack' },
    h('thead', {}, h('tr', {}, cols.map((k) => tx(h('th', { scope: 'col' }), k)))), tbody)), h('p', {}, more));
  view.append(card);
  let cursor = null;
  const load = async () => {
    const q = new URLSearchParams({ limit: '50' });
    if (cursor) q.set('cursor', cursor);
    const r = await admin('GET', `/audit?${q}`);
    if (r.status !== 200 || !r.json) {
      failure(status, r);
      return;
    }
    for (const x of r.json.entries || []) {
      tbody.append(labelCells(h('tr', {}, tx(h('td'), 'dateTime', { at: x.at }), h('td', {}, x.actor || ''),
        h('td', {}, h('code', {}, x.action || '')), h('td', {}, x.target || '')), cols));
    }
    cursor = r.json.next_cursor || null;
    more.hidden = !cursor;
  };
  more.addEventListener('click', load);
  await load();
  return null;
}
