import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { makeEntryJson } from '../core/entryJson.js';
import { Registry } from '../registry/Registry.js';
import { Snapshotter } from '../registry/Snapshotter.js';
import { silentLogger } from '../log/Logger.js';
import { ConfigError } from './ConfigError.js';
import type { Sections } from './defaults.js';
import { loadConfig } from './loadConfig.js';
import { acquireLock, type HeldLock } from './lockFile.js';
import { additiveMerge, isPlainObject } from './merge.js';
import { configPathFrom, journalDirFor } from './paths.js';
import { validateConfig } from './validate.js';

export interface ConfigureOptions {
  home: string;
  configPath?: string | undefined;
  inputText: string;
  inputName: string;
  /** The caller (restore) already holds the file's lock. */
  heldLock?: HeldLock | undefined;
}

export interface ConfigureResult {
  path: string;
  applied: string[];
  untouched: string[];
}

/**
 * `bpbroker configure`: strictly additive. A value is applied only where the file has none; existing values and
 * registry entries stay as they are. The journal of a broker that stopped without folding it is folded first,
 * so nothing acknowledged is lost. Refused while a broker runs with the same file (it would overwrite us); the
 * file's lock is held throughout, so no broker starts halfway through.
 */
export async function configure(opts: ConfigureOptions): Promise<ConfigureResult> {
  let input: unknown;
  try {
    input = JSON.parse(opts.inputText);
  } catch (err) {
    throw new ConfigError(`${opts.inputName} is not valid JSON: ${(err as Error).message}`);
  }
  if (!isPlainObject(input)) throw new ConfigError(`${opts.inputName} must hold a JSON object`);
  // The input must be a valid configuration by itself, even where its values would be left untouched.
  validateConfig(input, opts.inputName);

  // Held, not only checked, and taken before the file is read: a broker or another configure starting or
  // stopping meanwhile would overwrite what we write, or we what it wrote.
  const path = configPathFrom(opts.home, opts.configPath);
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  if (opts.heldLock?.configPath === path) return configureLocked(opts, input);
  const lock = await acquireLock(path, 'configure');
  try {
    return await configureLocked(opts, input);
  } finally {
    lock.release();
  }
}

async function configureLocked(opts: ConfigureOptions, input: Record<string, unknown>): Promise<ConfigureResult> {
  const loaded = loadConfig({ home: opts.home, configPath: opts.configPath });
  const registry = await Registry.open({ journalDir: journalDirFor(loaded.path), snapshot: { revision: loaded.revision, entries: loaded.entries.values() } });
  try {
    const current: Record<string, unknown> = { ...loaded.fileSections };
    const services: Record<string, unknown> = { ...(loaded.fileSections.services ?? {}) };
    for (const e of registry.view().entries) services[e.name] = JSON.parse(e.json);
    current.services = services;
    const { merged, applied, untouched } = additiveMerge(current, input);
    validateConfig(merged, opts.inputName);

    const sections: Sections = {};
    for (const [k, v] of Object.entries(merged)) if (k !== 'services' && k !== '_registry') sections[k] = v as Record<string, unknown>;
    const settings: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(merged.services as Record<string, unknown>)) {
      if (name.startsWith('_')) {
        settings[name] = value;
        continue;
      }
      const data = value as Record<string, unknown>;
      const json = JSON.stringify(data);
      if (registry.peek(name)?.json === json) continue;
      const { last_write_ip: ip, last_write_ts: ts, ...rest } = data;
      const entryJson = typeof ip === 'string' && typeof ts === 'number' ? makeEntryJson(JSON.stringify(rest), ip, ts) : json;
      await registry.put(name, entryJson, typeof ip === 'string' ? ip : '', typeof ts === 'number' ? ts : 0).durable;
    }
    sections.services = settings;
    await new Snapshotter(loaded.path, registry, () => sections, silentLogger).writeNow();
    return { path: loaded.path, applied, untouched };
  } finally {
    await registry.close();
  }
}
