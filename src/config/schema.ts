import * as z from 'zod';
import { ConfigError } from './ConfigError.js';
import { isPlainObject, ownValue } from './merge.js';
import { RESERVED_SECTIONS, type SettingsSection, STORE_PREFIX } from '../core/settings.js';

export { RESERVED_SECTIONS, STORE_PREFIX };

/**
 * bpbroker.json, once: every setting's default, check and description, the TypeScript types of the sections,
 * and the published bpbroker.schema.json (`npm run schema`). Nothing else in the code holds a default.
 */

/** A file's top-level members as read, before defaults: one object per section (and an optional `$schema`). */
export type Sections = Record<string, unknown>;

const int = (min: number, max: number, def: number, description: string) => {
  const error = `expected an integer from ${min} to ${max}`;
  return z.int({ error }).min(min, { error }).max(max, { error }).default(def).describe(description);
};
const aboveZero = (error = 'expected a number above 0') => z.number({ error }).gt(0, { error });
const seconds = (def: number, description: string) => aboveZero().default(def).describe(description);
const text = (def: string, description: string) => z.string({ error: 'expected a string' }).default(def).describe(description);
const OBJECT = { error: 'expected an object' };

// The broker's own sections are loose: members they do not know (a typo, an old or a newer file's setting) are
// kept as they are, and the loader logs them as warnings (unknownSettings), so an old file always loads.

const api = z
  .looseObject(
    {
      listen_port: int(0, 65535, 20443, 'TCP (TLS) and UDP port of the API, gRPC and discovery; 0 picks a free port.'),
      listen_ip: text('', 'Address to listen on; empty: all interfaces.'),
      ssl_cert: text('', 'PEM certificate file; empty: the certificate generated in $BPBROKER_HOME/etc on first start.'),
      ssl_key: text('', 'PEM key file of ssl_cert; empty: the key generated with it.'),
      max_body_bytes: int(1, 2 ** 31, 1048576, 'Largest request body (413 above).'),
      max_header_bytes: int(1024, 2 ** 24, 131072, 'Largest request line and headers together.'),
      max_name_length: int(1, 2 ** 24, 65536, 'Longest entry name.'),
      max_entry_bytes: int(1, 2 ** 31, 1048576, 'Largest stored entry (413 / RESOURCE_EXHAUSTED above).'),
      max_entry_members: int(1, 2 ** 31, 10000, 'Most top-level members in one entry: bounds what an Update costs.'),
      max_registry_bytes: int(1, 2 ** 52, 268435456, 'All names and entries together, in UTF-8 bytes; a write that would grow the registry past it is refused.'),
      max_page_bytes: int(1, 2 ** 31, 1048576, 'Bytes of entries in one gRPC List page.'),
      max_connections: int(1, 2 ** 31, 4096, 'TLS connections at once, on the API port and a separate gRPC port together.'),
      headers_timeout_secs: seconds(10, 'A client must send its request headers within this time.'),
      idle_timeout_secs: seconds(30, 'An idle connection is closed after this time.'),
      request_timeout_secs: seconds(60, 'A client must send its whole request (an HTTP body, a gRPC request) within this time.'),
      response_timeout_secs: seconds(30, 'An answer the client leaves unread this long is dropped.'),
      admin_key: text('', 'Bearer token of the operations surface (/_metrics, /_ui/); empty: loopback clients only. Never logged.'),
    },
    OBJECT,
  )
  .prefault({})
  .describe('The API: TLS listener, limits and time limits.');

const grpc = z
  .looseObject(
    {
      listen_port: int(0, 65535, 0, 'A separate TLS port for gRPC; 0: gRPC shares the API port.'),
      max_concurrent_streams: int(1, 2 ** 31 - 1, 100, 'gRPC calls one connection may have open at once.'),
    },
    OBJECT,
  )
  .prefault({})
  .describe('The gRPC API.');

