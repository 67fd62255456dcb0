import { SourceMap } from 'node:module';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * Stack frames of a bundle, rewritten to the author's files and lines. Node applies no source map to a module
 * loaded from a data: URL (even with --enable-source-maps), so the worker maps its frames itself with the
 * bundle's inline map: `inventory.ts:62:5`, not the bundle's line.
 */
export function stackMapper(entry: string, code: string): (stackText: string) => string {
  const map = inlineMap(code);
  if (!map) return (s) => s;
  const dir = dirname(entry);
  const url = pathToFileURL(entry).href;
  // Frames of the bundle carry the entry's URL (its sourceURL comment) with the bundle's line and column.
  const frame = new RegExp(`${escapeRegExp(url)}:(\\d+):(\\d+)`, 'g');
  return (stackText) =>
    stackText.replace(frame, (whole, line: string, column: string) => {
      const found = map.findEntry(Number(line) - 1, Number(column) - 1) as { originalSource?: string; originalLine?: number; originalColumn?: number };
      if (found.originalSource === undefined || found.originalLine === undefined || found.originalColumn === undefined) return whole;
      const file = found.originalSource.startsWith('file://') ? new URL(found.originalSource).pathname : resolve(dir, found.originalSource);
      return `${file}:${found.originalLine + 1}:${found.originalColumn + 1}`;
    });
}

/**
 * Makes every stack trace formed in this thread name the author's files: what a call throws (logged, and shown
 * to the caller in development), what loading throws (`install-extension`'s message), and what the extension
 * prints itself.
 */
export function mapStacksInThisThread(entry: string, code: string, hostScript: string): void {
  const mapFrames = stackMapper(entry, code);
  // The worker's own frames (loading the module, dispatching a call) say nothing about the author's code.
  const hostFrame = (c: NodeJS.CallSite): boolean => {
    const file = c.getFileName() ?? '';
    return file === hostScript || HOST_INTERNALS.some((prefix) => file.startsWith(prefix));
  };
  const errorToString = Error.prototype.toString;
  Error.prepareStackTrace = (err: unknown, callSites: NodeJS.CallSite[]): string => {
    let head: string;
    try {
      head = errorToString.call(err);
    } catch {
      head = 'Error';
    }
    return mapFrames(head + callSites.filter((c) => !hostFrame(c)).map((c) => `\n    at ${String(c)}`).join(''));
  };
}

/** Node's frames of loading a module and of delivering the worker's messages. */
const HOST_INTERNALS = ['node:internal/modules/', 'node:internal/event_target', 'node:internal/per_context/messageport'];

function inlineMap(code: string): SourceMap | undefined {
  const m = /\/\/# sourceMappingURL=data:application\/json;base64,([A-Za-z0-9+/=]+)\s*$/.exec(code);
  if (!m) return undefined;
  try {
    return new SourceMap(JSON.parse(Buffer.from(m[1]!, 'base64').toString('utf8')) as ConstructorParameters<typeof SourceMap>[0]);
  } catch {
    return undefined;
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
