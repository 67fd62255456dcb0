import { resolve } from 'node:path';
import type { BrokerConfig } from '../config/schema.js';

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
