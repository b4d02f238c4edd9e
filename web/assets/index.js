// The front page: published events (GET /v1/events), each linking to its booking page.
import * as i18n from './i18n.js';
import { call, retryAfter, enc, h } from './api.js';

i18n.init();
i18n.onChange(() => { document.title = i18n.t('site'); });
document.title = i18n.t('site');

const status = document.getElementById('status');
const list = document.getElementById('events');

function setStatus(kind, key, vars) {
  status.className = `notice ${kind}`;
  status.replaceChildren(key ? i18n.tx(h('span'), key, vars) : '');
}

async function load() {
  const r = await call('GET', '/v1/events');
  if (r.status === 0) return setStatus('err', 'networkError');
  if (r.status === 429 || r.status === 503) {
    setStatus('warn', r.status === 429 ? 'rate_limited' : 'unavailable', { secs: retryAfter(r) });
    setTimeout(load, retryAfter(r) * 1000);
    return;
  }
  if (r.status !== 200 || !r.json || !Array.isArray(r.json.events)) return setStatus('err', 'serverError');
  const events = r.json.events;
  if (events.length === 0) return setStatus('info', 'noEvents');
  setStatus('', null);
  list.replaceChildren(...events.map((e) => {
    const venue = e.venue ? h('span', {}, i18n.tx(h('span', { class: 'sr-only' }), 'venue'), e.venue) : null;
    return h('li', {}, h('a', { class: 'event-link', href: `/events/${enc(e.slug)}` },
      i18n.txValue(h('strong'), e.title, e.slug), venue));
  }));
}

load();
