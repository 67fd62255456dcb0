import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { probeExtension } from './probe.js';
import { EXTENSION_SUFFIXES, findSource, namespaceOfFile, namespaceProblem, packageEntry } from './sources.js';

/** A refused installation; the message is for the user. */
export class InstallError extends Error {
  override readonly name = 'InstallError';
}

export interface InstallOptions {
  /** A single-file extension (.js .mjs .cjs .ts) or a package folder with an entry point. */
  script: string;
  /** The extensions folder, `$BPBROKER_HOME/lib` by default. */
  libDir: string;
}

export interface InstallResult {
  namespace: string;
  /** Where it now lives. */
  installedPath: string;
  methods: string[];
  /** Already installed with the same content: nothing was copied. */
  unchanged: boolean;
  /** An older version was replaced. */
  replaced: boolean;
  /** The configuration the namespace needs to be callable. */
  configSnippet: Record<string, { _access_key: string }>;
}

/**
 * Copies an extension into the extensions folder after checking that it loads. The copy lands under a hidden
 * temporary name and is renamed into place, so a running broker never loads half a file.
 */
export async function installExtension(opts: InstallOptions): Promise<InstallResult> {
  const source = resolve(opts.script);
  const lib = resolve(opts.libDir);
  let st: import('node:fs').Stats;
  try {
    st = statSync(source);
  } catch {
    throw new InstallError(`No such file or folder: ${opts.script}`);
  }
  const isPackage = st.isDirectory();
  const name = basename(source);
  const namespace = isPackage ? name : namespaceOfFile(name);
  if (namespace === undefined) {
    throw new InstallError(`${opts.script} is not an extension: use a ${EXTENSION_SUFFIXES.join(', ')} file or a package folder`);
  }
  const problem = namespaceProblem(namespace);
  if (problem) throw new InstallError(`Refusing to install "${namespace}": ${problem}`);
  const entry = isPackage ? packageEntry(source) : source;
  if (!entry) throw new InstallError(`${opts.script} has no entry point (package.json "main", or index.${EXTENSION_SUFFIXES.map((e) => e.slice(1)).join('|')})`);

  let methods: string[];
  try {
    methods = await probeExtension(namespace, entry);
  } catch (err) {
    throw new InstallError(`${opts.script} does not load, nothing installed:\n${err instanceof Error ? err.message : String(err)}`);
  }
  if (methods.length === 0) throw new InstallError(`${opts.script} exports no public function, nothing installed`);

  const target = join(lib, isPackage ? namespace : namespace + extname(name));
  // Another form of the same namespace (Test.js beside Test.ts) would be ambiguous: one of them would never run.
  const existing = findSource([lib], namespace);
  if (existing && resolve(existing.path) !== target) {
    throw new InstallError(`${existing.path} already provides namespace "${namespace}"; remove it first`);
  }
  const configSnippet = { [namespace]: { _access_key: '' } };
  const base = { namespace, installedPath: target, methods, configSnippet };
  if (resolve(source) === target) return { ...base, unchanged: true, replaced: false };
  const present = existsSync(target);
  if (present && sameContent(source, target)) return { ...base, unchanged: true, replaced: false };

  mkdirSync(lib, { recursive: true, mode: 0o755 });
  const tmp = join(lib, `.${namespace}.installing-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  try {
    if (isPackage) {
      cpSync(source, tmp, { recursive: true, filter: (p) => basename(p) !== '.git' });
      if (present) {
        const old = join(lib, `.${namespace}.old-${process.pid}`);
        renameSync(target, old);
        renameSync(tmp, target);
        rmSync(old, { recursive: true, force: true });
      } else renameSync(tmp, target);
    } else {
      writeFileSync(tmp, readFileSync(source), { mode: 0o644 });
      renameSync(tmp, target);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return { ...base, unchanged: false, replaced: present };
}

/** Same bytes (a file) or the same files with the same bytes (a folder). */
function sameContent(a: string, b: string): boolean {
  let sa: import('node:fs').Stats, sb: import('node:fs').Stats;
  try {
    sa = statSync(a);
    sb = statSync(b);
  } catch {
    return false;
  }
  if (sa.isFile() && sb.isFile()) return sa.size === sb.size && readFileSync(a).equals(readFileSync(b));
  if (!sa.isDirectory() || !sb.isDirectory()) return false;
  const na = readdirSync(a).filter((n) => n !== '.git').sort();
  const nb = readdirSync(b).filter((n) => n !== '.git').sort();
  return na.length === nb.length && na.every((n, i) => n === nb[i] && sameContent(join(a, n), join(b, n)));
}
