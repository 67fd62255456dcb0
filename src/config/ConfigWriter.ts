import { crc32 } from 'node:zlib';
import type { Entry } from '../core/Entry.js';
import { REGISTRY_SECTION, type Sections } from './schema.js';
import { CHECKSUM_KEY, LAPSED_KEY } from './ownLayout.js';

interface Chunk {
  /** The entries the chunk was encoded from: reused while every one is the same object (entries are immutable). */
  entries: Entry[];
  /** `,\n    "name": json` per entry, UTF-8. */
  lines: Buffer;
  /** `,\n      "name": [create, mod]` per entry (`[create, mod, ttl]` for a leased one), UTF-8. */
  revisions: Buffer;
}

/** Names needing no escape in JSON: written between quotes as they are (JSON.stringify for the rest). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: JSON must escape exactly these code points
const PLAIN = /^[^"\\\u0000-\u001f\ud800-\udfff]*$/;
const quote = (s: string): string => (PLAIN.test(s) ? `"${s}"` : JSON.stringify(s));

/** About one entry in CHUNK_SPREAD ends a chunk, chosen by its name so that a delete or an insert moves no boundary. */
const CHUNK_SPREAD = 512;
function endsChunk(name: string): boolean {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return (h >>> 0) % CHUNK_SPREAD === 0;
}

/**
 * Encoded chunks kept between snapshots, at most this many bytes in all and this many per chunk. A registry
 * larger than that (they may hold gigabytes) has its other chunks encoded again while they are written,
 * a piece at a time, rather than a second copy of itself kept in memory.
 */
const CACHE_BYTES = 64 << 20;
const CACHED_CHUNK_MAX = 4 << 20;
/** Entries not cached are handed to the file in pieces of about this size. */
const PIECE_BYTES = 1 << 20;

/** Bookkeeping beside the entries. */
export interface PlanExtra {
  /** Entries whose lease ran out but whose delete could not be saved: expired on the next start. */
  lapsed?: string[] | undefined;
}

/** One bpbroker.json to write: its parts are produced in file order as they are consumed, never all at once. */
export interface FilePlan {
  revision: number;
  parts(): Generator<Buffer, void, undefined>;
}

/**
 * Writes bpbroker.json (the layout ownLayout.ts reads back) and remembers the encoded entry lines in chunks,
 * so that the next snapshot re-encodes only the chunks whose entries changed. With 100,000 entries a snapshot
 * every half second re-encoded 25 MB each time: a third of the broker's CPU under a steady write load.
 */
export class ConfigWriter {
  private chunks = new Map<Entry, Chunk>();

