import { dirname } from 'node:path';
import type { BrokerConfig } from '../config/schema.js';
import type { Logger } from '../log/Logger.js';
import type { Registry } from '../store/embedded/Registry.js';
import { EmbeddedStore } from '../store/embedded/EmbeddedStore.js';
import { EtcdStore } from '../store/etcd/EtcdStore.js';
import type { Store } from '../core/Store.js';
import { etcdSettings } from '../store/etcd/etcdSettings.js';

/**
 * The store `registry.backend` names. The embedded registry (bpbroker.json and its journal) is open either way:
 * it keeps the settings file; on etcd its own entries are left as they are, not served, and a warning says so.
 * etcd out of reach does not stop the start: the broker serves pings and health, answers registry calls
 * `Registry unavailable`, and recovers by itself.
 */
export async function openStore(config: BrokerConfig, configPath: string, registry: Registry, log: Logger): Promise<Store> {
  if (config.registry.backend !== 'etcd') return new EmbeddedStore(registry);
  const opts = etcdSettings(config, dirname(configPath));
  const store = await EtcdStore.open(opts);
  log.info('registry on etcd', { endpoints: opts.endpoints, prefix: opts.prefix });
  if (store.problem !== undefined) log.warn('etcd cannot be reached; registry calls answer 503 until it can', { problem: store.problem });
  if (registry.size > 0) {
    log.warn(`${configPath} holds ${registry.size} entries of the embedded store, not served while registry.backend is etcd; \`bpbroker registry export --backend embedded\` copies them`);
  }
  return store;
}
