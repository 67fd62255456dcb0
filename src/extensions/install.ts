import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, extname, join, relative, resolve } from 'node:path';
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
 * Copies an extension into the extensions folder after checking that it loads there. The copy lands under a
 * hidden temporary name (which a running broker ignores), is loaded from there, where its imports resolve as
 * they will when it runs, and only then is renamed into place, so a running broker never loads half a file or
 * one that cannot find its packages.
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

  const target = join(lib, isPackage ? namespace : namespace + extname(name));
  // Another form of the same namespace (Test.js beside Test.ts) would be ambiguous: one of them would never run.
  const existing = findSource([lib], namespace);
  if (existing && resolve(existing.path) !== target) {
    throw new InstallError(`${existing.path} already provides namespace "${namespace}"; remove it first`);
  }
  const configSnippet = { [namespace]: { _access_key: '' } };
  if (resolve(source) === target) {
    const methods = await check(opts.script, namespace, entry, source, source, lib);
    return { namespace, installedPath: target, methods, configSnippet, unchanged: true, replaced: false };
  }
  const present = existsSync(target);
  mkdirSync(lib, { recursive: true, mode: 0o755 });
  // The hidden copy keeps the file's extension: that is how its code is read (TypeScript or JavaScript).
  const tmp = join(lib, `.${namespace}.installing-${process.pid}${isPackage ? '' : extname(name)}`);
  rmSync(tmp, { recursive: true, force: true });
  try {
    if (isPackage) cpSync(source, tmp, { recursive: true, filter: (p) => basename(p) !== '.git' });
    else writeFileSync(tmp, readFileSync(source), { mode: 0o644 });
    const methods = await check(opts.script, namespace, isPackage ? join(tmp, relative(source, entry)) : tmp, tmp, source, lib);
    const base = { namespace, installedPath: target, methods, configSnippet };
    if (present && sameContent(source, target)) return { ...base, unchanged: true, replaced: false };
    if (isPackage && present) {
      const old = join(lib, `.${namespace}.old-${process.pid}`);
      renameSync(target, old);
      renameSync(tmp, target);
      rmSync(old, { recursive: true, force: true });
    } else renameSync(tmp, target);
    return { ...base, unchanged: false, replaced: present };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Loads the copy as the broker will; its messages name the author's source (`copy` stands for `source`), and a
 * package that does not resolve from the extensions folder says how to make it.
 */
async function check(script: string, namespace: string, entry: string, copy: string, source: string, lib: string): Promise<string[]> {
  let methods: string[];
  try {
    methods = await probeExtension(namespace, entry);
  } catch (err) {
    const why = (err instanceof Error ? err.message : String(err)).split(copy).join(source);
    const missing = /Could not resolve "([^"]+)"/.exec(why)?.[1];
    const hint = missing === undefined || missing.startsWith('.') ? '' : `\n${unresolvedHint(missing, lib)}`;
    throw new InstallError(`${script} does not load, nothing installed:\n${why}${hint}`);
  }
  if (methods.length === 0) throw new InstallError(`${script} exports no public function, nothing installed`);
  return methods;
}

function unresolvedHint(pkg: string, lib: string): string {
  return (
    `The package "${pkg}" cannot be found from ${lib}, where the broker runs the extension (packages beside the ` +
    `source do not count). Install it there (cd ${lib} && npm install ${pkg}), or install the extension as a ` +
    'package folder holding its own node_modules.'
  );
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