const etcdFile = (description: string) => text('', `${description} Relative to this file.`);
const registry = z
  .looseObject(
    {
      backend: z
        .enum(['embedded', 'etcd'], { error: 'expected "embedded" or "etcd"' })
        .default('embedded')
        .describe('Where entries live: "embedded" (this file and its journal) or "etcd" (shared by every broker on the same endpoints and prefix).'),
      history_revisions: int(1, 2 ** 31, 100000, 'Embedded store: watch history of this many revisions at most; older revisions are compacted.'),
      history_bytes: int(
        1024,
        2 ** 52,
        67108864,
        'Embedded store: watch history of this much entry text at most. etcd store: the most entry text queued for one watch reader; past it the watch pauses until the reader catches up.',
      ),
      etcd_endpoints: z
        .array(z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }), { error: 'expected a list of URLs' })
        .min(1, { error: 'expected at least one endpoint' })
        .default(() => ['https://127.0.0.1:2379'])
        .describe('etcd client URLs (https://host:port, or http:// for plaintext), tried in order.'),
      etcd_prefix: z
        .string({ error: 'expected a string' })
        .min(1, { error: 'expected a non-empty key prefix' })
        .default('/bpbroker/')
        .describe('Every key of the registry in etcd starts with it; brokers on the same endpoints and prefix serve one registry.'),
      etcd_ca: etcdFile('PEM file of the CA that signed etcd\'s certificate; empty: the system\'s roots.'),
      etcd_cert: etcdFile('PEM client certificate, when etcd asks for one (--client-cert-auth); empty: none.'),
      etcd_key: etcdFile('PEM key of etcd_cert.'),
      etcd_username: text('', 'etcd user, when etcd has authentication enabled; empty: none.'),
      etcd_password: text('', 'Password of etcd_username. Never logged.'),
    },
    OBJECT,
  )
  .prefault({})
  .describe('The registry: its store (embedded or etcd) and the embedded store\'s watch history, kept across restarts within both limits.');

const worker = z
  .looseObject(
    {
      timeout_secs: seconds(30, "Time limit of one extension call (a namespace's own _timeout_secs wins)."),
      memory_mb: int(0, 2 ** 20, 256, 'Memory limit of one extension worker, in MiB: the heap of a JavaScript worker thread, the resident memory of a Python process (checked every 0.1 s). 0: Node\'s default heap limit, and none for Python.'),
      extension_dirs: z
        .array(z.string({ error: 'expected a string' }), { error: 'expected a list of strings' })
        .default(() => [])
        .describe('Folders of extensions besides $BPBROKER_HOME/lib; relative to this file.'),
    },
    OBJECT,
  )
  .prefault({})
  .describe('Extensions: how they run and where they are found.');

const global = z
  .looseObject(
    {
      healthcheck_freq_sec: z
        .number({ error: 'expected a number of 0 or more' })
        .min(0, { error: 'expected a number of 0 or more' })
        .default(10)
        .describe('Kept only so that old files load and keep their value: the original broker wrote it but never read it, and this one does not either.'),
    },
    OBJECT,
  )
  .prefault({})
  .describe('Global settings of the original broker.');

const backups = z
  .looseObject(
    {
      backup_freq_secs: z
        .number({ error: 'expected a number of 0 or more' })
        .min(0, { error: 'expected a number of 0 or more' })
        .default(3600)
        .describe('Seconds between copies of bpbroker.json into etc/backups/; 0: no backups.'),
      backup_retain_n: int(0, 100000, 24, 'Backups kept: the newest this many (at least one).'),
    },
    OBJECT,
  )
  .prefault({})
  .describe('Backups of this file.');

/** Members any namespace section may hold; the rest of it belongs to its extension. */
const namespaceMembers = {
  _access_key: z.string({ error: 'expected a string' }).optional().describe('Key a client must send to call this namespace; empty or absent: none.'),
  _timeout_secs: aboveZero().optional().describe('Time limit of one call of this namespace (wins over worker.timeout_secs).'),
};
const namespace = z
  .looseObject(namespaceMembers, OBJECT)
  .describe('A namespace: an extension is callable when its section exists. Members not starting with "_" are the extension\'s own.');

/** The sections a broker runs with: every known one, with every default, and the namespaces. */
const sectionsShape = {
  api,
  grpc,
  registry,
  worker,
  _global: global,
  _config: backups,
  ping: namespace.prefault({}).describe('The built-in ping namespace.'),
  services: z
    .looseObject(namespaceMembers, OBJECT)
    .prefault({})
    .meta({
      description: 'The registry namespace: its entries are the members not starting with "_", each an object.',
      patternProperties: { '^[^_]': { type: 'object', description: 'A registry entry.' } },
    }),
};
const sectionsSchema = z.object(sectionsShape, OBJECT).catchall(namespace);

