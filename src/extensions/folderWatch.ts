import { statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { watch, type ChokidarOptions, type FSWatcher } from 'chokidar';

export interface FolderWatch {
  close(): Promise<void>;
}

export interface FolderWatchOptions {
  /** Options of the watcher on the folder itself (while it exists). */
  options: ChokidarOptions;
  /** Every event inside the folder; `addDir`/`unlinkDir` of the folder itself when it appears or goes. */
  onEvent: (event: string, path: string) => void;
  onError: (err: unknown) => void;
}

/**
 * Watches a folder that may not exist yet, or may be removed and created again. Chokidar follows neither: a
 * watch on a missing folder, or on one removed and created again, never reports the files created in it. So
 * while the folder is missing, its nearest existing ancestor is watched (that level only) for the next step of
 * the path; once the folder exists, it is watched itself.
 */
export async function watchFolder(dir: string, opts: FolderWatchOptions): Promise<FolderWatch> {
  let current: FSWatcher | undefined;
  let closed = false;
  // One change of watcher at a time; events that arrive meanwhile queue behind it.
  let switching: Promise<void> = Promise.resolve();

  const replace = (next: () => Promise<FSWatcher | undefined>): Promise<void> => {
    switching = switching.then(async () => {
      if (closed) return;
      const old = current;
      current = undefined;
      await old?.close();
      if (closed) return;
      current = await next();
    });
    return switching;
  };

  const ready = async (w: FSWatcher): Promise<FSWatcher> => {
    w.on('error', opts.onError);
    await new Promise<void>((r) => w.once('ready', () => r()));
    return w;
  };

  /** The folder exists: watch it, and go back to waiting if it is removed. */
  const watchItself = async (): Promise<FSWatcher> => {
    const w = watch(dir, opts.options);
    w.on('all', (event, p) => {
      opts.onEvent(event, p);
      if (event === 'unlinkDir' && p === dir) void replace(follow);
    });
    return ready(w);
  };

  /** The folder is missing: watch the nearest ancestor that exists for the next folder on the way. */
  const waitForIt = async (): Promise<FSWatcher> => {
    let ancestor = dirname(dir);
    while (!isDir(ancestor) && dirname(ancestor) !== ancestor) ancestor = dirname(ancestor);
    const next = join(ancestor, relative(ancestor, dir).split(sep)[0]!);
    const w = watch(ancestor, { depth: 0, ignoreInitial: true, ignored: (p: string) => p !== ancestor && p !== next });
    w.on('addDir', (p) => {
      if (p === next) void replace(follow);
    });
    await ready(w);
    // Created while the watcher was starting: it reported nothing.
    if (isDir(next)) void replace(follow);
    return w;
  };

  let first = true;
  const follow = async (): Promise<FSWatcher> => {
    const appeared = !first;
    first = false;
    if (!isDir(dir)) return waitForIt();
    const w = await watchItself();
    // What was written into it before its watcher was ready is found by looking at everything again.
    if (appeared) opts.onEvent('addDir', dir);
    return w;
  };

  await replace(follow);
  return {
    async close() {
      closed = true;
      await switching;
      await current?.close();
      current = undefined;
    },
  };
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
