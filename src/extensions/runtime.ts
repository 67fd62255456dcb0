import { extname } from 'node:path';
import { bundleWithPackages, type Bundle } from './bundle.js';
import { pythonCode } from './python/pythonCode.js';
import { PythonWorker } from './python/PythonWorker.js';
import type { ExtensionSource } from './sources.js';
import type { WorkerFactory } from './WorkerFactory.js';
import type { ExtensionWorker } from './WorkerSlot.js';

/** Python modules run in a Python 3 process; everything else in a worker thread. */
export const isPythonEntry = (entry: string): boolean => extname(entry) === '.py';

/** One version's code: the bundled ES module (and the npm packages it uses), or the Python module's text. */
export async function extensionCode(source: Pick<ExtensionSource, 'entry' | 'path' | 'kind'>): Promise<Bundle> {
  if (!isPythonEntry(source.entry)) return bundleWithPackages(source.entry);
  return { code: await pythonCode(source.entry, source.kind === 'package' ? source.path : undefined), packageDirs: [] };
}

/** A fresh worker that runs that code: a thread from the factory, or a Python process. */
export function extensionWorker(entry: string, factory: WorkerFactory): ExtensionWorker {
  return isPythonEntry(entry) ? new PythonWorker({ memoryMb: factory.memoryMb }) : factory.take();
}
