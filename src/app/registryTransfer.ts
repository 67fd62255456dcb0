/**
 * `bpbroker registry export` / `import`: a whole registry as JSON lines, between any two stores.
 *
 *   {"format":"bpbroker-registry","version":1,"backend":"embedded","revision":42,"time":"2026-01-02T03:04:05.000Z"}
 *   {"name":"web/1","ip":"10.0.0.5","ts":1767322800,"ttl":30,"json":{"port":8080,"last_write_ip":"10.0.0.5","last_write_ts":1767322800}}
 *   {"end":true,"entries":1}
 *
 * One line per entry, in name order (UTF-16 code units, as List answers), the reserved names (`_...`:
 * extensions' stores) among them. `json` is the entry's stored text spliced in as it is: never parsed and
 * written again, so `1.0`, `-0`, `1e400` and 20-digit ids keep their text. The last line tells a complete
 * file from a cut one. Memory stays bounded: a page of entries at a time out, a line at a time in.
 */
import { createReadStream, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { isServicesSetting, STORE_PREFIX } from '../config/schema.js';
import { BrokerError } from '../core/BrokerError.js';
import { compactJson, isJsonObject, splitMembers } from '../core/json.js';
import { noProgress, type Progress } from '../core/progress.js';
import type { Entry } from '../core/Entry.js';
import type { Store } from '../core/Store.js';

export const TRANSFER_FORMAT = 'bpbroker-registry';
export const TRANSFER_VERSION = 1;

/** A page of List: bounded by count and by bytes, whichever comes first. */
const PAGE_ENTRIES = 1000;
const PAGE_BYTES = 4 << 20;
/** Output is handed over in chunks of about this size. */
const CHUNK_CHARS = 256 << 10;
/** Writes in flight during an import: the embedded journal batches them into one fsync, etcd pipelines them. */
const WRITES_IN_FLIGHT = 64;
/** Names shown when an import is refused for names that exist. */
const NAMES_SHOWN = 5;

export interface TransferSummary {
  entries: number;
  /** UTF-8 bytes of the file, every line with its newline. */
  bytes: number;
}

export interface ImportSummary extends TransferSummary {
  /** Entries that existed in the target and were replaced (`overwrite`). */
  replaced: number;
}

/** Writes every entry of `store` to `out`, a chunk of text at a time (resolved once it is taken). */
export async function exportRegistry(store: Store, out: (text: string) => Promise<void>, progress: Progress = noProgress): Promise<TransferSummary> {
  const header = { format: TRANSFER_FORMAT, version: TRANSFER_VERSION, backend: store.kind, revision: store.revision, time: new Date().toISOString() };
  let chunk = `${JSON.stringify(header)}\n`;
  let bytes = 0;
  let entries = 0;
  const flush = async (): Promise<void> => {
    bytes += Buffer.byteLength(chunk);
    await out(chunk);
    chunk = '';
    progress.advance(bytes);
  };
  progress.phase(`Exporting the ${store.kind} registry`);
  for await (const e of inNameOrder(pages(store, false), pages(store, true))) {
    chunk += `${entryLine(e)}\n`;
    entries++;
    if (chunk.length >= CHUNK_CHARS) await flush();
  }
  chunk += `${JSON.stringify({ end: true, entries })}\n`;
  await flush();
  return { entries, bytes };
}

function entryLine(e: Entry): string {
  // Stored texts are compact; should one hold a line break (whitespace between tokens: JSON strings cannot
  // hold one), it goes, or it would end the line.
  const json = e.json.includes('\n') || e.json.includes('\r') ? compactJson(e.json) : e.json;
  const ttl = e.ttl ? `"ttl":${e.ttl},` : '';
  return `{"name":${JSON.stringify(e.name)},"ip":${JSON.stringify(e.lastWriteIp)},"ts":${JSON.stringify(e.lastWriteTs)},${ttl}"json":${json}}`;
}

/** The store's entries of one kind (reserved or not), a page at a time. */
async function* pages(store: Store, reserved: boolean): AsyncGenerator<Entry> {
  let after = '';
  for (;;) {
    const page = await store.list('', after, PAGE_ENTRIES, PAGE_BYTES, reserved);
    yield* page.entries;
    const last = page.entries.at(-1);
    if (!page.more || !last) return;
    after = last.name;
  }
}

/** Two name-ordered sequences as one (List gives the reserved names apart from the others). */
async function* inNameOrder(a: AsyncGenerator<Entry>, b: AsyncGenerator<Entry>): AsyncGenerator<Entry> {
  let x = await a.next();
  let y = await b.next();
  while (!x.done || !y.done) {
    if (y.done || (!x.done && x.value.name < y.value.name)) {
      yield x.value as Entry;
      x = await a.next();
    } else {
      yield y.value;
      y = await b.next();
    }
  }
}

export interface ImportOptions {
  /** Replace entries that exist in the target; without it, any existing name refuses the whole import. */
  overwrite?: boolean | undefined;
}

/** One entry line, checked; `json` is the text as it was in the file. */
interface EntryLine {
  name: string;
  ip: string;
  ts: number;
  ttl?: number | undefined;
  json: string;
}

const ENTRY_MEMBERS = new Set(['name', 'ip', 'ts', 'ttl', 'json']);

/**
 * Reads the export at `path` into `store`: first the whole file is checked (nothing is written when a line is
 * bad, or when a name exists in the target without `overwrite`), then each entry is written with its text,
 * writer's address and time as they were, a leased one with a new lease of its TTL. Revisions are the target's.
 */
export async function importRegistry(store: Store, path: string, opts: ImportOptions = {}, progress: Progress = noProgress): Promise<ImportSummary> {
  const size = statSync(path).size;
  const existing: string[] = [];
  let existingCount = 0;
  progress.phase(`Checking ${path}`, size);
  const checked = await readExport(path, progress, (e) => {
    if (opts.overwrite || !store.has(e.name)) return;
    if (existingCount++ < NAMES_SHOWN) existing.push(JSON.stringify(e.name));
  });
  if (existingCount > 0) {
    const more = existingCount > NAMES_SHOWN ? ` and ${existingCount - NAMES_SHOWN} more` : '';
    throw new BrokerError(
      'ALREADY_EXISTS',
      `${existingCount} ${existingCount === 1 ? 'entry exists' : 'entries exist'} already in the ${store.kind} registry (${existing.join(', ')}${more}); nothing was imported. Import with --overwrite to replace them.`,
    );
  }

  progress.phase(`Importing into the ${store.kind} registry`, size);
  let replaced = 0;
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  const write = async (e: EntryLine): Promise<void> => {
    let found = false;
    await store.write(e.name, (existing) => {
      // Checked above; a writer that came meanwhile (a broker on the same etcd) is not overwritten unasked.
      if (existing && !opts.overwrite) throw new BrokerError('ALREADY_EXISTS', `${e.name} was written in the ${store.kind} registry during the import; import again with --overwrite to replace it`);
      found = existing !== undefined;
      return { json: e.json, ip: e.ip, ts: e.ts, fresh: true, ttl: e.ttl ?? 0 };
    });
    if (found) replaced++;
  };
  try {
    await readExport(path, progress, async (e) => {
      if (failure !== undefined) throw failure; // stops reading
      const p: Promise<void> = write(e)
        .catch((err: unknown) => {
          failure ??= err;
        })
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
      if (inFlight.size >= WRITES_IN_FLIGHT) await Promise.race(inFlight);
    });
  } finally {
    await Promise.all(inFlight);
  }
  if (failure !== undefined) throw failure;
  return { entries: checked.entries, bytes: checked.bytes, replaced };
}

/** Reads an export through, checking every line, and hands each entry over (waiting for `onEntry`). */
async function readExport(path: string, progress: Progress, onEntry: (e: EntryLine) => void | Promise<void>): Promise<TransferSummary> {
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  let n = 0;
  let bytes = 0;
  let entries = 0;
  let previous: string | undefined;
  let end: number | undefined;
  const bad = (why: string): BrokerError => new BrokerError('INVALID_ARGUMENT', `${path} line ${n}: ${why}; nothing was imported`);
  for await (const line of lines) {
    n++;
    bytes += Buffer.byteLength(line) + 1;
    if (end !== undefined) throw bad(`after the end line (line ${end})`);
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw bad(line.trim() === '' ? 'empty line' : `not JSON (${(err as Error).message})`);
    }
    if (!isJsonObject(value)) throw bad('not a JSON object');
    if (n === 1) {
      checkHeader(value, bad);
      continue;
    }
    if (value.end === true) {
      if (value.entries !== entries) throw bad(`the end line counts ${String(value.entries)} entries, the file holds ${entries}`);
      end = n;
      continue;
    }
    const e = entryOf(line, value, bad);
    if (previous !== undefined && !(e.name > previous)) throw bad(`${JSON.stringify(e.name)} is ${e.name === previous ? 'there twice' : 'out of order'}: an export lists each name once, in name order`);
    previous = e.name;
    entries++;
    await onEntry(e);
    progress.advance(bytes);
  }
  progress.advance(bytes);
  if (n === 0) throw new BrokerError('INVALID_ARGUMENT', `${path} is empty: not a registry export`);
  if (end === undefined) throw new BrokerError('INVALID_ARGUMENT', `${path} ends at line ${n} without its end line: the export did not finish (export again); nothing was imported`);
  return { entries, bytes };
}

