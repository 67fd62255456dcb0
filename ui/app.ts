/**
 * The dashboard's script: signs in with the admin key (kept in sessionStorage, sent as a bearer token, never
 * put in a URL), then polls /_ui/api/status and the shown page of /_ui/api/entries every two seconds.
 * Entry data arrives as the text the broker stores and is shown as that text (indented, never parsed).
 */

interface ExtensionInfo {
  namespace: string;
  file: string;
  methods: string[];
  error?: string;
  version?: number;
  codeHash?: string;
  loadedAt?: string;
  lastError?: { message: string; at: string };
}

interface Status {
  version: string;
  pid: number;
  startedAt: string;
  uptimeSecs: number;
  config: string;
  listenIp: string;
  port: number;
  grpcPort: number;
  entries: number;
  revision: number;
  registryBytes: number;
  notReady: string[];
  extensions: ExtensionInfo[];
  recentErrors: Array<{ time: string; level: 'warn' | 'error'; message: string; detail: string }>;
}

interface EntryRow {
  name: string;
  data: string;
  createRevision: number;
  modRevision: number;
  lastWriteIp: string;
  lastWriteTs: number;
  ttl?: number;
}

interface EntriesPage {
  revision: number;
  nextAfter: string;
  entries: EntryRow[];
}

const KEY_ITEM = 'bpbroker.adminKey';
const POLL_MS = 2000;
const PAGE_SIZE = 25;

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing`);
  return el as T;
};

/** Where the registry view is: the prefix searched and the page (the names after which each page starts). */
const view = { prefix: '', pages: [''], selected: '' };
let shownRevisions = new Map<string, number>();
/** Recent errors whose fields were opened: they stay open across refreshes. */
const openDetails = new Set<string>();
let timer: number | undefined;
let generation = 0;

class Refused extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

async function getJson<T>(path: string): Promise<T> {
  const key = sessionStorage.getItem(KEY_ITEM);
  const res = await fetch(path, { headers: key ? { Authorization: `Bearer ${key}` } : {}, cache: 'no-store' });
  const body = (await res.json().catch(() => ({}))) as { message?: string };
  if (!res.ok) throw new Refused(res.status, body.message ?? `${res.status} ${res.statusText}`);
  return body as T;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: { text?: string; className?: string; title?: string } = {}, ...children: Node[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (props.text !== undefined) node.textContent = props.text;
  if (props.className) node.className = props.className;
  if (props.title) node.title = props.title;
  node.append(...children);
  return node;
}

function duration(secs: number): string {
  const d = Math.floor(secs / 86400);
  const h = Math.floor((secs % 86400) / 3600);
  const m = Math.floor((secs % 3600) / 60);
  const s = secs % 60;
  return d > 0 ? `${d}d ${h}h ${m}m` : h > 0 ? `${h}h ${m}m ${s}s` : m > 0 ? `${m}m ${s}s` : `${s}s`;
}

/** Local time as YYYY-MM-DD HH:MM:SS: unambiguous, and it sorts. */
function localTime(iso: string | number): string {
  const d = new Date(iso);
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

function bytes(n: number): string {
  return n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / (1 << 20)).toFixed(1)} MiB`;
}

/**
 * Indents JSON text without parsing it, so every number, string and member keeps the exact text the broker
 * stores (a parse would round 12345678901234567890 and drop repeated members).
 */
export function indentJson(text: string): string {
  let out = '';
  let depth = 0;
  let inString = false;
  const newline = (): string => `\n${'  '.repeat(depth)}`;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      out += c;
      if (c === '\\') out += text[++i] ?? '';
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') {
      inString = true;
      out += c;
    } else if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      if (text[i + 1] === close) {
        out += c + close;
        i++;
      } else {
        depth++;
        out += c + newline();
      }
    } else if (c === '}' || c === ']') {
      depth--;
      out += newline() + c;
    } else if (c === ',') out += c + newline();
    else if (c === ':') out += ': ';
    else if (!/\s/.test(c)) out += c;
  }
  return out;
}

