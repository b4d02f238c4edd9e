// i18n: Japanese first, English second. Every translated node carries data-i18n (a key) and, where
// the text has variables, data-i18n-vars (JSON), so a language switch rewrites the page in place and
// never loses what the booker typed. A text that comes from the event in both languages ({ja, en})
// is stored on its node as data-ja / data-en.

const STORE = 'yoyaku.lang';
const LANGS = ['ja', 'en'];

const pad2 = (n) => String(n).padStart(2, '0');

// "2026-12-07" → a calendar date in the given language, weekday included. The date is the event's
// local day already, so it is formatted as a UTC date (no shift by the browser's zone).
function fmtDate(lang, ymd) {
  const [y, m, d] = ymd.split('-').map(Number);
  const dt = new Date(Date.UTC(y, m - 1, d));
  if (Number.isNaN(dt.getTime())) return ymd;
  if (lang === 'ja') {
    const wd = '日月火水木金土'[dt.getUTCDay()];
    return `${y}年${m}月${d}日（${wd}）`;
  }
  return new Intl.DateTimeFormat('en-GB', {
    timeZone: 'UTC', weekday: 'short', day: 'numeric', month: 'short', year: 'numeric',
  }).format(dt);
}

// "2026-12-07" → "12/7（月）" or "Mon 7 Dec", for the date buttons.
function fmtShort(lang, ymd) {
  const [y, m, d] = ymd.split('-').map(Number);
  const dt = new Date(Date.UTC(y, m - 1, d));
  if (Number.isNaN(dt.getTime())) return ymd;
  if (lang === 'ja') return `${m}/${d}（${'日月火水木金土'[dt.getUTCDay()]}）`;
  return new Intl.DateTimeFormat('en-GB', { timeZone: 'UTC', weekday: 'short', day: 'numeric', month: 'short' }).format(dt);
}

// RFC 3339 with offset → "HH:MM" as written (the event's local time).
export function hhmm(rfc) {
  const m = /T(\d{2}):(\d{2})/.exec(rfc || '');
  return m ? `${m[1]}:${m[2]}` : '';
}

export function ymd(rfc) {
  return (rfc || '').slice(0, 10);
}

function fmtDateTime(lang, rfc) {
  if (!rfc) return '';
  return `${fmtDate(lang, ymd(rfc))} ${hhmm(rfc)}`;
}

function fmtRange(lang, a, b) {
  if (!a) return '';
  const end = b ? (ymd(a) === ymd(b) ? hhmm(b) : fmtDateTime(lang, b)) : '';
  return end ? `${fmtDateTime(lang, a)} – ${end}` : fmtDateTime(lang, a);
}

const REASONS = {
  ja: {
    required: '入力してください。',
    too_long: '長すぎます。',
    pattern: '形式が正しくありません。',
    type: '形式が正しくありません。',
    unknown_option: '選択肢から選んでください。',
    unknown_field: 'この項目は受け付けられません。',
  },
  en: {
    required: 'This is required.',
    too_long: 'This is too long.',
    pattern: 'This is not in the expected format.',
    type: 'This is not in the expected format.',
    unknown_option: 'Please choose one of the options.',
    unknown_field: 'This field is not accepted.',
  },
};

