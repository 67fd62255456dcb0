/**
 * What the core reads of the broker's settings, stated here so that the core depends on no configuration code:
 * src/config/schema.ts validates the file against its own schema and satisfies these (its BrokerConfig is a
 * BrokerSettings; its settings sections are exactly SETTINGS_SECTIONS).
 */

/** The broker's settings, section by name: a namespace's section holds its `_access_key`. */
export type BrokerSettings = Readonly<Record<string, unknown>>;

/** Sections holding the broker's own settings: every member is known. */
export const SETTINGS_SECTIONS = ['api', 'grpc', 'registry', 'worker', '_global', '_config'] as const;
export type SettingsSection = (typeof SETTINGS_SECTIONS)[number];

/** Sections that are broker settings, never callable namespaces, whatever their name. */
export const RESERVED_SECTIONS: ReadonlySet<string> = new Set([...SETTINGS_SECTIONS.filter((s) => !s.startsWith('_')), 'services', 'ping']);

/**
 * Registry names of extensions' private stores (`rh.store`): `_store/{namespace}/{key}`. They live among the
 * members of `services` in bpbroker.json, like entries (with revisions), although other `_` members there are
 * settings; the registry API never shows them.
 */
export const STORE_PREFIX = '_store/';

/** A section's access key as written (any type: the caller checks it is a non-empty string). */
export function accessKeyOf(section: unknown): unknown {
  return typeof section === 'object' && section !== null && '_access_key' in section ? section._access_key : undefined;
}