function renderOverview(s: Status): void {
  const health = $('health');
  health.hidden = false;
  health.textContent = s.notReady.length === 0 ? 'ready' : 'not ready';
  health.className = `pill ${s.notReady.length === 0 ? 'ok' : 'bad'}`;
  health.title = s.notReady.join('\n');
  const card = (label: string, value: string, id: string, wide = false): HTMLElement => {
    const c = el('div', { className: wide ? 'card wide' : 'card' }, el('div', { className: 'label', text: label }), el('div', { className: 'value', text: value }));
    c.dataset.card = id;
    return c;
  };
  $('overview').replaceChildren(
    card('Version', s.version, 'version'),
    card('Uptime', duration(s.uptimeSecs), 'uptime'),
    card('Ports', s.grpcPort === s.port ? `${s.port} (API, gRPC, UDP)` : `${s.port} (API, UDP) · gRPC ${s.grpcPort}`, 'ports'),
    card('Listening on', s.listenIp || 'all addresses', 'listen'),
    card('Entries', String(s.entries), 'entries'),
    card('Revision', String(s.revision), 'revision'),
    card('Registry size', bytes(s.registryBytes), 'bytes'),
    card('Process', `pid ${s.pid}`, 'pid'),
    card('Configuration file', s.config, 'config', true),
    card('Readiness', s.notReady.length === 0 ? 'ready for writes' : s.notReady.join('; '), 'ready', true),
  );
}

function renderExtensions(list: ExtensionInfo[]): void {
  const rows = list.map((x) => {
    const tr = el(
      'tr',
      {},
      el('td', { className: 'mono', text: x.namespace, title: x.file }),
      el('td', { className: 'mono', text: x.methods.join(', ') || '—' }),
      el('td', { text: x.version === undefined ? 'not loaded' : `#${x.version} · ${x.codeHash ?? ''}` }),
      el('td', { className: 'time', text: x.loadedAt ? localTime(x.loadedAt) : '—' }),
      el('td', x.lastError ? { className: 'error', text: `${localTime(x.lastError.at)}: ${x.lastError.message}` } : { text: '—' }),
    );
    tr.dataset.namespace = x.namespace;
    return tr;
  });
  $('extensions').querySelector('tbody')!.replaceChildren(...(rows.length ? rows : [emptyRow(5, 'No extensions')]));
}

function renderErrors(list: Status['recentErrors']): void {
  const items = list.map((e) => {
    // One line of the fields (a stack can be long); a click shows them all.
    const detail = el('div', { className: `mono detail-text${openDetails.has(e.time + e.message) ? ' open' : ''}`, text: e.detail, title: 'Click to show all' });
    detail.addEventListener('click', () => {
      const id = e.time + e.message;
      if (detail.classList.toggle('open')) openDetails.add(id);
      else openDetails.delete(id);
    });
    return el('li', { className: e.level }, el('div', {}, el('span', { className: 'muted', text: `${localTime(e.time)} ${e.level.toUpperCase()} ` }), el('span', { text: e.message })), detail);
  });
  $('errors').replaceChildren(...(items.length ? items : [el('li', { className: 'muted', text: 'None since the broker started' })]));
}

function emptyRow(cols: number, text: string): HTMLTableRowElement {
  const td = el('td', { className: 'empty', text });
  td.colSpan = cols;
  return el('tr', {}, td);
}

function renderEntries(page: EntriesPage): void {
  const previous = shownRevisions;
  shownRevisions = new Map(page.entries.map((e) => [e.name, e.modRevision]));
  const rows = page.entries.map((e) => {
    const tr = el(
      'tr',
      {},
      el('td', { className: 'mono name', text: e.name }),
      el('td', { className: 'revision', text: `${e.modRevision}`, title: `created at revision ${e.createRevision}` }),
      el('td', { className: 'mono', text: e.lastWriteIp }),
      el('td', { className: 'time', text: localTime(e.lastWriteTs * 1000) }),
      el('td', { text: e.ttl === undefined ? '—' : `${e.ttl}s left` }),
      el('td', { className: 'mono data', text: e.data, title: e.data }),
    );
    tr.dataset.name = e.name;
    tr.dataset.revision = String(e.modRevision);
    if (e.name === view.selected) tr.classList.add('selected');
    const before = previous.get(e.name);
    if (before !== undefined && before !== e.modRevision) tr.classList.add('changed');
    tr.addEventListener('click', () => {
      view.selected = e.name;
      for (const r of $('entries').querySelectorAll('tr.selected')) r.classList.remove('selected');
      tr.classList.add('selected');
      renderDetail(e);
    });
    return tr;
  });
  $('entries').querySelector('tbody')!.replaceChildren(...(rows.length ? rows : [emptyRow(6, view.prefix ? `No entry starts with "${view.prefix}"` : 'The registry is empty')]));
  const index = view.pages.length;
  $('page').textContent = `page ${index}`;
  $<HTMLButtonElement>('prev').disabled = index <= 1;
  const next = $<HTMLButtonElement>('next');
  next.disabled = page.nextAfter === '';
  next.dataset.after = page.nextAfter;
  if (view.selected) {
    const selected = page.entries.find((e) => e.name === view.selected);
    if (selected) renderDetail(selected);
    else $('detail-meta').replaceChildren(el('dt', { text: 'State' }), el('dd', { className: 'error', text: 'not on this page (deleted or expired?)' }));
  }
}