function checkHeader(h: Record<string, unknown>, bad: (why: string) => BrokerError): void {
  if (h.format !== TRANSFER_FORMAT) throw bad(`not a registry export (its first line must have "format":"${TRANSFER_FORMAT}")`);
  if (h.version !== TRANSFER_VERSION) throw bad(`format version ${JSON.stringify(h.version)}, this bpbroker reads version ${TRANSFER_VERSION}`);
}

function entryOf(line: string, v: Record<string, unknown>, bad: (why: string) => BrokerError): EntryLine {
  for (const k of Object.keys(v)) if (!ENTRY_MEMBERS.has(k)) throw bad(`unknown member ${JSON.stringify(k)}`);
  if (typeof v.name !== 'string' || v.name === '') throw bad('"name" must be a non-empty string');
  if (isServicesSetting(v.name)) throw bad(`${JSON.stringify(v.name)} is no entry name: of the names starting with "_" only extensions' stores (${STORE_PREFIX}...) are entries`);
  if (typeof v.ip !== 'string') throw bad('"ip" must be a string');
  if (typeof v.ts !== 'number') throw bad('"ts" must be a number');
  if (v.ttl !== undefined && !(Number.isSafeInteger(v.ttl) && (v.ttl as number) > 0)) throw bad('"ttl" must be a whole number of seconds above 0');
  if (!isJsonObject(v.json)) throw bad('"json" must be a JSON object');
  // The entry's text as the file has it (JSON.parse above only checked it): whitespace outside strings
  // goes, so a hand-edited line still gives a compact text.
  const members = splitMembers(compactJson(line));
  if (members.length !== Object.keys(v).length) throw bad('a member appears twice');
  const json = members.find((m) => m.name === 'json')!.value;
  return { name: v.name, ip: v.ip, ts: v.ts, ttl: v.ttl as number | undefined, json };
}
