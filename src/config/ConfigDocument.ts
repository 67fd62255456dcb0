import type { Entry } from '../core/Entry.js';
import type { Sections } from './schema.js';

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
  /** Entries whose lease had run out when the file was written: expired on the next start. */
  lapsed?: string[];
}