const DICT = {
  ja: {
    site: 'yoyaku 予約',
    switchTo: 'English',
    switchLabel: 'Switch to English',
    skip: '本文へ移動',
    loading: '読み込み中…',
    networkError: '通信できませんでした。接続を確かめて、もう一度お試しください。',
    serverError: 'エラーが発生しました。しばらくしてからもう一度お試しください。',
    busy: (v) => v.secs > 0 ? `ただいま混み合っています。${v.secs}秒後にもう一度お試しください。` : 'ただいま混み合っています。もう一度お試しください。',
    busyRetry: (v) => `もう一度送信（${v.secs}秒後）`,
    // index
    indexTitle: '予約受付中のイベント',
    indexIntro: 'イベントを選んで、日時を予約してください。',
    noEvents: '現在、受付中のイベントはありません。',
    venue: '会場',
    bookThis: '予約する',
    // event
    eventTitle: 'イベント',
    notFound: 'イベントが見つかりません。URLをお確かめください。',
    backToList: 'イベント一覧へ',
    period: '受付期間',
    opensAt: (v) => `${fmtDateTime('ja', v.at)} から受付開始`,
    closesAt: (v) => `${fmtDateTime('ja', v.at)} まで`,
    cancelPolicy: (v) => `キャンセルは開始時刻の${v.h}時間前まで、予約確認ページからできます。`,
    limitPolicy: (v) => `お一人${v.n}件まで予約できます。`,
    chooseSlot: '1. 日時を選ぶ',
    noSlots: '予約できる日時がありません。',
    seatsLeft: (v) => `残り${v.n}`,
    full: '満席',
    past: '終了',
    yourDetails: '2. お客様情報',
    selected: '選択中の日時',
    noneSelected: 'まだ選ばれていません',
    email: 'メールアドレス',
    emailHint: '予約確認メールを送ります。',
    requiredMark: '必須',
    optionalMark: '任意',
    choose: '選んでください',
    maxLen: (v) => `${v.n}文字以内`,
    exampleHint: (v) => `形式: ${v.p}`,
    submit: '予約する',
    submitting: '送信中…',
    pickSlot: '日時を選んでください。',
    fixErrors: '入力内容を確かめてください。',
    // results
    bookedTitle: '予約が完了しました',
    bookingNo: '予約番号',
    when: '日時',
    mailSent: (v) => `確認メールを ${v.email} に送りました。`,
    keepLink: '予約の確認・キャンセルは次のリンクからできます。このリンクは他の人に教えないでください。',
    openBooking: '予約を確認・キャンセルする',
    queued: '順番待ちです。このままお待ちください。',
    waiting: 'お待ちください…',
    slot_full: 'この日時は満席になりました。ほかの日時を選んでください。',
    already_booked: 'この方はすでに予約済みです（予約できる件数の上限に達しています）。',
    booking_closed: '現在、予約を受け付けていません。',
    booking_closed_opens: (v) => `現在、予約を受け付けていません。受付開始は ${fmtDateTime('ja', v.at)} です。`,
    prerequisite_not_met: '前提となる予約（1回目の接種など）の条件を満たしていません。',
    idempotency_conflict: '送信内容が変わりました。もう一度「予約する」を押してください。',
    slotGone: '選んだ日時は予約できません。ほかの日時を選んでください。',
    slotsRefreshed: '空き状況を更新しました。',
    // secret
    secretTitle: 'パスワードが必要です',
    secretIntro: 'このイベントの予約には、案内されたパスワードが必要です。',
    password: 'パスワード',
    unlock: '進む',
    unlockUnavailable: 'パスワードでの受付は、現在ご利用いただけません。',
    tooManyTries: (v) => `試行回数が多すぎます。${v.secs}秒ほど待ってからお試しください。`,
    // booking
    bookingTitle: 'ご予約内容',
    bookingNotFound: '予約が見つかりません。リンクが正しいかお確かめください。',
    noToken: 'リンクが正しくありません。確認メールのリンクから開いてください。',
    event: 'イベント',
    status: '状態',
    st_confirmed: '予約済み',
    st_cancelled: 'キャンセル済み',
    st_attended: '来場済み',
    st_no_show: '未来場',
    createdAt: '予約日時',
    yes: 'はい',
    no: 'いいえ',
    cancel: '予約をキャンセルする',
    cancelConfirmTitle: 'この予約をキャンセルしますか？',
    cancelConfirmBody: 'キャンセルすると元に戻せません。',
    cancelYes: 'キャンセルする',
    cancelNo: 'やめる',
    cancelling: 'キャンセルしています…',
    cancelled: '予約をキャンセルしました。',
    cancellation_closed: 'この予約は、オンラインではキャンセルできなくなりました。会場にお問い合わせください。',
    cancelUntil: (v) => `キャンセルは ${fmtDateTime('ja', v.at)} まで`,
    // every refusal a resident can meet, by its contract code
    not_eligible: 'この予約の対象者として登録されていません。入力内容（番号など）をお確かめください。',
    invalid_fields: '入力内容を確かめてください。',
    password_required: 'このイベントの予約には、パスワードが必要です。',
    wrong_password: 'パスワードが違います。',
    rate_limited: (v) => v.secs > 0 ? `アクセスが集中しています。${v.secs}秒ほど待ってからお試しください。` : 'アクセスが集中しています。少し待ってからお試しください。',
    unavailable: (v) => v.secs > 0 ? `ただいま混み合っています。${v.secs}秒後にもう一度お試しください。` : 'ただいま混み合っています。もう一度お試しください。',
    not_found: '見つかりません。URLをお確かめください。',
    not_attended: '来場が確認された予約にだけ、感想を送れます。',
    already_reviewed: 'この予約の感想は、すでに受け付けています。',
    slot_available: 'この日時には空きがあります。キャンセル待ちではなく、そのまま予約してください。',
    already_waiting: 'この日時のキャンセル待ちに、すでに登録されています。',
    waitlist_closed: 'この日時のキャンセル待ちは受け付けていません。',
    offer_expired: 'お取り置きの期限が過ぎました。',
    not_offered: 'まだ空きのご案内はありません。',
    too_large: '送信内容が大きすぎます。',
    malformed_json: '送信内容を読み取れませんでした。ページを読み込み直してください。',
    // queue
    queueLine: (v) => `順番待ち ${v.n} 番目です。`,
    queueAhead: (v) => v.secs > 0
      ? `あなたの前に ${Math.max(0, v.n - 1)} 人・約 ${Math.max(1, Math.ceil(v.secs / 60))} 分`
      : `あなたの前に ${Math.max(0, v.n - 1)} 人・まもなく`,
    // check-in
    checkinTitle: '受付用QRコード',
    checkinHelp: '当日、会場の受付でこのQRコードを見せるか、受付コードをお伝えください。',
    checkinCode: '受付コード',
    qrAlt: (v) => `受付用QRコード（${v.code}）`,
    qrFailed: 'QRコードを表示できませんでした。受付コードをお伝えください。',
    copy: 'コピー',
    copied: 'コピーしました。',
    copyFailed: 'コピーできませんでした。コードを選んでコピーしてください。',
    // review
    reviewTitle: 'ご感想をお聞かせください',
    reviewIntro: 'ご来場ありがとうございました。よろしければ評価とコメントをお寄せください。',
    rating: '評価',
    ratingHint: '5 がいちばん良い評価です。',
    rating1: 'とても不満',
    rating2: '不満',
    rating3: 'ふつう',
    rating4: '満足',
    rating5: 'とても満足',
    comment: 'コメント',
    charsLeft: (v) => v.n >= 0 ? `残り ${v.n} 文字` : `${-v.n} 文字多すぎます`,
    sendReview: '感想を送る',
    sendingReview: '送信中…',
    pickRating: '評価を選んでください。',
    reviewThanks: 'ご感想を受け付けました。ありがとうございました。',
    yourRating: (v) => `評価 ${v.n} / 5`,
    reason: (v) => REASONS.ja[v.r] || REASONS.ja.type,
    date: (v) => fmtDate('ja', v.d),
    dateShort: (v) => fmtShort('ja', v.d),
    chooseDate: '日付',
    dateTime: (v) => fmtDateTime('ja', v.at),
    range: (v) => fmtRange('ja', v.a, v.b),
    timeRange: (v) => `${hhmm(v.a)}–${hhmm(v.b)}`,
  },
  en: {
    site: 'yoyaku',
    switchTo: '日本語',
    switchLabel: '日本語に切り替え',
    skip: 'Skip to content',
    loading: 'Loading…',
    networkError: 'Could not connect. Check your connection and try again.',
    serverError: 'Something went wrong. Please try again in a moment.',
    busy: (v) => v.secs > 0 ? `We are very busy right now. Please try again in ${v.secs} seconds.` : 'We are very busy right now. Please try again.',
    busyRetry: (v) => `Send again (in ${v.secs} s)`,
    indexTitle: 'Events open for booking',
    indexIntro: 'Choose an event, then book a time.',
    noEvents: 'No events are open for booking right now.',
    venue: 'Venue',
    bookThis: 'Book',
    eventTitle: 'Event',
    notFound: 'Event not found. Please check the address.',
    backToList: 'All events',
    period: 'Booking period',
    opensAt: (v) => `Opens ${fmtDateTime('en', v.at)}`,
    closesAt: (v) => `until ${fmtDateTime('en', v.at)}`,
    cancelPolicy: (v) => `You can cancel up to ${v.h} hours before the start, on your booking page.`,
    limitPolicy: (v) => `Up to ${v.n} booking${v.n > 1 ? 's' : ''} per person.`,
    chooseSlot: '1. Choose a time',
    noSlots: 'No times are available.',
    seatsLeft: (v) => `${v.n} left`,
    full: 'Full',
    past: 'Past',
    yourDetails: '2. Your details',
    selected: 'Selected time',
    noneSelected: 'None yet',
    email: 'E-mail address',
    emailHint: 'We send the confirmation here.',
    requiredMark: 'required',
    optionalMark: 'optional',
    choose: 'Please choose',
    maxLen: (v) => `up to ${v.n} characters`,
    exampleHint: (v) => `format: ${v.p}`,
    submit: 'Book',
    submitting: 'Sending…',
    pickSlot: 'Please choose a time.',
    fixErrors: 'Please check the highlighted fields.',
    bookedTitle: 'You are booked',
    bookingNo: 'Booking number',
    when: 'Time',
    mailSent: (v) => `A confirmation mail was sent to ${v.email}.`,
    keepLink: 'You can view or cancel the booking with this link. Do not share it.',
    openBooking: 'View or cancel the booking',
    queued: 'You are in the queue. Please wait.',
    waiting: 'Please wait…',
    slot_full: 'This time is now full. Please choose another time.',
    already_booked: 'This person already holds a booking (the limit per person is reached).',
    booking_closed: 'Bookings are not open at the moment.',
    booking_closed_opens: (v) => `Bookings are not open at the moment. They open ${fmtDateTime('en', v.at)}.`,
    prerequisite_not_met: 'A required earlier booking (such as a first dose) is missing.',
    idempotency_conflict: 'The form changed. Please press “Book” again.',
    slotGone: 'The chosen time cannot be booked. Please choose another time.',
    slotsRefreshed: 'Availability updated.',
    secretTitle: 'Password required',
    secretIntro: 'This event needs the password you were given.',
    password: 'Password',
    unlock: 'Continue',
    unlockUnavailable: 'Password access is not available at the moment.',
    tooManyTries: (v) => `Too many attempts. Please wait about ${v.secs} seconds.`,
    bookingTitle: 'Your booking',
    bookingNotFound: 'Booking not found, or the link is wrong.',
    noToken: 'The link is not complete. Please open the link from your confirmation mail.',
    event: 'Event',
    status: 'Status',
    st_confirmed: 'Booked',
    st_cancelled: 'Cancelled',
    st_attended: 'Attended',
    st_no_show: 'Did not attend',
    createdAt: 'Booked at',
    yes: 'Yes',
    no: 'No',
    cancel: 'Cancel this booking',
    cancelConfirmTitle: 'Cancel this booking?',
    cancelConfirmBody: 'This cannot be undone.',
    cancelYes: 'Cancel booking',
    cancelNo: 'Keep it',
    cancelling: 'Cancelling…',
    cancelled: 'The booking is cancelled.',
    cancellation_closed: 'This booking can no longer be cancelled online. Please contact the venue.',
    cancelUntil: (v) => `Cancel online until ${fmtDateTime('en', v.at)}`,
    not_eligible: 'You are not on the list of people who can book this. Please check what you entered (such as your number).',
    invalid_fields: 'Please check the highlighted fields.',
    password_required: 'This event needs a password to book.',
    wrong_password: 'Wrong password.',
    rate_limited: (v) => v.secs > 0 ? `Too many requests. Please wait about ${v.secs} seconds and try again.` : 'Too many requests. Please wait a moment and try again.',
    unavailable: (v) => v.secs > 0 ? `We are very busy right now. Please try again in ${v.secs} seconds.` : 'We are very busy right now. Please try again.',
    not_found: 'Not found. Please check the address.',
    not_attended: 'Only a booking marked as attended can be reviewed.',
    already_reviewed: 'A review of this booking has already been received.',
    slot_available: 'This time has free seats: book it directly instead of joining the waiting list.',
    already_waiting: 'You are already on the waiting list for this time.',
    waitlist_closed: 'The waiting list for this time is closed.',
    offer_expired: 'The held seat has expired.',
    not_offered: 'No seat has been offered to you yet.',
    too_large: 'What you sent is too large.',
    malformed_json: 'What you sent could not be read. Please reload the page.',
    queueLine: (v) => `You are number ${v.n} in the queue.`,
    queueAhead: (v) => {
      const a = Math.max(0, v.n - 1);
      const who = `${a} ${a === 1 ? 'person' : 'people'} ahead of you`;
      return v.secs > 0 ? `${who} · about ${Math.max(1, Math.ceil(v.secs / 60))} min` : `${who} · any moment now`;
    },
    checkinTitle: 'Check-in QR code',
    checkinHelp: 'At the venue, show this QR code at the desk or give the check-in code.',
    checkinCode: 'Check-in code',
    qrAlt: (v) => `QR code for check-in (${v.code})`,
    qrFailed: 'The QR code could not be shown. Please give the check-in code at the desk.',
    copy: 'Copy',
    copied: 'Copied.',
    copyFailed: 'Could not copy. Please select the code and copy it.',
    reviewTitle: 'Tell us how it went',
    reviewIntro: 'Thank you for coming. If you like, leave a rating and a comment.',
    rating: 'Rating',
    ratingHint: '5 is the best.',
    rating1: 'Very poor',
    rating2: 'Poor',
    rating3: 'Fair',
    rating4: 'Good',
    rating5: 'Excellent',
    comment: 'Comment',
    charsLeft: (v) => v.n >= 0 ? `${v.n} characters left` : `${-v.n} characters too many`,
    sendReview: 'Send review',
    sendingReview: 'Sending…',
    pickRating: 'Please choose a rating.',
    reviewThanks: 'Thank you: your review was received.',
    yourRating: (v) => `Rating ${v.n} / 5`,
    reason: (v) => REASONS.en[v.r] || REASONS.en.type,
    date: (v) => fmtDate('en', v.d),
    dateShort: (v) => fmtShort('en', v.d),
    chooseDate: 'Date',
    dateTime: (v) => fmtDateTime('en', v.at),
    range: (v) => fmtRange('en', v.a, v.b),
    timeRange: (v) => `${hhmm(v.a)}–${hhmm(v.b)}`,
  },
};

