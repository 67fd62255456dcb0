import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Message, type Plugin } from 'esbuild';

/** An extension that cannot be loaded: the message says why (file, line, what). */
export class ExtensionLoadError extends Error {
  override readonly name = 'ExtensionLoadError';
}

/**
 * Bundles an extension's own files (its entry and relative imports, any of .js .mjs .cjs .ts) into one ES module
 * text: one immutable snapshot per version, which any number of workers can load later even if the files change
 * meanwhile. npm packages stay outside the bundle and are imported from where they are installed.
 */
export async function bundleExtension(entry: string): Promise<string> {
  return (await bundleWithPackages(entry)).code;
}

export interface Bundle {
  /** The ES module text, with an inline source map. */
  code: string;
  /** Folders of the npm packages it imports (resolved files' package roots): updating one calls for a reload. */
  packageDirs: string[];
}

/** bundleExtension, also telling where the packages it imports are installed. */
export async function bundleWithPackages(entry: string): Promise<Bundle> {
  const url = pathToFileURL(entry).href;
  const packageDirs = new Set<string>();
  const dir = dirname(entry);
  try {
    const result = await build({
      entryPoints: [entry],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      sourcemap: 'inline',
      logLevel: 'silent',
      absWorkingDir: dir,
      outdir: dir,
      // The bundle is loaded from a data: URL; give the author's code its real location back.
      define: {
        'import.meta.url': JSON.stringify(url),
        'import.meta.filename': JSON.stringify(entry),
        'import.meta.dirname': JSON.stringify(dir),
        __filename: JSON.stringify(entry),
        __dirname: JSON.stringify(dir),
      },
      // CommonJS code calls require(); esbuild renames any `require` the author declares, so this cannot clash.
      banner: { js: `import { createRequire as __bpbrokerCreateRequire } from 'node:module';\nconst require = __bpbrokerCreateRequire(${JSON.stringify(entry)});` },
      footer: { js: `//# sourceURL=${url}` },
      plugins: [externalPackages((file) => packageDirs.add(packageRootOf(file)))],
    });
    const out = result.outputFiles.find((f) => f.path.endsWith('.js')) ?? result.outputFiles[0];
    if (!out) throw new ExtensionLoadError(`${entry}: nothing was built`);
    return { code: out.text, packageDirs: [...packageDirs] };
  } catch (err) {
    if (err instanceof ExtensionLoadError) throw err;
    const errors = (err as { errors?: Message[] }).errors;
    if (Array.isArray(errors) && errors.length) throw new ExtensionLoadError(errors.map((m) => formatMessage(m, dir)).join('\n'));
    throw new ExtensionLoadError(`${entry}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function formatMessage(m: Message, dir: string): string {
  const loc = m.location ? `${resolve(dir, m.location.file)}:${m.location.line}:${m.location.column + 1}: ` : '';
  return `${loc}${m.text}${m.location?.lineText ? `\n    ${m.location.lineText.trim()}` : ''}`;
}

/** The package folder holding a resolved file: `.../node_modules/name` or `.../node_modules/@scope/name`. */
function packageRootOf(file: string): string {
  const marker = `${sep}node_modules${sep}`;
  const at = file.lastIndexOf(marker);
  // A linked package resolves to its real folder, outside any node_modules.
  if (at < 0) return dirname(file);
  const modules = file.slice(0, at + marker.length - 1);
  const [first = '', second = ''] = file.slice(at + marker.length).split(sep);
  return join(modules, first.startsWith('@') ? join(first, second) : first);
}

/** A bare import (`left-pad`, `@scope/x/y`) becomes an import of the resolved file's absolute URL. */
const externalPackages = (resolved: (file: string) => void): Plugin => ({
  name: 'bpbroker-external-packages',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, async (args) => {
      if (args.pluginData === 'bpbroker-resolving' || isAbsolute(args.path) || args.path.startsWith('node:')) return undefined;
      const r = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: 'bpbroker-resolving' });
      if (r.errors.length) return { errors: r.errors };
      // Node built-ins (`fs`, `os`) resolve as external without a file path: keep them as written.
      if (r.external || !isAbsolute(r.path)) return { path: r.path || args.path, external: true };
      resolved(r.path);
      // require() takes a path; import takes a URL (a data: module resolves nothing else).
      const viaRequire = args.kind === 'require-call' || args.kind === 'require-resolve';
      return { path: viaRequire ? r.path : pathToFileURL(r.path).href, external: true };
    });
  },
});
