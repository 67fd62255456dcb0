import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ExtensionLoadError } from '../bundle.js';

/**
 * One version of a Python extension: its module's text, which the runner compiles (tracebacks then show this
 * version's lines). For a package folder, a trailing comment names a digest of the folder's other .py files, so
 * that a change to a module it imports is a new version too (and reloads it).
 */
export function pythonCode(entry: string, packageFolder?: string): Promise<string> {
  let text: string;
  try {
    text = readFileSync(entry, 'utf8');
  } catch (err) {
    return Promise.reject(new ExtensionLoadError(`${entry}: ${err instanceof Error ? err.message : String(err)}`));
  }
  if (packageFolder === undefined) return Promise.resolve(text);
  const digest = createHash('sha256');
  for (const file of pythonFiles(packageFolder)) {
    if (file === entry) continue;
    digest.update(`${relative(packageFolder, file)}\0`);
    digest.update(readFileSync(file));
  }
  return Promise.resolve(`${text}${text.endsWith('\n') ? '' : '\n'}# bpbroker package modules: ${digest.digest('hex').slice(0, 16)}\n`);
}

/** The .py files under a folder, in a stable order (hidden folders and __pycache__ skipped). */
function pythonFiles(dir: string): string[] {
  const out: string[] = [];
  let items: import('node:fs').Dirent[];
  try {
    items = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const item of items.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (item.name.startsWith('.') || item.name === '__pycache__' || item.name === 'node_modules') continue;
    const p = join(dir, item.name);
    if (item.isDirectory()) out.push(...pythonFiles(p));
    else if (item.name.endsWith('.py')) out.push(p);
  }
  return out;
}
