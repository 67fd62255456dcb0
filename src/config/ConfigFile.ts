import { closeSync, openSync } from 'node:fs';
import type { Entry } from '../core/Entry.js';
import { readAnyLayout, type ReadOptions } from './anyLayout.js';
import { bufferChunks, CHUNK, fileChunks, type ChunkSource } from './chunks.js';
import { ConfigError } from './ConfigError.js';
import { ConfigWriter } from './ConfigWriter.js';
import type { ConfigDocument } from './ConfigDocument.js';
import type { Sections } from './schema.js';
import { readOwnLayout } from './ownLayout.js';

/**
 * Reads and validates a configuration file, streaming (a registry may be larger than any string or buffer
 * can be); undefined when it does not exist. With `onEntry`, entries are handed over one at a time and the
 * document holds none (the broker's own layout is then read as any other).
 */
export function readConfigFile(path: string, opts: ReadOptions = {}): ConfigDocument | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(`Cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    return readChunks(() => fileChunks(fd, CHUNK, opts.onRead), path, opts);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const e = err as NodeJS.ErrnoException;
    if (e.code) throw new ConfigError(`Cannot read ${path}: ${e.message}`);
    // A single value larger than a string can be (about 512 MiB).
    if (err instanceof RangeError) throw new ConfigError(`Cannot read ${path}: a value in it is too large to load (${err.message})`);
    throw err;
  } finally {
    closeSync(fd);
  }
}

/** The same for a text in memory (small files, tests). */
export function parseConfigText(text: string, path: string, opts: ReadOptions & { chunkBytes?: number } = {}): ConfigDocument {
  const buf = Buffer.from(text);
  return readChunks(() => bufferChunks(buf, opts.chunkBytes), path, opts);
}

function readChunks(source: () => ChunkSource, path: string, opts: ReadOptions): ConfigDocument {
  if (!opts.onEntry) {
    // The broker's own files are read without parsing every entry; if the checksum does not match (a hand
    // edit), the file is read again in full.
    const own = readOwnLayout(source(), opts.name ?? path);
    if (own) return own;
  }
  return readAnyLayout(source(), path, opts);
}

/** The file text of a small registry (the snapshotter streams a ConfigWriter plan instead). */
export function serializeConfig(sections: Sections, entries: Iterable<Entry>, revision: number): string {
  return new ConfigWriter().serialize(sections, entries, revision).toString('utf8');
}
