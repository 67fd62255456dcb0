import { BrokerError } from '../core/BrokerError.js';
import { silentLogger } from '../log/Logger.js';
import { extensionCode, extensionWorker } from './runtime.js';
import { WorkerFactory } from './WorkerFactory.js';
import { WorkerSlot } from './WorkerSlot.js';

/**
 * Loads an extension once in a throwaway worker, as the broker would, and answers its public methods.
 * Throws ExtensionLoadError saying why it does not load.
 */
export async function probeExtension(namespace: string, entry: string, loadTimeoutMs = 10_000): Promise<string[]> {
  const { code } = await extensionCode({ entry, path: entry, kind: 'file' });
  const factory = new WorkerFactory(undefined, false);
  const slot = new WorkerSlot(
    { namespace, file: entry, code },
    {
      worker: extensionWorker(entry, factory),
      loadTimeoutMs,
      // Top-level code that touches the registry during a check gets a clear refusal, not a hang.
      registry: () => Promise.reject(new BrokerError('UNAVAILABLE', 'The registry is not available while checking an extension')),
      log: silentLogger,
      onUnhealthy: () => undefined,
    },
  );
  try {
    return await slot.ready;
  } finally {
    await slot.terminate();
  }
}
