import { crc32 } from 'node:zlib';
import type { Entry } from '../core/Entry.js';
import { CHUNK, type ChunkSource } from './chunks.js';
import type { ConfigDocument } from './ConfigDocument.js';
import { setOwn } from './ownKeys.js';
import { isServicesSetting, REGISTRY_SECTION, type Sections, validateConfig } from './schema.js';

/**
 * Fast reading of a bpbroker.json the broker wrote itself (ConfigWriter), line by line from a stream. The
 * writer puts each registry entry on one line from its stored (compact, canonical) JSON, each entry's revisions
 * on one line in the same order, and a CRC-32 of the entry lines in `_registry.entries_crc32`. When the
 * checksum matches, the lines are exactly what the broker wrote, so each entry's text is taken as it is: no
 * parse of every entry (that was two thirds of start-up, and the parsed objects most of its memory).
 * Anything else (an old file, a hand edit, another layout) returns undefined: the caller reads it in full.
 */

export const CHECKSUM_KEY = 'entries_crc32';
/** `_registry.lapsed`: names whose lease had run out when the file was written (expired on the next start). */
export const LAPSED_KEY = 'lapsed';

const SERVICES_OPEN = '  "services": {';
const REVISIONS_OPEN = '    "revisions": {';
const REVISIONS_CLOSE = '    }';
/** The small parts of the file (settings sections) are kept as text and parsed once; a file whose small parts
 * are not small is not one the broker wrote. */
const SMALL_PARTS_MAX = 16 << 20;
const NEWLINE = '\n';
const REVS = /^\[(\d+), (\d+)(?:, (\d+))?\],?$/;

export function readOwnLayout(source: ChunkSource, path: string): ConfigDocument | undefined {
  const lines = new LineReader(source);
  // Everything but the two big blocks (entries, revisions), which are replaced by `{}`.
  const small: string[] = [];
  let smallBytes = 0;
  const keep = (s: string): boolean => {
    small.push(s);
    smallBytes += s.length;
    return smallBytes <= SMALL_PARTS_MAX;
  };

  let line = lines.next();
  if (line !== '{') return undefined;
  small.push('{');
  for (;;) {
    line = lines.next();
    if (line === undefined) return undefined;
    if (line === SERVICES_OPEN) break;
    if (!keep(line)) return undefined;
  }

  // The checksum covers the block's lines joined by newlines: each piece of text is folded in whole when the
  // reader moves past it (its last newline held back until a block line follows it), the rest at the close.
  let checksum = 0;
  let from = -1;
  let newlineOwed = false;
  lines.onPiece = (text) => {
    if (from < 0) return;
    checksum = crc32(text.slice(from, text.length - 1), checksum);
    from = 0;
    newlineOwed = true;
  };
  const settings: Record<string, unknown> = {};
  const found: Array<{ name: string; json: string }> = [];
  let close: string;
  for (;;) {
    line = lines.next();
    if (line === undefined) return undefined;
    if (line.length <= 4 && line.startsWith('  }')) {
      if (from >= 0 && lines.lineStart > from) checksum = crc32(lines.text.slice(from, lines.lineStart - 1), checksum);
      close = line;
      break;
    }
    if (from < 0) from = lines.lineStart;
    else if (newlineOwed) checksum = crc32(NEWLINE, checksum);
    newlineOwed = false;
    const key = keyOf(line, 4);
    if (!key) return undefined;
    const value = line.endsWith(',') ? line.slice(key.end + 2, -1) : line.slice(key.end + 2);
    if (isServicesSetting(key.name)) {
      try {
        setOwn(settings, key.name, JSON.parse(value));
      } catch {
        return undefined;
      }
      continue;
    }
    // An entry is one object on one line; anything else (an indented file) is not the broker's layout.
    if (value.charCodeAt(0) !== 0x7b || value.charCodeAt(value.length - 1) !== 0x7d) return undefined;
    found.push({ name: key.name, json: value });
  }
  lines.onPiece = undefined;
  if (found.length === 0 || close !== '  },') return undefined;
  small.push(`${SERVICES_OPEN}},`);

  for (;;) {
    line = lines.next();
    if (line === undefined) return undefined;
    if (line === REVISIONS_OPEN) break;
    if (!keep(line)) return undefined;
  }
  const revisions: Array<[number, number, number | undefined]> = [];
  for (;;) {
    line = lines.next();
    if (line === undefined) return undefined;
    if (line === REVISIONS_CLOSE) break;
    // Revision lines follow the entry lines one for one.
    const key = keyOf(line, 6);
    const expected = found[revisions.length];
    if (!key || !expected || key.name !== expected.name) return undefined;
    const m = REVS.exec(line.slice(key.end + 2));
    if (!m) return undefined;
    revisions.push([Number(m[1]), Number(m[2]), m[3] === undefined ? undefined : Number(m[3])]);
  }
  if (revisions.length !== found.length) return undefined;
  small.push(`${REVISIONS_OPEN}}`);
  for (line = lines.next(); line !== undefined; line = lines.next()) if (!keep(line)) return undefined;

  let doc: Record<string, Record<string, unknown>>;
  try {
    doc = JSON.parse(small.join('\n')) as Record<string, Record<string, unknown>>;
  } catch {
    return undefined;
  }
  const registry = doc?.[REGISTRY_SECTION];
  if (typeof registry?.[CHECKSUM_KEY] !== 'number' || registry[CHECKSUM_KEY] !== checksum) return undefined;
  doc.services = settings;
  validateConfig(doc, path);

  const entries = new Map<string, Entry>();
  for (let i = 0; i < found.length; i++) {
    const { name, json } = found[i]!;
    const [c, m, ttl] = revisions[i]!;
    const stamps = stampsOf(json);
    entries.set(name, { name, json, lastWriteIp: stamps.ip, lastWriteTs: stamps.ts, createRevision: c, modRevision: m, ...(ttl ? { ttl } : {}) });
  }
  const sections: Sections = {};
  for (const [name, body] of Object.entries(doc)) if (name !== REGISTRY_SECTION) setOwn(sections, name, body);
  const revision = typeof registry.revision === 'number' ? registry.revision : 0;
  return { sections, entries, revision, ownLayout: true, lapsed: lapsedOf(registry[LAPSED_KEY]) };
}