function renderDetail(e: EntryRow): void {
  const detail = $('detail');
  detail.hidden = false;
  detail.dataset.name = e.name;
  detail.dataset.revision = String(e.modRevision);
  $('detail-name').textContent = e.name;
  const pair = (k: string, v: string): Node[] => [el('dt', { text: k }), el('dd', { text: v })];
  $('detail-meta').replaceChildren(
    ...pair('Revision', `${e.modRevision} (created at ${e.createRevision})`),
    ...pair('Last writer', e.lastWriteIp),
    ...pair('Last write', `${localTime(e.lastWriteTs * 1000)} (${e.lastWriteTs})`),
    ...pair('Lease', e.ttl === undefined ? 'none' : `${e.ttl}s left`),
  );
  const text = indentJson(e.data);
  const pre = $('detail-data');
  if (pre.textContent !== text) pre.textContent = text;
}

function showProblem(message: string | undefined): void {
  const p = $('problem');
  p.hidden = message === undefined;
  p.textContent = message ?? '';
}

function showLogin(message: string): void {
  window.clearTimeout(timer);
  generation++;
  $('app').hidden = true;
  $('health').hidden = true;
  $('logout').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message;
  $<HTMLInputElement>('key').focus();
}

function entriesPath(): string {
  const q = new URLSearchParams({ prefix: view.prefix, after: view.pages.at(-1)!, limit: String(PAGE_SIZE) });
  return `api/entries?${q}`;
}

/** One refresh of everything shown; schedules the next while this sign-in lasts. */
async function refresh(): Promise<void> {
  const mine = generation;
  window.clearTimeout(timer);
  try {
    const [status, page] = await Promise.all([getJson<Status>('api/status'), getJson<EntriesPage>(entriesPath())]);
    if (mine !== generation) return;
    $('login').hidden = true;
    $('app').hidden = false;
    $('logout').hidden = sessionStorage.getItem(KEY_ITEM) === null;
    showProblem(undefined);
    renderOverview(status);
    renderEntries(page);
    renderExtensions(status.extensions);
    renderErrors(status.recentErrors);
    $('updated').textContent = `updated ${localTime(Date.now()).slice(11)}`;
  } catch (err) {
    if (mine !== generation) return;
    if (err instanceof Refused && (err.status === 401 || (err.status === 403 && err.message === 'Incorrect admin key'))) {
      const hadKey = sessionStorage.getItem(KEY_ITEM) !== null;
      sessionStorage.removeItem(KEY_ITEM);
      // "Admin key required" on the first visit says nothing the form does not; any other refusal is shown.
      showLogin(hadKey || err.status === 403 || !err.message.startsWith('Admin key required') ? err.message : '');
      return;
    }
    showProblem(err instanceof Error ? err.message : String(err));
  }
  if (mine === generation) timer = window.setTimeout(() => void refresh(), POLL_MS);
}

function restart(): void {
  generation++;
  void refresh();
}

function start(): void {
  $('login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input = $<HTMLInputElement>('key');
    sessionStorage.setItem(KEY_ITEM, input.value);
    input.value = '';
    restart();
  });
  $('logout').addEventListener('click', () => {
    sessionStorage.removeItem(KEY_ITEM);
    showLogin('Signed out');
  });
  $('search').addEventListener('submit', (ev) => {
    ev.preventDefault();
    view.prefix = $<HTMLInputElement>('prefix').value;
    view.pages = [''];
    restart();
  });
  $('next').addEventListener('click', () => {
    const after = $('next').dataset.after;
    if (after) view.pages.push(after);
    restart();
  });
  $('prev').addEventListener('click', () => {
    if (view.pages.length > 1) view.pages.pop();
    restart();
  });
  restart();
}

start();
