import { crc32 } from 'node:zlib';
import type { Entry } from '../registry/Entry.js';
import type { ConfigDocument } from './ConfigFile.js';
import { REGISTRY_SECTION, type Sections } from './defaults.js';
import { validateConfig } from './validate.js';

/**
 * Fast reading of a bpbroker.json the broker wrote itself. serializeConfig writes each registry entry on one
 * line from its stored (compact, canonical) JSON, each entry's revisions on one line in the same order, and a
 * CRC-32 of the entry lines in `_registry.entries_crc32`. When the checksum matches, the lines are exactly
 * what the broker wrote, so each entry's text can be taken as it is: no JSON.parse of 100,000 objects and no
 * re-serialization (they were two thirds of start-up, and the parsed objects most of its memory).
 * Anything else (an old file, a hand edit, another layout) returns undefined: the caller parses it fully.
 */

export const SERVICES_OPEN = '\n  "services": {\n';
export const SERVICES_CLOSE = '\n  }';
const REVISIONS_OPEN = '\n    "revisions": {\n';
const REVISIONS_CLOSE = '\n    }';
export const CHECKSUM_KEY = 'entries_crc32';

export function entriesChecksum(lines: string): number {
  return crc32(lines);
}

export function parseOwnLayout(text: string, path: string): ConfigDocument | undefined {
  const open = text.indexOf(SERVICES_OPEN);
  if (open < 0) return undefined;
  const start = open + SERVICES_OPEN.length;
  // Entry lines are indented by four spaces and hold no raw newline, so this is the end of the section.
  const end = text.indexOf(SERVICES_CLOSE, start);
  const regOpen = text.indexOf(`\n  "${REGISTRY_SECTION}": {\n`, end);
  const revOpen = regOpen < 0 ? -1 : text.indexOf(REVISIONS_OPEN, regOpen);
  if (end < 0 || revOpen < 0) return undefined;
  const revStart = revOpen + REVISIONS_OPEN.length;
  const revEnd = text.indexOf(REVISIONS_CLOSE, revStart);
  if (revEnd < 0) return undefined;

  const lines = text.slice(start, end);
  let doc: unknown;
  try {
    // The rest of the file is small: parse it with the two big blocks emptied.
    doc = JSON.parse(`${text.slice(0, start - 1)}}${text.slice(end + SERVICES_CLOSE.length, revStart - 1)}}${text.slice(revEnd + REVISIONS_CLOSE.length)}`);
  } catch {
    return undefined;
  }
  const registry = (doc as Record<string, Record<string, unknown>> | null)?.[REGISTRY_SECTION];
  if (typeof registry?.[CHECKSUM_KEY] !== 'number' || registry[CHECKSUM_KEY] !== entriesChecksum(lines)) return undefined;
  validateConfig(doc, path);

  const settings: Record<string, unknown> = {};
  const entries = new Map<string, Entry>();
  const entryLines = lines.split(',\n');
  const revLines = text.slice(revStart, revEnd).split(',\n');
  let r = 0;
  for (const line of entryLines) {
    const key = keyOf(line, 4);
    if (!key) return undefined;
    const value = line.slice(key.end + 2);
    if (key.name.startsWith('_')) {
      settings[key.name] = JSON.parse(value);
      continue;
    }
    // Revision lines follow the entry lines one for one.
    const revLine = revLines[r++];
    const revKey = revLine === undefined ? undefined : keyOf(revLine, 6);
    const revs = revKey && revKey.name === key.name ? /^\[(\d+), (\d+)\]$/.exec(revLine!.slice(revKey.end + 2)) : null;
    if (!revs) return undefined;
    const stamps = stampsOf(value);
    entries.set(key.name, {
      name: key.name,
      json: value,
      lastWriteIp: stamps.ip,
      lastWriteTs: stamps.ts,
      createRevision: Number(revs[1]),
      modRevision: Number(revs[2]),
    });
  }
  if (r !== revLines.length) return undefined;

  const sections: Sections = {};
  for (const [name, body] of Object.entries(doc as Record<string, Record<string, unknown>>)) {
    if (name === REGISTRY_SECTION) continue;
    sections[name] = name === 'services' ? settings : body;
  }
  const revision = typeof registry.revision === 'number' ? registry.revision : 0;
  return { sections, entries, revision, ownLayout: true };
}

/** The JSON string key at `indent` of a `"key": value` line: its text and the index just past its closing quote. */
function keyOf(line: string, indent: number): { name: string; end: number } | undefined {
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
  return { name: quoted.includes('\\') ? (JSON.parse(quoted) as string) : quoted.slice(1, -1), end: i + 1 };
}

const STAMPS = /,?"last_write_ip":("[^"\\]*"),"last_write_ts":(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\}$/;

/**
 * The writer's stamps of canonical entry JSON. The broker writes them as the last two members; the final `}`
 * then closes the top-level object, and an unescaped quote cannot occur inside a string, so a match is the
 * top-level members. Other entries (stamps elsewhere, from an old file) are parsed.
 */
function stampsOf(json: string): { ip: string; ts: number } {
  const m = STAMPS.exec(json);
  if (m) return { ip: m[1]!.slice(1, -1), ts: Number(m[2]) };
  const data = JSON.parse(json) as Record<string, unknown>;
  return {
    ip: typeof data.last_write_ip === 'string' ? data.last_write_ip : '',
    ts: typeof data.last_write_ts === 'number' ? data.last_write_ts : 0,
  };
}
