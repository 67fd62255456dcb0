import { resolve } from 'node:path';
import type { Entry } from '../registry/Entry.js';
import { readConfigFile } from './ConfigFile.js';
import { defaultSections, type Sections } from './defaults.js';
import { deepMerge } from './merge.js';
import { globalConfigPath } from './paths.js';

export interface ConfigSource {
  home: string;
  /** `--config FILE`: layered over the global file, and the file written back. */
  configPath?: string | undefined;
  /** Command-line settings: they win for this run and are not written to the file. */
  overrides?: Sections | undefined;
}

export interface LoadedConfig {
  /** The file this broker reads and writes back. */
  path: string;
  /** defaults < global file < --config file: what is written back. */
  fileSections: Sections;
  /** fileSections < command-line overrides: what this run uses. */
  sections: Sections;
  entries: Map<string, Entry>;
  revision: number;
}

/** Loads the layers: embedded defaults < global file < `--config` file < command-line overrides. */
export function loadConfig(src: ConfigSource): LoadedConfig {
  const globalPath = globalConfigPath(src.home);
  const path = src.configPath ? resolve(src.configPath) : globalPath;
  let sections: Sections = defaultSections();
  let entries = new Map<string, Entry>();
  let revision = 0;
  const layers = path === globalPath ? [globalPath] : [globalPath, path];
  for (const file of layers) {
    const doc = readConfigFile(file);
    if (!doc) continue;
    sections = deepMerge(sections, doc.sections) as Sections;
    // Entries are whole values: a later layer's entry replaces an earlier one, it does not merge into it.
    entries = new Map([...entries, ...doc.entries]);
    if (file === path) revision = doc.revision;
  }
  for (const e of entries.values()) revision = Math.max(revision, e.modRevision);
  const runtime = src.overrides ? (deepMerge(sections, src.overrides) as Sections) : sections;
  return { path, fileSections: sections, sections: runtime, entries, revision };
}
