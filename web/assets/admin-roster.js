// admin-roster: a campaign's roster — what is loaded (GET /v1/admin/campaigns/{c}/roster: rows,
// fields, when) and an upload of a CSV file (PUT, UTF-8 or CP932) with a progress bar. The upload
// goes through XMLHttpRequest, the one browser API that reports an upload's progress; the file is
// sent as it is read, never held in the page. Its words are added here (i18n.extend).
import { admin, failure, field, h, heading, notice, select, state, t, tx } from './admin-core.js';
import * as i18n from './i18n.js';

i18n.extend({
  ja: {
    adRoster: '対象者名簿',
    adRosterHint: 'キャンペーンの対象者名簿（CSV、1行目は項目名）を読み込みます。各行は鍵付きハッシュでのみ保存され、元の値は残りません。',
    adRosterCampaign: 'キャンペーン',
    adRosterFile: 'CSV ファイル',
    adRosterEncoding: '文字コード',
    adRosterUpload: '名簿を置き換える',
    adRosterShow: '表示',
    adRosterNone: 'このキャンペーンの名簿はまだありません。',
    adRosterNow: (v) => `現在の名簿：${v.rows} 行（項目 ${v.fields}）、${v.at} 更新`,
    adRosterSending: (v) => `送信中… ${v.pct}%`,
    adRosterChecking: 'サーバーで確認して保存しています…',
    adRosterDone: (v) => `${v.rows} 行の名簿に置き換えました。`,
    adRosterInvalid: '名簿に問題があるため、何も置き換えていません：',
    adRosterBusy: 'この名簿は別の読み込み中です。終わってからお試しください。',
    adRosterLine: (v) => `${v.line} 行目：${v.reason}`,
    adRosterNoFile: 'ファイルを選んでください。',
    adRosterBadCampaign: '英小文字・数字・-・_ で入力してください。',
    rr_empty_header: '項目名の行がないか、空の項目名があります',
    rr_bad_header: '項目名が正しくないか、重複しています',
    rr_column_count: '列の数が項目名の数と違います',
    rr_encoding: '文字コードが違います',
    rr_too_long: '値が長すぎるか、列が多すぎます',
    rr_quoting: '引用符（"）の使い方が正しくありません',
  },
  en: {
    adRoster: 'Rosters',
    adRosterHint: 'Load a campaign\'s roster of eligible people (CSV, the first row names the fields). Each row is stored only as a keyed hash; the values are not kept.',
    adRosterCampaign: 'Campaign',
    adRosterFile: 'CSV file',
    adRosterEncoding: 'Encoding',
    adRosterUpload: 'Replace the roster',
    adRosterShow: 'Show',
    adRosterNone: 'This campaign has no roster yet.',
    adRosterNow: (v) => `Current roster: ${v.rows} rows (fields ${v.fields}), updated ${v.at}`,
    adRosterSending: (v) => `Sending… ${v.pct}%`,
    adRosterChecking: 'The server is checking and storing it…',
    adRosterDone: (v) => `The roster now has ${v.rows} rows.`,
    adRosterInvalid: 'The roster has problems, so nothing was replaced:',
    adRosterBusy: 'Another upload of this roster is under way. Try again when it is done.',
    adRosterLine: (v) => `Line ${v.line}: ${v.reason}`,
    adRosterNoFile: 'Choose a file.',
    adRosterBadCampaign: 'Use lowercase letters, digits, - and _.',
    rr_empty_header: 'no header row, or an empty field name',
    rr_bad_header: 'a field name is not valid, or appears twice',
    rr_column_count: 'not as many values as field names',
    rr_encoding: 'wrong encoding',
    rr_too_long: 'a value is too long, or too many columns',
    rr_quoting: 'a quote (") is misplaced',
  },
});

const CAMPAIGN = /^[a-z0-9_-]{1,64}$/;
const enc = encodeURIComponent;

