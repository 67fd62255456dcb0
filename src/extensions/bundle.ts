import { dirname, isAbsolute, resolve } from 'node:path';
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
  const url = pathToFileURL(entry).href;
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
      plugins: [externalPackages],
    });
    const out = result.outputFiles.find((f) => f.path.endsWith('.js')) ?? result.outputFiles[0];
    if (!out) throw new ExtensionLoadError(`${entry}: nothing was built`);
    return out.text;
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

/** A bare import (`left-pad`, `@scope/x/y`) becomes an import of the resolved file's absolute URL. */
const externalPackages: Plugin = {
  name: 'bpbroker-external-packages',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, async (args) => {
      if (args.pluginData === 'bpbroker-resolving' || isAbsolute(args.path) || args.path.startsWith('node:')) return undefined;
      const r = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: 'bpbroker-resolving' });
      if (r.errors.length) return { errors: r.errors };
      // Node built-ins (`fs`, `os`) resolve as external without a file path: keep them as written.
      if (r.external || !isAbsolute(r.path)) return { path: r.path || args.path, external: true };
      // require() takes a path; import takes a URL (a data: module resolves nothing else).
      const viaRequire = args.kind === 'require-call' || args.kind === 'require-resolve';
      return { path: viaRequire ? r.path : pathToFileURL(r.path).href, external: true };
    });
  },
};
