import type { Entry } from '../core/Entry.js';
import type { ChunkSource } from './chunks.js';
import { ConfigError } from './ConfigError.js';
import type { ConfigDocument } from './ConfigDocument.js';
import { JsonScanner } from './JsonScanner.js';
import { LAPSED_KEY, lapsedOf } from './ownLayout.js';
import { isPlainObject } from './merge.js';
import { setOwn } from './ownKeys.js';
import { isServicesSetting, REGISTRY_SECTION, type Sections, settingError, validateConfig } from './schema.js';

/** One registry entry as a file holds it: compact JSON text, numbers as written. */
export interface FileEntry {
  name: string;
  json: string;
  ip: string;
  ts: number;
}

export interface ReadOptions {
  /** Receives each entry as it is read instead of the document keeping them (a validation passes a no-op). */
  onEntry?: (entry: FileEntry) => void;
  /** How a malformed file is named in errors and what to do about it. */
  errors?: ReadErrors;
  /** The name errors give the file (default: its path). */
  name?: string;
  /** Hears of the bytes read so far and the file's size (a file of gigabytes takes a while). */
  onRead?: (bytesRead: number, fileBytes: number) => void;
}

export interface ReadErrors {
  /** `${name} is not valid JSON (${detail})${hint}` */
  notJson(detail: string): ConfigError;
  notObject(): ConfigError;
}

/** The errors of a configuration file: its path and how to restore a backup. */
export function fileErrors(path: string): ReadErrors {
  return {
    notJson: (detail) =>
      new ConfigError(
        `${path} is not valid JSON (${detail}). Fix it, or restore a backup: \`bpbroker backup list\`, then \`bpbroker backup restore --from NAME\`.`,
      ),
    notObject: () => new ConfigError(`Invalid configuration in ${path}: the file must hold one JSON object`),
  };
}

/**
 * Reads a configuration file of any layout (old broker files, hand edits, `configure` input) a value at a
 * time: the top-level object is split into sections, and `services` and `_registry.revisions` into members,
 * so that no string or buffer ever holds more than one value. Sections are settings (JSON.parse); an entry
 * keeps its own text, compacted, so that its numbers are stored exactly as written.
 */
export function readAnyLayout(source: ChunkSource, path: string, opts: ReadOptions = {}): ConfigDocument {
  const fileName = opts.name ?? path;
  const errors = opts.errors ?? fileErrors(fileName);
  const scanner = new JsonScanner(source, (what, at) => {
    throw errors.notJson(`${what} at byte ${at}`);
  });
  const parse = (text: Buffer, at: number): unknown => {
    try {
      return JSON.parse(text.toString('utf8'));
    } catch (err) {
      throw errors.notJson(`${(err as Error).message}, in the value at byte ${at}`);
    }
  };

  const first = scanner.peek();
  if (first !== 0x7b) {
    // Valid JSON that is not an object gets the same answer as before; anything else is not JSON.
    if (first === -1) throw errors.notJson('the file is empty');
    if (first === 0x5b || first === 0x22 || first === 0x2d || (first >= 0x30 && first <= 0x39) || first === 0x74 || first === 0x66 || first === 0x6e) {
      throw errors.notObject();
    }
    throw errors.notJson(`unexpected character at byte ${scanner.position}`);
  }

  const sections: Sections = {};
  let settings: Record<string, unknown> = {};
  let found: FileEntry[] = [];
  const byName = new Map<string, number>();
  let fileRevision = 0;
  const revisions = new Map<string, number[]>();
  let lapsed: string[] = [];
  const keep = opts.onEntry === undefined;
  const expectObject = (key: string): void => {
    if (scanner.peek() !== 0x7b) {
      const at = scanner.position;
      throw settingError(fileName, key, 'expected an object', parse(scanner.value(false), at));
    }
  };

  scanner.members((section, sectionAt) => {
    if (section === 'services') {
      expectObject('services');
      setOwn(sections, 'services', {}); // keeps the section's place among the others
      // A repeated section replaces the earlier one, as JSON.parse would have it.
      settings = {};
      found = [];
      byName.clear();
      scanner.members((key, at) => {
        if (isServicesSetting(key)) {
          setOwn(settings, key, parse(scanner.value(false), at));
          return;
        }
        const name = key;
        const text = scanner.value(true).toString('utf8');
        let data: unknown;
        try {
          data = JSON.parse(text);
        } catch (err) {
          throw errors.notJson(`${(err as Error).message}, in services.${name} at byte ${at}`);
        }
        if (!isPlainObject(data)) throw settingError(fileName, `services.${name}`, 'expected an object (a registry entry)', data);
        const entry: FileEntry = {
          name,
          json: text,
          ip: typeof data.last_write_ip === 'string' ? data.last_write_ip : '',
          ts: typeof data.last_write_ts === 'number' ? data.last_write_ts : 0,
        };
        if (!keep) return opts.onEntry!(entry);
        const i = byName.get(name);
        if (i === undefined) {
          byName.set(name, found.length);
          found.push(entry);
        } else found[i] = entry;
      });
      return;
    }
    if (section === REGISTRY_SECTION) {
      expectObject(REGISTRY_SECTION);
      revisions.clear();
      scanner.members((key, at) => {
        if (key === 'revisions' && scanner.peek() === 0x7b) {
          scanner.members((name, at2) => {
            const rev = parse(scanner.value(false), at2);
            if (keep && Array.isArray(rev) && (rev.length === 2 || rev.length === 3) && rev.every((n) => Number.isSafeInteger(n))) revisions.set(name, rev as number[]);
          });
          return;
        }
        const value = parse(scanner.value(false), at);
        if (key === 'revision' && typeof value === 'number') fileRevision = value;
        if (key === LAPSED_KEY) lapsed = lapsedOf(value);
      });
      return;
    }
    setOwn(sections, section, parse(scanner.value(false), sectionAt));
  });
  scanner.end();

  if (Object.hasOwn(sections, 'services')) setOwn(sections, 'services', settings);
  validateConfig(sections, fileName);

  // Entries from files without revisions (old files, configure input) are numbered in file order.
  const entries = new Map<string, Entry>();
  let next = fileRevision;
  for (const e of found) {
    const [c, m, ttl] = revisions.get(e.name) ?? [++next, next];
    entries.set(e.name, { name: e.name, json: e.json, lastWriteIp: e.ip, lastWriteTs: e.ts, createRevision: c!, modRevision: m!, ...(ttl ? { ttl } : {}) });
  }
  return { sections, entries, revision: Math.max(fileRevision, next), lapsed };
}
