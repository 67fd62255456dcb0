import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { RESERVED_SECTIONS } from '../config/schema.js';

/** File types an extension may be written in (.py: a Python 3 module). In one folder, a name's first match in this order wins. */
export const EXTENSION_SUFFIXES = ['.ts', '.mjs', '.js', '.cjs', '.py'] as const;

/** Where one namespace's code comes from. */
export interface ExtensionSource {
  namespace: string;
  /** The file to load: a single-file extension, or a package folder's entry point. */
  entry: string;
  /** What was found in the extensions folder: the file, or the package folder. */
  path: string;
  kind: 'file' | 'package';
}

/** Why a name cannot be an extension namespace, or undefined when it can. */
export function namespaceProblem(name: string): string | undefined {
  if (name === '' || name === '.' || name === '..') return 'the name is empty';
  if (/[/\\\0]/.test(name)) return 'the name holds a path separator';
  if (name.startsWith('_')) return 'names starting with "_" are settings, not namespaces';
  if (name.startsWith('.')) return 'names starting with "." are hidden files';
  if (RESERVED_SECTIONS.has(name)) return `"${name}" is a built-in namespace or settings section`;
  return undefined;
}

/** The namespace a top-level file of an extensions folder stands for, or undefined when it is no extension. */
export function namespaceOfFile(fileName: string): string | undefined {
  if (fileName.endsWith('.d.ts')) return undefined;
  const ext = extname(fileName);
  if (!(EXTENSION_SUFFIXES as readonly string[]).includes(ext)) return undefined;
  return basename(fileName, ext);
}

/** A package folder's entry point: package.json `main`, else index.{ts,mjs,js,cjs}; undefined when it has none. */
export function packageEntry(folder: string): string | undefined {
  const pkgFile = join(folder, 'package.json');
  if (existsSync(pkgFile)) {
    try {
      const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { main?: unknown };
      if (typeof pkg.main === 'string' && pkg.main !== '') {
        const main = join(folder, pkg.main);
        if (isFile(main)) return main;
        for (const ext of EXTENSION_SUFFIXES) if (isFile(main + ext)) return main + ext;
      }
    } catch {
      // An unreadable package.json: fall back to index files.
    }
  }
  for (const ext of EXTENSION_SUFFIXES) {
    const index = join(folder, `index${ext}`);
    if (isFile(index)) return index;
  }
  return undefined;
}

/** Namespaces present in one extensions folder (valid names only). */
export function namespacesIn(dir: string): Set<string> {
  const names = new Set<string>();
  let items: import('node:fs').Dirent[];
  try {
    items = readdirSync(dir, { withFileTypes: true });
  } catch {
    return names;
  }
  for (const item of items) {
    const ns = item.isDirectory() ? item.name : item.isFile() || item.isSymbolicLink() ? namespaceOfFile(item.name) : undefined;
    if (ns !== undefined && namespaceProblem(ns) === undefined) names.add(ns);
  }
  return names;
}

/** Where a namespace's code is: the first folder (in order) holding it, a file before a package folder. */
export function findSource(dirs: readonly string[], namespace: string): ExtensionSource | undefined {
  if (namespaceProblem(namespace) !== undefined) return undefined;
  for (const dir of dirs) {
    for (const ext of EXTENSION_SUFFIXES) {
      const file = join(dir, namespace + ext);
      if (isFile(file)) return { namespace, entry: file, path: file, kind: 'file' };
    }
    const folder = join(dir, namespace);
    if (isDir(folder)) {
      const entry = packageEntry(folder);
      if (entry) return { namespace, entry, path: folder, kind: 'package' };
    }
  }
  return undefined;
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