let current = initialLang();
const listeners = [];

// A language chosen on this device wins; else the browser's preferred languages (what it sends
// as Accept-Language): the first of them that is Japanese or English; Japanese otherwise.
function initialLang() {
  try {
    const saved = localStorage.getItem(STORE);
    if (LANGS.includes(saved)) return saved;
  } catch (e) { /* storage blocked, or no browser (a unit check in node) */ }
  const nav = typeof navigator === 'undefined' ? null : navigator;
  return langFrom(nav ? [...(nav.languages || []), nav.language] : []);
}

export function langFrom(prefs) {
  for (const p of prefs) {
    if (typeof p !== 'string') continue;
    if (/^ja\b/i.test(p)) return 'ja';
    if (/^en\b/i.test(p)) return 'en';
  }
  return 'ja';
}

// The contract's error codes a resident can meet on these pages; each has a message in both
// languages (a unit check holds it to that).
export const CODES = [
  'slot_full', 'already_booked', 'booking_closed', 'prerequisite_not_met', 'not_eligible', 'invalid_fields',
  'password_required', 'wrong_password', 'rate_limited', 'unavailable', 'cancellation_closed', 'not_found',
  'idempotency_conflict', 'not_attended', 'already_reviewed', 'slot_available', 'already_waiting',
  'waitlist_closed', 'offer_expired', 'not_offered', 'too_large', 'malformed_json',
];
export const REASON_CODES = Object.keys(REASONS.ja);

