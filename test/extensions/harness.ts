import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
// Compiled code: the extension worker script is resolved beside the compiled host (run `npm run build` first).
import { Broker } from '../../dist/src/core/Broker.js';
import { defaultSections } from '../../dist/src/config/schema.js';
import { createExtensionHost, type ExtensionHost, type ExtensionHostOptions } from '../../dist/src/extensions/ExtensionHost.js';
import { createLogger } from '../../dist/src/log/Logger.js';
import { Registry, type RegistryOptions } from '../../dist/src/store/embedded/Registry.js';
import { EmbeddedStore } from '../../dist/src/store/embedded/EmbeddedStore.js';
import { apiSettings } from '../../dist/src/server/settings.js';
import { removeDir, tempDir } from '../helpers/broker.js';

export interface InProcessBroker {
  dir: string;
  lib: string;
  broker: Broker;
  host: ExtensionHost;
  logs: string[];
  /** A legacy-style call; resolves to the extension's (text) response or rejects with the BrokerError. */
  call(ns: string, method: string, params?: Record<string, string>): Promise<{ status: number; statusMessage: string; contentType: string; body: string; headers?: Array<[string, string]> | undefined; errorBody?: 'data' | undefined }>;
  write(name: string, text: string): void;
  /** Watchers waiting in core now, whoever opened them. */
  watchersWaiting(): number;
  /** The oldest revision a watch may start after (the embedded store's history). */
  oldestWatchable(): number;
  close(): Promise<void>;
}

/** Registry + core + extension host, composed as the server does, with extensions in a temp folder (`null`: not created). */
export async function inProcessBroker(
  files: Record<string, string> | null,
  sections: Record<string, Record<string, unknown>>,
  opts: Partial<Omit<ExtensionHostOptions, 'broker' | 'dirs' | 'log'>> = {},
  registryOpts: Partial<Omit<RegistryOptions, 'journalDir' | 'snapshot'>> = {},
): Promise<InProcessBroker> {
  const dir = tempDir('bpbroker-ext-');
  const lib = join(dir, 'lib');
  if (files) mkdirSync(lib);
  const write = (name: string, text: string): void => {
    mkdirSync(join(lib, name, '..'), { recursive: true });
    writeFileSync(join(lib, name), text);
  };
  for (const [name, text] of Object.entries(files ?? {})) write(name, text);
  const registry = await Registry.open({ journalDir: join(dir, 'journal'), snapshot: { revision: 0, entries: [] }, ...registryOpts });
  const all = { ...defaultSections(), ...sections };
  const broker = new Broker(new EmbeddedStore(registry), all, apiSettings(all));
  const logs: string[] = [];
  const host = await createExtensionHost({
    broker,
    dirs: [lib],
    watch: true,
    defaultTimeoutMs: 30_000,
    log: createLogger('debug', (line) => logs.push(line)),
    ...opts,
  });
  broker.attachExtensions(host);
  return {
    dir,
    lib,
    broker,
    host,
    logs,
    async call(ns, method, params = {}) {
      const r = await broker.dispatch({ clientIp: '127.0.0.1', accessKey: params.access_key }, ns, method, params);
      if (r.kind !== 'extension') throw new Error(`not an extension answer: ${r.kind}`);
      const { body } = r.response;
      if (typeof body !== 'string') throw new Error('a binary answer: read it through broker.dispatch');
      return { ...r.response, body };
    },
    write,
    watchersWaiting: () => registry.watchersWaiting,
    oldestWatchable: () => registry.oldestWatchable,
    async close() {
      await host.close();
      await registry.close();
      removeDir(dir);
    },
  };
}

// Kept here too for the extension tests that import it from this harness.
export { waitFor } from '../helpers/wait.js';

/** Settles a promise into a value or the error's code and message. */
export async function outcome<T>(p: Promise<T>): Promise<T | { code: string; message: string }> {
  try {
    return await p;
  } catch (err) {
    const e = err as { code?: string; message?: string };
    return { code: e.code ?? 'unknown', message: e.message ?? String(err) };
  }
}
