import { basename } from 'node:path';
import { watchFolder, type FolderWatch } from './folderWatch.js';

/**
 * Folders whose changes mean that an extension's npm packages changed: the node_modules folders its imports
 * resolve from (where `npm install` adds, updates or removes a package, and rewrites `.package-lock.json`) and the
 * folders of the packages it uses. Each is watched one level deep only (a node_modules tree holds thousands of
 * files) and shared by every namespace that depends on it.
 */
export class PackageWatches {
  private readonly watches = new Map<string, { watch: Promise<FolderWatch>; users: Set<string> }>();
  private readonly dirsOf = new Map<string, Set<string>>();
  private closed = false;

  constructor(
    private readonly onChange: (namespace: string) => void,
    private readonly onError: (dir: string, err: unknown) => void,
  ) {}

  /** The folders one namespace depends on now, in place of those it had. */
  set(namespace: string, dirs: Iterable<string>): void {
    if (this.closed) return;
    const next = new Set(dirs);
    const previous = this.dirsOf.get(namespace) ?? new Set<string>();
    for (const d of previous) if (!next.has(d)) this.release(d, namespace);
    for (const d of next) if (!previous.has(d)) this.acquire(d, namespace);
    if (next.size > 0) this.dirsOf.set(namespace, next);
    else this.dirsOf.delete(namespace);
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.watches.values()];
    this.watches.clear();
    await Promise.all(all.map(async (w) => (await w.watch).close()));
  }

  private acquire(dir: string, namespace: string): void {
    let w = this.watches.get(dir);
    if (!w) {
      const users = new Set<string>();
      const watch = watchFolder(dir, {
        options: { ignoreInitial: true, depth: 0, ignored: (p: string) => p !== dir && isToolScratch(basename(p)) },
        onEvent: () => {
          for (const u of users) this.onChange(u);
        },
        onError: (err) => this.onError(dir, err),
      });
      w = { watch, users };
      this.watches.set(dir, w);
    }
    w.users.add(namespace);
  }

  private release(dir: string, namespace: string): void {
    const w = this.watches.get(dir);
    if (!w) return;
    w.users.delete(namespace);
    if (w.users.size > 0) return;
    this.watches.delete(dir);
    void w.watch.then((fw) => fw.close());
  }
}

/** Package managers' records of an install; other hidden entries (.cache, .vite, .bin) change without one. */
const INSTALL_RECORDS = new Set(['.package-lock.json', '.modules.yaml', '.yarn-integrity']);
const isToolScratch = (name: string): boolean => name.startsWith('.') && !INSTALL_RECORDS.has(name);