// The text of key in language l (whatever the page shows now), or null when l has no such key.
export function textIn(l, key, vars) {
  const v = DICT[l] && DICT[l][key];
  if (v == null) return null;
  return typeof v === 'function' ? v(vars || {}) : v;
}

export function lang() {
  return current;
}

// Adds more keys for one page (e.g. the staff console's own words).
export function extend(more) {
  for (const l of LANGS) Object.assign(DICT[l], more[l] || {});
}

export function has(key) {
  return key in DICT.ja && key in DICT.en;
}

export function t(key, vars) {
  const v = DICT[current][key] ?? DICT.ja[key] ?? key;
  return typeof v === 'function' ? v(vars || {}) : v;
}

// Text in the page's language from an event value: a string, or {ja, en}.
export function pick(value, fallback = '') {
  if (value == null) return fallback;
  if (typeof value === 'string') return value;
  if (typeof value === 'object') return value[current] || value.ja || value.en || fallback;
  return String(value);
}

// Sets el's text to t(key, vars) now and after every language switch.
export function tx(el, key, vars) {
  delete el.dataset.ja;
  delete el.dataset.en;
  el.dataset.i18n = key;
  if (vars) el.dataset.i18nVars = JSON.stringify(vars);
  else delete el.dataset.i18nVars;
  el.textContent = t(key, vars);
  return el;
}