// PUT the file with progress; resolves {status, json}.
function upload(campaign, encoding, file, onProgress) {
  return new Promise((resolve) => {
    const x = new XMLHttpRequest();
    x.open('PUT', `/v1/admin/campaigns/${enc(campaign)}/roster?encoding=${enc(encoding)}`);
    x.setRequestHeader('Content-Type', 'text/csv');
    if (state.token) x.setRequestHeader('Authorization', `Bearer ${state.token}`);
    x.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    x.upload.onload = () => onProgress(1);
    x.onload = () => {
      let json = null;
      try { json = JSON.parse(x.responseText); } catch (e) { json = null; }
      resolve({ status: x.status, json, headers: { get: (k) => x.getResponseHeader(k) } });
    };
    x.onerror = () => resolve({ status: 0, json: null, headers: { get: () => null } });
    x.send(file);
  });
}

export async function rosterView(view) {
  const card = h('section', { class: 'card', 'aria-labelledby': 'roster-title' });
  const title = heading('adRoster');
  title.id = 'roster-title';
  const status = h('div', { class: 'notice', id: 'roster-status', role: 'status', 'aria-live': 'polite' });
  const current = h('p', { id: 'roster-current', class: 'hint' });
  const campaign = field({ id: 'roster-campaign', key: 'adRosterCampaign', attrs: { autocomplete: 'off', spellcheck: 'false' } });
  const file = field({ id: 'roster-file', key: 'adRosterFile', type: 'file', attrs: { accept: '.csv,text/csv' } });
  const encoding = field({ id: 'roster-encoding', key: 'adRosterEncoding',
    control: select('roster-encoding', [['utf-8', 'UTF-8', true], ['cp932', 'CP932 (Shift_JIS)', true]], 'utf-8') });
  const progress = h('progress', { id: 'roster-progress', max: '100', value: '0', hidden: true });
  const show = tx(h('button', { type: 'button', class: 'secondary', id: 'roster-show' }), 'adRosterShow');
  const send = tx(h('button', { type: 'submit', class: 'primary', id: 'roster-upload' }), 'adRosterUpload');
  const errors = h('ul', { id: 'roster-errors' });
  const form = h('form', { id: 'roster-form', novalidate: true }, campaign, encoding, file, h('p', {}, show, ' ', send), progress);
  card.append(title, tx(h('p', { class: 'hint' }), 'adRosterHint'), status, current, form, errors);
  view.append(card);

  const name = () => document.getElementById('roster-campaign').value.normalize('NFKC').trim();
  const badName = () => {
    const ok = CAMPAIGN.test(name());
    const err = document.getElementById('roster-campaign-error');
    if (ok) err.replaceChildren();
    else tx(err, 'adRosterBadCampaign');
    document.getElementById('roster-campaign').toggleAttribute('aria-invalid', !ok);
    return !ok;
  };
  async function refresh() {
    if (badName()) return;
    const r = await admin('GET', `/campaigns/${enc(name())}/roster`);
    if (r.status === 404) tx(current, 'adRosterNone');
    else if (r.status === 200) tx(current, 'adRosterNow', { rows: r.json.rows, fields: r.json.fields.join(', '), at: r.json.updated_at });
    else failure(status, r);
  }
  show.addEventListener('click', refresh);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    errors.replaceChildren();
    notice(status, '', null);
    if (badName()) return;
    const f = document.getElementById('roster-file').files[0];
    if (!f) {
      tx(document.getElementById('roster-file-error'), 'adRosterNoFile');
      return;
    }
    document.getElementById('roster-file-error').replaceChildren();
    send.disabled = true;
    progress.hidden = false;
    progress.value = 0;
    const r = await upload(name(), document.getElementById('roster-encoding').value, f, (p) => {
      progress.value = Math.round(p * 100);
      notice(status, '', p < 1 ? 'adRosterSending' : 'adRosterChecking', { pct: Math.round(p * 100) });
    });
    send.disabled = false;
    progress.hidden = true;
    if (r.status === 200) {
      notice(status, 'ok', 'adRosterDone', { rows: r.json.rows });
      refresh();
    } else if (r.status === 422 && r.json && r.json.error === 'invalid_roster') {
      notice(status, 'err', 'adRosterInvalid');
      errors.replaceChildren(...r.json.errors.map((e) => h('li', {}, t('adRosterLine', { line: e.line, reason: t(`rr_${e.reason}`) }))));
    } else if (r.status === 409) {
      notice(status, 'warn', 'adRosterBusy');
    } else {
      failure(status, r);
    }
  });
  return null;
}
