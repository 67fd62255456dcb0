import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { joinMembers, splitMembers, type Member } from '../core/json.js';
import { noProgress, type Progress } from '../core/progress.js';
import type { Entry } from '../core/Entry.js';
import { Registry } from '../store/embedded/Registry.js';
import { commitTemp, writeParts, writeTemp } from '../fs/atomicWrite.js';
import type { FileEntry, ReadErrors, ReadOptions } from '../config/anyLayout.js';
import { ConfigError } from '../config/ConfigError.js';
import { parseConfigText, readConfigFile } from '../config/ConfigFile.js';
import { ConfigWriter } from '../config/ConfigWriter.js';
import { loadConfig } from '../config/loadConfig.js';
import { acquireLock, type HeldLock, LockHeldError } from '../config/lockFile.js';
import { additiveMerge, isPlainObject, ownValue } from '../config/merge.js';
import { setOwn } from '../config/ownKeys.js';
import type { ConfigureInput } from './configureInput.js';
import { configureRunning } from './runningBroker.js';
import { configPathFrom, journalDirFor } from '../config/paths.js';
import { type Sections, validateConfig } from '../config/schema.js';

export interface ConfigureResult {
  path: string;
  applied: string[];
  untouched: string[];
  /** The pid of the running broker that applied the change (and saved it), when one held the file. */
  runningBroker?: number;
}

export interface ConfigureOptions {
  home: string;
  configPath?: string | undefined;
  input: ConfigureInput;
  inputName: string;
  /** The caller (restore) already holds the file's lock. */
  heldLock?: HeldLock | undefined;
  /** Told of each step: an old broker's registry may take a while to read and write. */
  progress?: Progress | undefined;
}

/**
 * `bpbroker configure`: strictly additive. A value is applied only where the file has none; existing values and
 * registry entries stay as they are (an existing entry only gains the members it lacks). The journal of a broker
 * that stopped without folding it is folded in, so nothing acknowledged is lost. The file's lock is held
 * throughout (taken before the file is read), so no broker or other configure starts or stops halfway through.
 * The result replaces the file in one atomic step: an interrupted configure changes nothing. While a broker
 * runs with the file, settings (no registry entries) are handed to it instead, and it applies them the same way.
 */
export async function configure(opts: ConfigureOptions): Promise<ConfigureResult> {
  const path = configPathFrom(opts.home, opts.configPath);
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  if (opts.heldLock?.configPath === path) return configureLocked(opts);
  let lock: HeldLock;
  try {
    lock = await acquireLock(path, 'configure');
  } catch (err) {
    // A running broker takes settings itself (runningBroker.ts); a restore or another configure is waited out.
    if (!(err instanceof LockHeldError) || (err.holder.purpose !== undefined && err.holder.purpose !== 'broker')) throw err;
    const change = await configureRunning(opts.home, opts.configPath, path, err.holder, opts.input, opts.inputName);
    return { path, ...change, runningBroker: err.holder.pid };
  }
  try {
    return await configureLocked(opts);
  } finally {
    lock.release();
  }
}

