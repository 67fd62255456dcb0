import { existsSync, lstatSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { namespaceProblem } from './sources.js';

/** What `bpbroker extension new` is asked to write. */
export interface ScaffoldOptions {
  name: string;
  /** The folder to write into (created when missing). */
  dir: string;
  python: boolean;
  /** The root of the installed bpbroker package, which the generated test imports `bpbroker/testing` from. */
  packageRoot: string;
}

export interface ScaffoldResult {
  dir: string;
  /** The files written, relative to `dir`. */
  files: string[];
  /** The node_modules/bpbroker link, when it was created (absent when one was there already). */
  linked?: string;
}

/** A refusal the command prints as `Fatal error: ...`. */
export class ScaffoldError extends Error {}

/**
 * Writes a new extension with its test. Nothing is overwritten: when any file to write exists, nothing is written.
 * The test resolves `bpbroker/testing` through `node_modules/bpbroker`, a link to the installed package (as
 * `npm install` makes from the `file:` dependency in the generated package.json), so it runs with nothing else
 * installed.
 */
export function scaffoldExtension(opts: ScaffoldOptions): ScaffoldResult {
  const problem = namespaceProblem(opts.name) ?? (/^[A-Za-z][A-Za-z0-9_-]*$/.test(opts.name) ? undefined : 'use letters, digits, "_" and "-", starting with a letter');
  if (problem) throw new ScaffoldError(`"${opts.name}" cannot be an extension name: ${problem}`);
  const dir = resolve(opts.dir);
  const files = opts.python ? pythonFiles(opts.name, opts.packageRoot) : typeScriptFiles(opts.name, opts.packageRoot);
  const existing = Object.keys(files).filter((f) => existsSync(join(dir, f)));
  if (existing.length > 0) {
    throw new ScaffoldError(`${existing.map((f) => join(dir, f)).join(', ')} already exist${existing.length === 1 ? 's' : ''}; nothing written (choose another --dir or name)`);
  }
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(join(dir, file), text, { flag: 'wx' });
  }
  const link = join(dir, 'node_modules/bpbroker');
  if (present(link)) return { dir, files: Object.keys(files) };
  mkdirSync(dirname(link), { recursive: true });
  symlinkSync(opts.packageRoot, link, 'dir');
  return { dir, files: Object.keys(files), linked: link };
}

