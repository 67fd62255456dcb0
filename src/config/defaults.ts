/** A configuration: one object per section. Registry entries are not part of it (see ConfigFile). */
export type Sections = Record<string, Record<string, unknown>>;

/**
 * The embedded defaults. `grpc.listen_port` 0 means gRPC shares the API's TLS port. Every one of them is written to bpbroker.json, so an operator sees what can be set.
 * `ssl_cert`/`ssl_key` empty means: the certificate generated for this installation in `$BPBROKER_HOME/etc`.
 */
export function defaultSections(): Sections {
  return {
    api: {
      listen_port: 20443,
      listen_ip: '',
      ssl_cert: '',
      ssl_key: '',
      max_body_bytes: 1048576,
      max_header_bytes: 131072,
      max_name_length: 65536,
      max_entry_bytes: 1048576,
      max_entry_members: 10000,
      max_registry_bytes: 268435456,
      max_page_bytes: 1048576,
      max_connections: 4096,
      headers_timeout_secs: 10,
      idle_timeout_secs: 30,
      request_timeout_secs: 60,
      response_timeout_secs: 30,
      // Bearer token of GET /_metrics; empty: only loopback clients may read the metrics.
      admin_key: '',
    },
    grpc: { listen_port: 0, max_concurrent_streams: 100 },
    // Watches: the events of the last revisions, kept across restarts, within both limits.
    registry: { history_revisions: 100000, history_bytes: 67108864 },
    // Extensions: time limit per call (a namespace's own `_timeout_secs` wins), heap limit per worker,
    // and folders served besides $BPBROKER_HOME/lib.
    worker: { timeout_secs: 30, memory_mb: 256, extension_dirs: [] },
    _global: { healthcheck_freq_sec: 10 },
    _config: { backup_freq_secs: 3600, backup_retain_n: 24 },
    ping: {},
    services: {},
  };
}

/** Sections that are broker settings, never callable namespaces, whatever their name. */
export const RESERVED_SECTIONS: ReadonlySet<string> = new Set(['api', 'worker', 'grpc', 'registry', 'services', 'ping']);

/** The internal section holding registry bookkeeping in bpbroker.json. */
export const REGISTRY_SECTION = '_registry';

/**
 * Registry names of extensions' private stores (`rh.store`): `_store/{namespace}/{key}`. They live among the
 * members of `services` in bpbroker.json, like entries (with revisions), although other `_` members there are
 * settings; the registry API never shows them.
 */
export const STORE_PREFIX = '_store/';

/** A member of `services` in bpbroker.json that is a setting (`_access_key`), not an entry. */
export const isServicesSetting = (key: string): boolean => key.startsWith('_') && !key.startsWith(STORE_PREFIX);
