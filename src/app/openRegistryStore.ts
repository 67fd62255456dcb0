import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError } from '../config/ConfigError.js';
import { configure } from './configure.js';
import { type LoadedConfig, loadConfig } from '../config/loadConfig.js';
import { acquireLock, type HeldLock, LockHeldError } from '../config/lockFile.js';
import { configPathFrom, journalDirFor } from '../config/paths.js';
import { BrokerError } from '../core/BrokerError.js';
import { Registry } from '../store/embedded/Registry.js';
import { etcdSettings } from '../store/etcd/etcdSettings.js';
import { EmbeddedStore } from '../store/embedded/EmbeddedStore.js';
import { EtcdStore } from '../store/etcd/EtcdStore.js';
import type { Store } from '../core/Store.js';

export type Backend = 'embedded' | 'etcd';

export interface OpenedStore {
  store: Store;
  /** The configuration file whose registry (embedded) or etcd settings (etcd) this is. */
  configPath: string;
  /**
   * Closes the store and releases the file. `saveFile` (after writing into the embedded store): the journal is
   * folded into bpbroker.json first, as `configure` does, so the file alone holds the registry.
   */
  close(opts?: { saveFile?: boolean }): Promise<void>;
}

/**
 * The registry a tool works on while no broker does: the store `backend` names, else the one the
 * configuration's `registry.backend` names. The embedded store is opened under the file's lock (refused while a
 * broker runs with the file), its leases held still (see Registry's holdLeases). The etcd store must answer
 * at once: a tool does not wait for etcd to come back, as a broker does.
 */
export async function openRegistryStore(opts: {
  home: string;
  configPath?: string | undefined;
  backend?: Backend | undefined;
  purpose: 'registry export' | 'registry import';
}): Promise<OpenedStore> {
  const path = configPathFrom(opts.home, opts.configPath);
  const source = { home: opts.home, configPath: opts.configPath };
  if (opts.purpose === 'registry export' && opts.backend !== 'etcd' && !existsSync(path) && !existsSync(journalDirFor(path))) {
    // Reading a registry that is not there would only create an empty one.
    if (opts.backend === 'embedded' || loadConfig(source).sections.registry.backend === 'embedded') {
      throw new ConfigError(`No registry to export: ${path} does not exist (choose the file with --config or --home)`);
    }
  }
  if (opts.backend === 'etcd') return openEtcd(loadConfig(source), path);

  // The file is read once, under its lock: it may hold a large embedded registry.
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  let lock: HeldLock;
  try {
    lock = await acquireLock(path, opts.purpose);
  } catch (err) {
    // A broker on etcd holds its file too; its etcd settings are all that is needed here, and reading them is safe.
    if (opts.backend === undefined && err instanceof LockHeldError) {
      const loaded = loadConfig(source);
      if (loaded.sections.registry.backend === 'etcd') return openEtcd(loaded, path);
    }
    throw err;
  }
  try {
    const loaded = loadConfig(source);
    if (opts.backend === undefined && loaded.sections.registry.backend === 'etcd') {
      lock.release();
      return await openEtcd(loaded, path);
    }
    return await openEmbedded(loaded, opts, lock);
  } catch (err) {
    lock.release();
    throw err;
  }
}

async function openEtcd(loaded: LoadedConfig, configPath: string): Promise<OpenedStore> {
  const store = await EtcdStore.open(etcdSettings(loaded.sections, dirname(loaded.path)));
  const problem = store.problem;
  if (problem !== undefined) {
    await store.close();
    const endpoints = loaded.sections.registry.etcd_endpoints.join(', ');
    throw new BrokerError('UNAVAILABLE', `${problem.startsWith('Registry unavailable') ? problem : `Registry unavailable: ${problem}`} (etcd endpoints ${endpoints}, from ${configPath})`);
  }
  return { store, configPath, close: () => store.close() };
}

async function openEmbedded(loaded: LoadedConfig, opts: { home: string; configPath?: string | undefined; purpose: string }, lock: HeldLock): Promise<OpenedStore> {
  const registry = await Registry.open({
    journalDir: journalDirFor(loaded.path),
    snapshot: { revision: loaded.revision, entries: loaded.entries.values() },
    history: { maxRevisions: 1000, maxBytes: 1 << 20 }, // nobody watches: keep little
    holdLeases: true,
  });
  const store = new EmbeddedStore(registry);
  return {
    store,
    configPath: loaded.path,
    async close({ saveFile = false } = {}) {
      try {
        await store.close();
        if (saveFile) await configure({ home: opts.home, configPath: opts.configPath, input: { text: '{}' }, inputName: opts.purpose, heldLock: lock });
      } finally {
        lock.release();
      }
    },
  };
}
