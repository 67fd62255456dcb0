import { crc32 } from 'node:zlib';
import type { Entry } from '../registry/Entry.js';
import type { ChunkSource } from './chunks.js';
import type { ConfigDocument } from './ConfigFile.js';
import { REGISTRY_SECTION, type Sections } from './defaults.js';
import { setOwn } from './ownKeys.js';
import { validateConfig } from './validate.js';

/**
 * Fast reading of a bpbroker.json the broker wrote itself (ConfigWriter), line by line from a stream. The
 * writer puts each registry entry on one line from its stored (compact, canonical) JSON, each entry's revisions
 * on one line in the same order, and a CRC-32 of the entry lines in `_registry.entries_crc32`. When the
 * checksum matches, the lines are exactly what the broker wrote, so each entry's text is taken as it is: no
 * parse of every entry (that was two thirds of start-up, and the parsed objects most of its memory).
 * Anything else (an old file, a hand edit, another layout) returns undefined: the caller reads it in full.
 */

export const CHECKSUM_KEY = 'entries_crc32';

const SERVICES_OPEN = '  "services": {';
const REVISIONS_OPEN = '    "revisions": {';
const REVISIONS_CLOSE = '    }';
/** The small parts of the file (settings sections) are kept as text and parsed once; a file whose small parts
 * are not small is not one the broker wrote. */
const SMALL_PARTS_MAX = 16 << 20;
const NEWLINE = Buffer.from('\n');
const REVS = /^\[(\d+), (\d+)\],?$/;

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
  if (line?.toString('latin1') !== '{') return undefined;
  small.push('{');
  for (;;) {
    line = lines.next();
    if (!line) return undefined;
    const s = line.toString('utf8');
    if (s === SERVICES_OPEN) break;
    if (!keep(s)) return undefined;
  }

  let checksum = 0;
  let first = true;
  const settings: Record<string, unknown> = {};
  const found: Array<{ name: string; json: string }> = [];
  let close: string;
  for (;;) {
    line = lines.next();
    if (!line) return undefined;
    if (line.length <= 4 && line[0] === 0x20 && line[1] === 0x20 && line[2] === 0x7d /* } */) {
      close = line.toString('latin1');
      break;
    }
    checksum = crc32(line, first ? checksum : crc32(NEWLINE, checksum));
    first = false;
    const s = line.toString('utf8');
    const key = keyOf(s, 4);
    if (!key) return undefined;
    const value = s.endsWith(',') ? s.slice(key.end + 2, -1) : s.slice(key.end + 2);
    if (key.name.startsWith('_')) {
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
  if (found.length === 0 || close !== '  },') return undefined;
  small.push(`${SERVICES_OPEN}},`);

  for (;;) {
    line = lines.next();
    if (!line) return undefined;
    const s = line.toString('utf8');
    if (s === REVISIONS_OPEN) break;
    if (!keep(s)) return undefined;
  }
  const revisions: Array<[number, number]> = [];
  for (;;) {
    line = lines.next();
    if (!line) return undefined;
    const s = line.toString('utf8');
    if (s === REVISIONS_CLOSE) break;
    // Revision lines follow the entry lines one for one.
    const key = keyOf(s, 6);
    const expected = found[revisions.length];
    if (!key || !expected || key.name !== expected.name) return undefined;
    const m = REVS.exec(s.slice(key.end + 2));
    if (!m) return undefined;
    revisions.push([Number(m[1]), Number(m[2])]);
  }
  if (revisions.length !== found.length) return undefined;
  small.push(`${REVISIONS_OPEN}}`);
  for (line = lines.next(); line; line = lines.next()) if (!keep(line.toString('utf8'))) return undefined;

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
    const [c, m] = revisions[i]!;
    const stamps = stampsOf(json);
    entries.set(name, { name, json, lastWriteIp: stamps.ip, lastWriteTs: stamps.ts, createRevision: c, modRevision: m });
  }
  const sections: Sections = {};
  for (const [name, body] of Object.entries(doc)) if (name !== REGISTRY_SECTION) setOwn(sections, name, body);
  const revision = typeof registry.revision === 'number' ? registry.revision : 0;
  return { sections, entries, revision, ownLayout: true };
}

/** Lines of a chunk source, without their `\n`; a line within one chunk is a slice of it, not a copy. */
class LineReader {
  private chunk: Buffer = Buffer.alloc(0);
  private pos = 0;

  constructor(private readonly source: ChunkSource) {}

  next(): Buffer | undefined {
    let parts: Buffer[] | undefined;
    for (;;) {
      if (this.pos >= this.chunk.length) {
        const c = this.source.next();
        if (!c) return parts ? Buffer.concat(parts) : undefined;
        this.chunk = c;
        this.pos = 0;
        continue;
      }
      const nl = this.chunk.indexOf(0x0a, this.pos);
      if (nl >= 0) {
        const piece = this.chunk.subarray(this.pos, nl);
        this.pos = nl + 1;
        return parts ? Buffer.concat([...parts, piece]) : piece;
      }
      (parts ??= []).push(this.chunk.subarray(this.pos));
      this.pos = this.chunk.length;
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