// Sets el's text from an event value ({ja, en} or a string), kept up to date on a switch.
export function txValue(el, value, fallback = '') {
  if (value && typeof value === 'object') {
    el.dataset.ja = value.ja || value.en || fallback;
    el.dataset.en = value.en || value.ja || fallback;
  } else {
    delete el.dataset.ja;
    delete el.dataset.en;
  }
  delete el.dataset.i18n;
  el.textContent = pick(value, fallback);
  return el;
}

// Sets an attribute (aria-label, placeholder…) to t(key, vars), kept up to date on a switch.
export function txAttr(el, attr, key, vars) {
  const map = JSON.parse(el.dataset.i18nAttr || '{}');
  map[attr] = [key, vars || null];
  el.dataset.i18nAttr = JSON.stringify(map);
  el.setAttribute(attr, t(key, vars));
  return el;
}

export function apply(root = document) {
  document.documentElement.lang = current;
  for (const el of root.querySelectorAll('[data-i18n]')) {
    const vars = el.dataset.i18nVars ? JSON.parse(el.dataset.i18nVars) : undefined;
    el.textContent = t(el.dataset.i18n, vars);
  }
  for (const el of root.querySelectorAll('[data-ja]')) {
    el.textContent = current === 'en' ? el.dataset.en : el.dataset.ja;
  }
  for (const el of root.querySelectorAll('[data-i18n-attr]')) {
    const map = JSON.parse(el.dataset.i18nAttr);
    for (const [attr, [key, vars]] of Object.entries(map)) el.setAttribute(attr, t(key, vars || undefined));
  }
}

export function setLang(l) {
  if (!LANGS.includes(l) || l === current) return;
  current = l;
  try { localStorage.setItem(STORE, l); } catch (e) { /* storage blocked */ }
  apply();
  for (const fn of listeners) fn(l);
}

export function onChange(fn) {
  listeners.push(fn);
}

// Wires the header's toggle button (#lang-toggle) and translates the static page.
export function init() {
  const btn = document.getElementById('lang-toggle');
  if (btn) {
    const label = () => {
      btn.textContent = t('switchTo');
      btn.setAttribute('aria-label', t('switchLabel'));
      btn.setAttribute('lang', current === 'ja' ? 'en' : 'ja');
    };
    label();
    btn.addEventListener('click', () => setLang(current === 'ja' ? 'en' : 'ja'));
    onChange(label);
  }
  apply();
}

export { pad2 };
