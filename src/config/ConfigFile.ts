import { readFileSync } from 'node:fs';
import type { Entry } from '../registry/Entry.js';
import { atomicWriteFile } from '../registry/atomicWrite.js';
import { ConfigError } from './ConfigError.js';
import { REGISTRY_SECTION, type Sections } from './defaults.js';
import { isPlainObject } from './merge.js';
import { ConfigWriter } from './ConfigWriter.js';
import { parseOwnLayout } from './ownLayout.js';
import { validateConfig } from './validate.js';

/**
 * The bpbroker.json file format: top-level sections, with registry entries as the members of `services`
 * that do not start with `_`. `_registry` keeps each entry's revisions so they survive a restart.
 */
export interface ConfigDocument {
  sections: Sections;
  entries: Map<string, Entry>;
  /** Registry revision the file was written at (0 for files written by other tools). */
  revision: number;
  /** Written by this broker and unchanged since (its entry checksum matched). */
  ownLayout?: boolean;
}

/** Reads and validates a configuration file; undefined when it does not exist. */
export function readConfigFile(path: string): ConfigDocument | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(`Cannot read ${path}: ${(err as Error).message}`);
  }
  return parseConfigText(text, path);
}

export function parseConfigText(text: string, path: string): ConfigDocument {
  const own = parseOwnLayout(text, path);
  if (own) return own;
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(
      `${path} is not valid JSON (${(err as Error).message}). Fix it, or restore a backup: \`bpbroker backup list\`, then \`bpbroker backup restore --from NAME\`.`,
    );
  }
  validateConfig(doc, path);
  return splitDocument(doc);
}

function splitDocument(doc: Record<string, Record<string, unknown>>): ConfigDocument {
  const sections: Sections = {};
  const entries = new Map<string, Entry>();
  const bookkeeping = doc[REGISTRY_SECTION] ?? {};
  const fileRevision = typeof bookkeeping.revision === 'number' ? bookkeeping.revision : 0;
  const revisions = isPlainObject(bookkeeping.revisions) ? bookkeeping.revisions : {};
  let next = fileRevision;
  for (const [name, body] of Object.entries(doc)) {
    if (name === REGISTRY_SECTION) continue;
    if (name !== 'services') {
      sections[name] = body;
      continue;
    }
    const settings: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(body)) {
      if (key.startsWith('_')) {
        settings[key] = value;
        continue;
      }
      const data = value as Record<string, unknown>;
      const rev = revisions[key];
      // Entries from files without revisions (old files, configure) are numbered in file order.
      const [c, m] = Array.isArray(rev) && rev.length === 2 ? (rev as [number, number]) : [++next, next];
      entries.set(key, {
        name: key,
        json: JSON.stringify(data),
        lastWriteIp: typeof data.last_write_ip === 'string' ? data.last_write_ip : '',
        lastWriteTs: typeof data.last_write_ts === 'number' ? data.last_write_ts : 0,
        createRevision: c,
        modRevision: m,
      });
    }
    sections.services = settings;
  }
  return { sections, entries, revision: Math.max(fileRevision, next) };
}

/**
 * The file text. Sections are indented for people; each registry entry takes one line, from the JSON it is
 * stored as, so the cost is a concatenation rather than a re-serialization of every entry. The snapshotter
 * keeps one ConfigWriter, which also reuses the lines of entries that did not change.
 */
export function serializeConfig(sections: Sections, entries: Iterable<Entry>, revision: number): string {
  return new ConfigWriter().serialize(sections, entries, revision).toString('utf8');
}

/** Atomically replaces the file (mode 0600: it holds access keys). */
export function writeConfigFile(path: string, text: string | Buffer, beforeRename?: () => Promise<void>): Promise<void> {
  return atomicWriteFile(path, text, { mode: 0o600, beforeRename });
}
