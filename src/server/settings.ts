import { resolve } from 'node:path';
import type { Sections } from '../config/defaults.js';

/**
 * The sections a server reads, as typed values. They were validated when the file was read; the fallbacks
 * only cover sections a hand-made override left out.
 */
function reader(section: Record<string, unknown> | undefined) {
  const s = section ?? {};
  return (k: string, d: number): number => (typeof s[k] === 'number' ? (s[k] as number) : d);
}

export function apiSettings(sections: Sections) {
  const api = sections.api ?? {};
  const num = reader(api);
  return {
    host: typeof api.listen_ip === 'string' ? api.listen_ip : '',
    port: num('listen_port', 20443),
    maxBodyBytes: num('max_body_bytes', 1048576),
    maxHeaderBytes: num('max_header_bytes', 131072),
    maxNameLength: num('max_name_length', 65536),
    maxEntryBytes: num('max_entry_bytes', 1048576),
    maxEntryMembers: num('max_entry_members', 10000),
    maxRegistryBytes: num('max_registry_bytes', 268435456),
    maxPageBytes: num('max_page_bytes', 1048576),
    maxConnections: num('max_connections', 4096),
    headersTimeoutMs: num('headers_timeout_secs', 10) * 1000,
    idleTimeoutMs: num('idle_timeout_secs', 30) * 1000,
    requestTimeoutMs: num('request_timeout_secs', 60) * 1000,
    responseTimeoutMs: num('response_timeout_secs', 30) * 1000,
    /** Bearer token of `/_metrics`; empty: loopback clients only. A secret: never logged. */
    adminKey: typeof api.admin_key === 'string' ? api.admin_key : '',
  };
}

/** The `worker` section (extensions); relative folders are relative to the config file. */
export function workerSettings(sections: Sections, configDir: string) {
  const w = sections.worker ?? {};
  const num = reader(w);
  const dirs = Array.isArray(w.extension_dirs) ? (w.extension_dirs as string[]) : [];
  return {
    extensionDirs: dirs.map((d) => resolve(configDir, d)),
    timeoutMs: num('timeout_secs', 30) * 1000,
    memoryMb: num('memory_mb', 256),
  };
}

/** The `_config` section: backups of bpbroker.json. */
export function backupSettings(sections: Sections) {
  const num = reader(sections._config);
  return { freqSecs: num('backup_freq_secs', 3600), retain: num('backup_retain_n', 24) };
}

/** The `registry` section: the watch history's limits. */
export function registrySettings(sections: Sections) {
  const num = reader(sections.registry);
  return { historyRevisions: num('history_revisions', 100000), historyBytes: num('history_bytes', 67108864) };
}

/** The `grpc` section's limits. */
export function grpcSettings(sections: Sections) {
  const num = reader(sections.grpc);
  return { maxConcurrentStreams: num('max_concurrent_streams', 100) };
}

/** `grpc.listen_port`: a separate TLS port for gRPC; absent, null or 0 means gRPC shares the API port. */
export function grpcListenPort(sections: Sections): number | undefined {
  const p = sections.grpc?.listen_port;
  return typeof p === 'number' && p > 0 ? p : undefined;
}
