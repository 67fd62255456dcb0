import { resolve } from 'node:path';
import type { BrokerConfig } from '../config/schema.js';
import type { EtcdStoreOptions } from '../store/etcd/EtcdStore.js';

/**
 * The sections a server reads, in the units the code uses. The configuration was checked and completed with
 * every default by the schema (src/config/schema.ts); nothing here has a default of its own.
 */
export function apiSettings(config: BrokerConfig) {
  const { api } = config;
  return {
    host: api.listen_ip,
    port: api.listen_port,
    maxBodyBytes: api.max_body_bytes,
    maxHeaderBytes: api.max_header_bytes,
    maxNameLength: api.max_name_length,
    maxEntryBytes: api.max_entry_bytes,
    maxEntryMembers: api.max_entry_members,
    maxRegistryBytes: api.max_registry_bytes,
    maxPageBytes: api.max_page_bytes,
    maxConnections: api.max_connections,
    headersTimeoutMs: api.headers_timeout_secs * 1000,
    idleTimeoutMs: api.idle_timeout_secs * 1000,
    requestTimeoutMs: api.request_timeout_secs * 1000,
    responseTimeoutMs: api.response_timeout_secs * 1000,
    /** Bearer token of `/_metrics`; empty: loopback clients only. A secret: never logged. */
    adminKey: api.admin_key,
  };
}

/** The `worker` section (extensions); relative folders are relative to the config file. */
export function workerSettings(config: BrokerConfig, configDir: string) {
  const w = config.worker;
  return {
    extensionDirs: w.extension_dirs.map((d) => resolve(configDir, d)),
    timeoutMs: w.timeout_secs * 1000,
    memoryMb: w.memory_mb,
  };
}

/** The `_config` section: backups of bpbroker.json. */
export function backupSettings(config: BrokerConfig) {
  return { freqSecs: config._config.backup_freq_secs, retain: config._config.backup_retain_n };
}

/** The `registry` section: the watch history's limits. */
export function registrySettings(config: BrokerConfig) {
  return { historyRevisions: config.registry.history_revisions, historyBytes: config.registry.history_bytes };
}

/** The `grpc` section's limits. */
export function grpcSettings(config: BrokerConfig) {
  return { maxConcurrentStreams: config.grpc.max_concurrent_streams };
}

/** `grpc.listen_port`: a separate TLS port for gRPC; 0 means gRPC shares the API port. */
export function grpcListenPort(config: BrokerConfig): number | undefined {
  return config.grpc.listen_port > 0 ? config.grpc.listen_port : undefined;
}

/** The `registry` section's etcd settings, as the etcd store takes them; files relative to the config file. */
export function etcdSettings(config: BrokerConfig, configDir: string): EtcdStoreOptions {
  const r = config.registry;
  const file = (f: string): string | undefined => (f === '' ? undefined : resolve(configDir, f));
  // history_bytes bounds how far a watch may fall behind on either store: the embedded history, etcd's queue.
  const opts: EtcdStoreOptions = { endpoints: r.etcd_endpoints, prefix: r.etcd_prefix, maxWatchQueueBytes: r.history_bytes };
  const ca = file(r.etcd_ca);
  const cert = file(r.etcd_cert);
  const key = file(r.etcd_key);
  if (ca) opts.caFile = ca;
  if (cert) opts.certFile = cert;
  if (key) opts.keyFile = key;
  if (r.etcd_username !== '') {
    opts.username = r.etcd_username;
    opts.password = r.etcd_password;
  }
  return opts;
}
