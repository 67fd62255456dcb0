import type { Entry } from '../core/Entry.js';
import { isDeepStrictEqual } from 'node:util';
import type { ConfigDocument } from './ConfigDocument.js';
import { readConfigFile } from './ConfigFile.js';
import { type BrokerConfig, defaultSections, type Sections, unknownSettings, validateConfig } from './schema.js';
import { deepMerge } from './merge.js';
import { configPathFrom } from './paths.js';

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
  /** fileSections < command-line overrides: what this run uses, checked by the schema. */
  sections: BrokerConfig;
  entries: Map<string, Entry>;
  revision: number;
  /** Entries whose lease had run out when the file was written: expired on the next start. */
  lapsed: string[];
  /**
   * The file already holds exactly what would be written back (sections with every default, the entries, the
   * revision): a start with nothing to fold from the journal need not rewrite it.
   */
  upToDate: boolean;
  /** Settings the schema does not know, `FILE: api.listen_prot: ...`: kept as they are, but likely typos. */
  warnings: string[];
}

/** Loads the layers: embedded defaults < global file < `--config` file < command-line overrides. */
export function loadConfig(src: ConfigSource): LoadedConfig {
  // Real paths: a symlinked file or folder is the same file as its target (one lock, one journal).
  const globalPath = configPathFrom(src.home);
  const path = configPathFrom(src.home, src.configPath);
  let sections: Sections = defaultSections();
  const warnings: string[] = [];
  let entries = new Map<string, Entry>();
  let revision = 0;
  const layers = path === globalPath ? [globalPath] : [globalPath, path];
  let read = 0;
  let pathDoc: ConfigDocument | undefined;
  for (const file of layers) {
    const doc = readConfigFile(file);
    if (!doc) continue;
    read++;
    if (file === path) pathDoc = doc;
    for (const key of unknownSettings(doc.sections)) warnings.push(`${file}: ${key}: unknown setting, kept as it is`);
    sections = deepMerge(sections, doc.sections);
    // Entries are whole values: a later layer's entry replaces an earlier one, it does not merge into it.
    entries = entries.size === 0 ? doc.entries : new Map([...entries, ...doc.entries]);
    if (file === path) revision = doc.revision;
  }
  // One layer only (a global file under --config would add to what is written) and nothing added by defaults.
  const upToDate = read === 1 && pathDoc?.ownLayout === true && isDeepStrictEqual(pathDoc.sections, sections);
  for (const e of entries.values()) revision = Math.max(revision, e.modRevision);
  const runtime = src.overrides ? deepMerge(sections, src.overrides) : sections;
  // Each layer was checked as it was read, and the defaults are the first layer: this only checks the overrides.
  validateConfig(runtime, 'the command line');
  return { path, fileSections: sections, sections: runtime as BrokerConfig, entries, revision, lapsed: pathDoc?.lapsed ?? [], upToDate, warnings };
}