  /**
   * The file for these sections and entries. The entries are read now, synchronously, so the plan is the
   * registry at one instant (entries are immutable objects); their text is encoded while the plan is written.
   */
  plan(sections: Sections, entries: Iterable<Entry>, revision: number, extra: PlanExtra = {}): FilePlan {
    const groups: Entry[][] = [];
    let group: Entry[] = [];
    for (const e of entries) {
      group.push(e);
      if (endsChunk(e.name)) {
        groups.push(group);
        group = [];
      }
    }
    if (group.length > 0) groups.push(group);
    const previous = this.chunks;
    const next = new Map<Entry, Chunk>();
    let cached = 0;
    /** The group's chunk, from the cache or newly encoded if it fits the cache; undefined to stream it. */
    const chunkOf = (g: Entry[]): Chunk | undefined => {
      const old = previous.get(g[0]!);
      if (old && sameEntries(old.entries, g) && cached + old.lines.length <= CACHE_BYTES) {
        cached += old.lines.length;
        next.set(g[0]!, old);
        return old;
      }
      let estimate = 0;
      for (const e of g) estimate += e.json.length + e.name.length + 8;
      if (estimate > CACHED_CHUNK_MAX || cached + estimate > CACHE_BYTES) return undefined;
      const chunk = encodeChunk(g);
      cached += chunk.lines.length;
      next.set(g[0]!, chunk);
      return chunk;
    };
    const setChunks = (): void => {
      this.chunks = next;
    };

    const names = Object.keys(sections);
    if (!names.includes('services')) names.push('services');
    const at = names.indexOf('services');
    const section = (name: string): string => `  ${JSON.stringify(name)}: ${indent(JSON.stringify(sections[name], null, 2))}`;
    const settings = Object.entries(sections.services ?? {})
      .map(([k, v]) => `,\n    ${JSON.stringify(k)}: ${JSON.stringify(v)}`)
      .join('');
    const hasLines = settings !== '' || groups.length > 0;

    function* parts(): Generator<Buffer, void, undefined> {
      const head = [...names.slice(0, at).map(section), hasLines ? '  "services": {\n' : '  "services": {}'].join(',\n');
      yield Buffer.from(`{\n${head}`);
      // The services block: settings then entries, each line after the first led by `,\n`; its CRC is written below.
      let checksum = 0;
      let first = true;
      const block = function* (b: Buffer): Generator<Buffer, void, undefined> {
        if (b.length === 0) return;
        const out = first ? b.subarray(2) : b;
        first = false;
        checksum = crc32(out, checksum);
        yield out;
      };
      yield* block(Buffer.from(settings));
      const streamed = new Set<Entry[]>();
      for (const g of groups) {
        const chunk = chunkOf(g);
        if (chunk) {
          yield* block(chunk.lines);
          continue;
        }
        streamed.add(g);
        const pieces = new Pieces();
        for (const e of g) {
          const full = pieces.add(`,\n    ${quote(e.name)}: `, e.json);
          if (full) yield* block(full);
        }
        yield* block(pieces.take());
      }
      if (hasLines) yield Buffer.from('\n  }');
      const lapsed = extra.lapsed?.length ? `\n    "${LAPSED_KEY}": ${JSON.stringify(extra.lapsed)},` : '';
      const registry =
        `  "${REGISTRY_SECTION}": {\n    "revision": ${revision},\n    "${CHECKSUM_KEY}": ${checksum},${lapsed}\n    "revisions": ` +
        (groups.length > 0 ? '{\n' : '{}');
      yield Buffer.from(`,\n${[...names.slice(at + 1).map(section), registry].join(',\n')}`);
      let firstRev = true;
      for (const g of groups) {
        const revisions = streamed.has(g) ? encodeRevisions(g) : next.get(g[0]!)!.revisions;
        yield firstRev ? revisions.subarray(2) : revisions;
        firstRev = false;
      }
      if (groups.length > 0) yield Buffer.from('\n    }');
      yield Buffer.from('\n  }\n}\n');
      setChunks();
    }
    return { revision, parts };
  }

  /** The whole file as one buffer: for small files and tests (the snapshotter writes a plan's parts). */
  serialize(sections: Sections, entries: Iterable<Entry>, revision: number, extra: PlanExtra = {}): Buffer {
    return Buffer.concat([...this.plan(sections, entries, revision, extra).parts()]);
  }
}

function sameEntries(a: Entry[], b: Entry[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function encodeChunk(entries: Entry[]): Chunk {
  const pieces = new Pieces(Number.MAX_SAFE_INTEGER);
  for (const e of entries) pieces.add(`,\n    ${quote(e.name)}: `, e.json);
  return { entries, lines: pieces.take(), revisions: encodeRevisions(entries) };
}

/**
 * Encodes text into buffers of about `size` bytes. Each string is written into place: a big entry is
 * never concatenated into a new string first (Buffer.from of a large or concatenated string is several
 * times slower than writing it into a buffer).
 */
class Pieces {
  private texts: string[] = [];
  private bytes = 0;

  constructor(private readonly size = PIECE_BYTES) {}

  /** Adds a line's two parts; returns the piece before them when they would make it larger than `size`. */
  add(head: string, json: string): Buffer | undefined {
    const n = head.length + json.length; // a lower bound of the UTF-8 length: enough to decide
    const full = this.bytes > 0 && this.bytes + n > this.size ? this.take() : undefined;
    this.texts.push(head, json);
    this.bytes += n;
    return full;
  }

  take(): Buffer {
    let total = 0;
    for (const t of this.texts) total += Buffer.byteLength(t);
    const buf = Buffer.allocUnsafe(total);
    let at = 0;
    for (const t of this.texts) at += buf.write(t, at);
    this.texts = [];
    this.bytes = 0;
    return buf;
  }
}

function encodeRevisions(entries: Entry[]): Buffer {
  let revisions = '';
  for (const e of entries) revisions += `,\n      ${quote(e.name)}: [${e.createRevision}, ${e.modRevision}${e.ttl ? `, ${e.ttl}` : ''}]`;
  return Buffer.from(revisions);
}

function indent(text: string): string {
  return text.replace(/\n/g, '\n  ');
}