/** The whole file: the sections, what editors read, and what the broker keeps beside the entries. */
export const configSchema = z
  .object(
    {
      $schema: z.string({ error: 'expected a string' }).optional().describe('Where editors find this schema. Ignored by the broker.'),
      ...sectionsShape,
      _registry: z.looseObject({}, OBJECT).optional().describe('Written by the broker: the revisions of the entries. Do not edit.'),
    },
    OBJECT,
  )
  .catchall(namespace)
  .meta({ title: 'bpbroker.json', description: 'Configuration and registry of the bpbroker daemon. Old files load as they are.' });

/** The configuration a broker runs with: every known section with every default, and one section per namespace. */
export type BrokerConfig = z.output<typeof sectionsSchema>;
export type ApiSection = z.output<typeof api>;
export type GrpcSection = z.output<typeof grpc>;
export type RegistrySection = z.output<typeof registry>;
export type WorkerSection = z.output<typeof worker>;
export type GlobalSection = z.output<typeof global>;
export type BackupSection = z.output<typeof backups>;
export type NamespaceSection = z.output<typeof namespace>;

/** The internal section holding registry bookkeeping in bpbroker.json. */
export const REGISTRY_SECTION = '_registry';

/** A member of `services` in bpbroker.json that is a setting (`_access_key`), not an entry. */
export const isServicesSetting = (key: string): boolean => key.startsWith('_') && !key.startsWith(STORE_PREFIX);

/** The schema of each settings section the core names (src/core/settings.ts): no more, no fewer. */
const SETTINGS_SCHEMAS = { api, grpc, registry, worker, _global: global, _config: backups } as const satisfies Record<SettingsSection, z.ZodType>;

/** Every default: the first layer of a configuration, and what is written to a new file. */
export function defaultSections(): BrokerConfig {
  return sectionsSchema.parse({});
}

/**
 * Checks a file's sections as they are (the caller layers them over the defaults). Throws a ConfigError naming
 * the file, the key and the value: `FILE: api.listen_port: expected an integer from 0 to 65535, got "abc"`.
 */
export function validateConfig(doc: unknown, file: string): void {
  if (!isPlainObject(doc)) throw new ConfigError(`Invalid configuration in ${file}: the file must hold one JSON object`);
  const result = configSchema.safeParse(doc);
  const issue = result.error?.issues[0];
  if (issue) throw invalid(file, doc, issue.path, issue.message);
  // A section named `__proto__` is a namespace like any other (schemas skip that name).
  const proto = ownValue(doc, '__proto__');
  if (Object.hasOwn(doc, '__proto__')) {
    const own = namespace.safeParse(proto).error?.issues[0];
    if (own) throw invalid(file, doc, ['__proto__', ...own.path], own.message);
  }
}

/** Members of the settings sections that the schema does not know, as dotted paths: kept, but likely typos. */
export function unknownSettings(doc: Sections): string[] {
  const found: string[] = [];
  for (const [name, schema] of Object.entries(SETTINGS_SCHEMAS)) {
    const body = ownValue(doc, name);
    if (!isPlainObject(body)) continue;
    const known = schema.unwrap().shape;
    for (const key of Object.keys(body)) if (!Object.hasOwn(known, key)) found.push(`${name}.${key}`);
  }
  return found;
}

/**
 * The text of bpbroker.schema.json, which editors use to check and complete a bpbroker.json: what a file may
 * hold (io: input, so every setting is optional), in draft-07, the draft editors know best.
 */
export function configJsonSchemaText(): string {
  return `${JSON.stringify(z.toJSONSchema(configSchema, { io: 'input', target: 'draft-07' }), null, 2)}\n`;
}

function invalid(file: string, doc: Record<string, unknown>, path: PropertyKey[], message: string): ConfigError {
  let value: unknown = doc;
  for (const key of path) value = isPlainObject(value) || Array.isArray(value) ? ownValue(value as Record<string, unknown>, String(key)) : undefined;
  return settingError(file, path.map(String).join('.'), message, value);
}

/** `FILE: KEY: MESSAGE, got VALUE`: what every bad value in a configuration file is told as. */
export function settingError(file: string, key: string, message: string, value: unknown): ConfigError {
  return new ConfigError(`${file}: ${key}: ${message}, got ${shown(value)}`);
}

function shown(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (isPlainObject(value)) return 'an object';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