async function configureLocked(opts: ConfigureOptions): Promise<ConfigureResult> {
  const errors: ReadErrors = {
    notJson: (detail) => new ConfigError(`${opts.inputName} is not valid JSON: ${detail}`),
    notObject: () => new ConfigError(`${opts.inputName} must hold a JSON object`),
  };
  const loaded = loadConfig({ home: opts.home, configPath: opts.configPath });
  const registry = await Registry.open({ journalDir: journalDirFor(loaded.path), snapshot: { revision: loaded.revision, entries: loaded.entries.values() } });
  try {
    // One pass over the input, a value at a time: its entries are collected, nothing is changed until the
    // whole input has been read and found valid (it must be a valid configuration by itself, even where its
    // values would be left untouched).
    const applied: string[] = [];
    const untouched: string[] = [];
    let revision = registry.revision;
    const added = new Map<string, Entry>();
    const changed = new Map<string, Entry>();
    const onEntry = (e: FileEntry): void => {
      const existing = registry.peek(e.name);
      if (!existing) {
        if (!added.has(e.name)) applied.push(`services.${e.name}`);
        added.set(e.name, toEntry(e, ++revision, undefined));
        return;
      }
      const json = mergeEntry(existing.json, e, `services.${e.name}`, applied, untouched);
      if (json !== undefined) changed.set(e.name, { ...toEntry({ ...e, json }, ++revision, existing), lastWriteIp: existing.lastWriteIp, lastWriteTs: existing.lastWriteTs });
    };
    const progress = opts.progress ?? noProgress;
    progress.phase(`Reading ${opts.inputName}`, 'path' in opts.input ? sizeOf(opts.input.path) : undefined);
    const read: ReadOptions = { onEntry, errors, name: opts.inputName, onRead: (n) => progress.advance(n) };
    const input = 'path' in opts.input ? readConfigFile(opts.input.path, read) : parseConfigText(opts.input.text, opts.inputName, read);
    if (!input) throw new ConfigError(`Cannot read ${opts.inputName}: no such file`);

    const sectionsMerge = additiveMerge({ ...loaded.fileSections }, input.sections);
    applied.unshift(...sectionsMerge.applied);
    untouched.unshift(...sectionsMerge.untouched);
    validateConfig(sectionsMerge.merged, opts.inputName);
    refuseEntriesOnEtcd(sectionsMerge.merged, [...added.keys(), ...changed.keys()], opts.inputName);
    const sections: Sections = {};
    for (const [k, v] of Object.entries(sectionsMerge.merged)) if (k !== '_registry') setOwn(sections, k, v);

    // Nothing new, no journal to fold, and the file already holds every default: leave it as it is.
    if (added.size === 0 && changed.size === 0 && applied.length === 0 && loaded.upToDate && registry.revision === loaded.revision) {
      return { path: loaded.path, applied, untouched };
    }
    const segment = await registry.rotateJournal();
    const entries = function* (): Generator<Entry> {
      for (const e of registry.view().entries) yield changed.get(e.name) ?? e;
      yield* added.values();
    };
    const plan = new ConfigWriter().plan(sections, entries(), revision);
    progress.phase(`Writing ${loaded.path}`);
    await commitTemp(await writeTemp(loaded.path, (fh) => writeParts(fh, plan.parts())), loaded.path);
    // The file now holds every change the journal had.
    await registry.dropJournalBefore(segment);
    return { path: loaded.path, applied, untouched };
  } finally {
    await registry.close();
  }
}

function sizeOf(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined; // reading it says why
  }
}

function toEntry(e: FileEntry, revision: number, existing: Entry | undefined): Entry {
  return {
    name: e.name,
    json: e.json,
    lastWriteIp: e.ip,
    lastWriteTs: e.ts,
    createRevision: existing?.createRevision ?? revision,
    modRevision: revision,
  };
}

const STAMPS = new Set(['last_write_ip', 'last_write_ts']);

/**
 * An input entry over an existing one: the members it lacks are added (objects member by member), the rest
 * untouched. Works on member texts, so numbers keep the text they were written with. Returns the new JSON,
 * or undefined when nothing changed.
 */
function mergeEntry(existingJson: string, input: FileEntry, path: string, applied: string[], untouched: string[]): string | undefined {
  const merged = mergeObjectText(existingJson, input.json, path, applied, untouched);
  if (merged === undefined) return undefined;
  // The writer's stamps stay the last two members, where readers look for them first.
  const members = splitMembers(merged);
  return joinMembers([...members.filter((m) => !STAMPS.has(m.name)), ...members.filter((m) => STAMPS.has(m.name))]);
}

function mergeObjectText(target: string, input: string, prefix: string, applied: string[], untouched: string[]): string | undefined {
  if (!target.startsWith('{') || !input.startsWith('{')) {
    untouched.push(prefix);
    return undefined;
  }
  const members: Member[] = splitMembers(target);
  const at = new Map(members.map((m, i) => [m.name, i]));
  let changed = false;
  for (const m of splitMembers(input)) {
    const path = `${prefix}.${m.name}`;
    const i = at.get(m.name);
    if (i === undefined) {
      at.set(m.name, members.length);
      members.push(m);
      applied.push(path);
      changed = true;
    } else if (members[i]!.value.startsWith('{') && m.value.startsWith('{')) {
      const sub = mergeObjectText(members[i]!.value, m.value, path, applied, untouched);
      if (sub !== undefined) {
        members[i] = { ...members[i]!, value: sub };
        changed = true;
      }
    } else {
      untouched.push(path);
    }
  }
  return changed ? joinMembers(members) : undefined;
}

/**
 * With `registry.backend: "etcd"` the entries the broker serves are in etcd: entries configure added to
 * bpbroker.json would be neither served nor shared, so they are refused, saying where they belong.
 */
function refuseEntriesOnEtcd(sections: Sections, names: string[], inputName: string): void {
  const registry = ownValue(sections, 'registry');
  if (names.length === 0 || !isPlainObject(registry) || ownValue(registry, 'backend') !== 'etcd') return;
  throw new ConfigError(
    `${inputName} holds registry entries (services.${names[0]}${names.length > 1 ? ` and ${names.length - 1} more` : ''}), but this registry is on etcd (registry.backend): ` +
      'configure writes entries only into bpbroker.json, where they would not be served. Write them through the API (`bpclient service register`), or import an export of them (`bpbroker registry import`).',
  );
}