/** Whether a path exists, a dangling link included. */
function present(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

function packageJson(name: string, packageRoot: string, python: boolean): string {
  const scripts: Record<string, string> = { test: 'node --test' };
  if (!python) scripts.typecheck = 'tsc -p .';
  return `${JSON.stringify(
    {
      name: `bpbroker-extension-${name.toLowerCase()}`,
      private: true,
      type: 'module',
      scripts,
      devDependencies: { bpbroker: `file:${packageRoot}` },
    },
    null,
    2,
  )}\n`;
}

// Only the extension's own files: `types: []` keeps it checkable without @types/node (add "node" once installed).
const TSCONFIG = `${JSON.stringify(
  {
    compilerOptions: {
      target: 'ES2022',
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      strict: true,
      noUncheckedIndexedAccess: true,
      noEmit: true,
      skipLibCheck: true,
      types: [],
    },
    include: ['*.ts'],
  },
  null,
  2,
)}\n`;

function typeScriptFiles(name: string, packageRoot: string): Record<string, string> {
  return {
    [`${name}.ts`]: `// ${name}: a bpbroker extension. Its exported functions are the methods clients call, e.g.
//   bpclient execute --method ${name}.Add --param item=web1
// Names starting with "_" are private (401 Unauthorized method). Types: bpbroker/extension.
import type { RequestHandler } from 'bpbroker/extension';

interface Added {
  item: string;
  addedBy: string;
  /** How many items this extension has added, kept in its private store. */
  count: number;
}

/** Adds an item: announces it in the registry (\`${name}/ITEM\`) and counts it in the extension's own store. */
export async function Add(rh: RequestHandler): Promise<Added | undefined> {
  const item = rh.qs.item;
  if (!item) {
    rh.status = 400;
    rh.statusMessage = 'item is required';
    return undefined;
  }
  const addedBy = rh.requestingHost();
  await rh.registry.update(_entryName(item), { added_by: addedBy });
  const count = (((await rh.store.get('count')) as number | undefined) ?? 0) + 1;
  await rh.store.put('count', count);
  rh.log.info('added', { item });
  return { item, addedBy, count };
}

/** Lists the items added so far, in name order. */
export async function List(rh: RequestHandler): Promise<string[]> {
  const prefix = _entryName('');
  const { entries } = await rh.registry.list(prefix);
  return entries.map((e) => e.name.slice(prefix.length));
}

export function _entryName(item: string): string {
  return \`${name}/\${item}\`;
}
`,
    'tsconfig.json': TSCONFIG,
    'package.json': packageJson(name, packageRoot, false),
    [`test/${name}.test.mjs`]: `// npm test: node's own test runner. The kit loads ${name}.ts as the broker does (bundled, in a worker) with a
// registry of its own, and answers as the broker's HTTPS API would.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { invoke, loadExtension } from 'bpbroker/testing';

const file = fileURLToPath(new URL('../${name}.ts', import.meta.url));

test('Add announces the item and counts it', async () => {
  const ext = await loadExtension(file, { store: { count: 41 } });
  try {
    const a = await ext.invoke('Add', { query: { item: 'web1' }, callerHost: '10.0.0.5' });
    assert.equal(a.status, 200);
    assert.deepEqual(a.json, { item: 'web1', addedBy: '10.0.0.5', count: 42 });
    assert.equal((await ext.registry())['${name}/web1']?.added_by, '10.0.0.5');
    assert.deepEqual((await ext.invoke('List')).json, ['web1']);
  } finally {
    await ext.close();
  }
});

test('Add without an item answers 400', async () => {
  const a = await invoke(file, 'Add');
  assert.equal(a.status, 400);
  assert.equal(a.reason, 'item is required');
});

test('private functions cannot be called', async () => {
  const a = await invoke(file, '_entryName', { query: { item: 'x' } });
  assert.equal(a.status, 401);
});
`,
  };
}

function pythonFiles(name: string, packageRoot: string): Record<string, string> {
  return {
    [`${name}.py`]: `"""${name}: a bpbroker extension (Python 3).

The functions this module defines are the methods clients call, e.g.
    bpclient execute --method ${name}.Add --param item=web1
Names starting with "_" are private (401 Unauthorized method).
"""
import json


def Add(rh):
    """Announce an item in the registry (${name}/ITEM) and echo it with its caller."""
    item = rh.qs.get("item")
    if not item:
        rh.status = 400
        rh.status_message = "item is required"
        return
    rh.registry.update(_entry_name(item), {"added_by": rh.RequestingHost()})
    rh.log.info("added", item=item)
    rh.data = json.dumps({"item": item, "added_by": rh.RequestingHost()})


def _entry_name(item):
    return "${name}/" + item
`,
    'package.json': packageJson(name, packageRoot, true),
    [`test/${name}.test.mjs`]: `// npm test: node's own test runner. The kit runs ${name}.py as the broker does (a python3 process) with a
// registry of its own, and answers as the broker's HTTPS API would.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { invoke, loadExtension } from 'bpbroker/testing';

const file = fileURLToPath(new URL('../${name}.py', import.meta.url));

test('Add announces the item', async () => {
  const ext = await loadExtension(file);
  try {
    const a = await ext.invoke('Add', { query: { item: 'web1' }, callerHost: '10.0.0.5' });
    assert.equal(a.status, 200);
    assert.deepEqual(a.json, { item: 'web1', added_by: '10.0.0.5' });
    assert.equal((await ext.registry())['${name}/web1']?.added_by, '10.0.0.5');
  } finally {
    await ext.close();
  }
});

test('Add without an item answers 400', async () => {
  const a = await invoke(file, 'Add');
  assert.equal(a.status, 400);
  assert.equal(a.reason, 'item is required');
});

test('private functions cannot be called', async () => {
  const a = await invoke(file, '_entry_name', { query: { item: 'x' } });
  assert.equal(a.status, 401);
});
`,
  };
}