/**
 * Lines of a chunk source as strings, without their `\n`. Bytes are read into one reused buffer, and each
 * read is cut after its last newline (the rest moves to the buffer's start for the next read), so a piece is
 * whole lines and no character is split; it is decoded once, and a line is a slice of it (an entry's text
 * keeps its piece alive, as it would keep a whole-file string). Nothing else is allocated per read.
 */
class LineReader {
  /** The current piece. */
  text = '';
  /** Where the line `next()` returned last starts in `text`. */
  lineStart = 0;
  /** Called with the current piece just before the next one replaces it. */
  onPiece: ((text: string) => void) | undefined;
  private pos = 0;
  private buf = Buffer.allocUnsafe(CHUNK);
  /** Bytes at the start of `buf` that follow the last newline read. */
  private carry = 0;

  constructor(private readonly source: ChunkSource) {}

  next(): string | undefined {
    for (;;) {
      const nl = this.text.indexOf('\n', this.pos);
      if (nl >= 0) {
        this.lineStart = this.pos;
        this.pos = nl + 1;
        return this.text.slice(this.lineStart, nl);
      }
      if (!this.fill()) {
        if (this.pos >= this.text.length) return undefined;
        this.lineStart = this.pos; // a last line without its newline
        this.pos = this.text.length;
        return this.text.slice(this.lineStart);
      }
    }
  }

  private fill(): boolean {
    for (;;) {
      if (this.carry === this.buf.length) {
        // One line longer than the buffer: grow it.
        const bigger = Buffer.allocUnsafe(this.buf.length * 2);
        this.buf.copy(bigger, 0, 0, this.carry);
        this.buf = bigger;
      }
      const n = this.source.readInto(this.buf, this.carry);
      const end = this.carry + n;
      const last = n === 0 ? end - 1 : this.buf.lastIndexOf(0x0a, end - 1);
      if (n === 0 && end === 0) return false;
      if (last < 0) {
        this.carry = end;
        continue;
      }
      this.onPiece?.(this.text);
      this.text = this.buf.toString('utf8', 0, last + 1);
      this.pos = 0;
      this.buf.copyWithin(0, last + 1, end);
      this.carry = end - last - 1;
      return true;
    }
  }
}

/** The JSON string key at `indent` of a `"key": value` line: its text and the index just past its closing quote. */
function keyOf(line: string, indent: number): { name: string; end: number } | undefined {
  for (let i = 0; i < indent; i++) if (line.charCodeAt(i) !== 32) return undefined;
  if (line.charCodeAt(indent) !== 34 /* " */) return undefined;
  let i = indent + 1;
  for (;;) {
    i = line.indexOf('"', i);
    if (i < 0) return undefined;
    let backslashes = 0;
    while (line.charCodeAt(i - 1 - backslashes) === 92 /* \ */) backslashes++;
    if (backslashes % 2 === 0) break;
    i++;
  }
  if (line.charCodeAt(i + 1) !== 58 /* : */ || line.charCodeAt(i + 2) !== 32) return undefined;
  const quoted = line.slice(indent, i + 1);
  try {
    return { name: quoted.includes('\\') ? (JSON.parse(quoted) as string) : quoted.slice(1, -1), end: i + 1 };
  } catch {
    return undefined;
  }
}

const STAMPS = /,?"last_write_ip":("[^"\\]*"),"last_write_ts":(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\}$/;
/** The stamps are at most this far from the end (an address and a number): only that tail is searched. */
const STAMPS_TAIL = 256;

/**
 * The writer's stamps of canonical entry JSON. The broker writes them as the last two members; the final `}`
 * then closes the top-level object, and an unescaped quote cannot occur inside a string, so a match is the
 * top-level members. Other entries (stamps elsewhere, from an old file) are parsed.
 */
function stampsOf(json: string): { ip: string; ts: number } {
  const m = STAMPS.exec(json.length > STAMPS_TAIL ? json.slice(-STAMPS_TAIL) : json);
  if (m) return { ip: m[1]!.slice(1, -1), ts: Number(m[2]) };
  const data = JSON.parse(json) as Record<string, unknown>;
  return {
    ip: typeof data.last_write_ip === 'string' ? data.last_write_ip : '',
    ts: typeof data.last_write_ts === 'number' ? data.last_write_ts : 0,
  };
}

/** `_registry.lapsed` as read: names, or none. */
export function lapsedOf(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((n): n is string => typeof n === 'string') : [];
}
