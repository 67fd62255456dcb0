import { resolve } from 'node:path';
import type { BrokerConfig } from '../../config/schema.js';
import type { EtcdStoreOptions } from './EtcdStore.js';

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
