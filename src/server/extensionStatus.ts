import type { Sections } from '../config/schema.js';
import type { ExtensionInfo } from '../extensions/ExtensionHost.js';
import { namespaceProblem } from '../extensions/sources.js';

/**
 * One namespace as `bpbroker status` shows it. The look-alike failures (all `401 Unauthorized package` on the
 * wire) differ here: `failed` (enabled, no version loaded), `missing` (enabled, not installed), `enabled: false`
 * (installed, not in the configuration); `stale` says the last good version serves while the newest is broken.
 */
export interface ExtensionStatus {
  namespace: string;
  methods: string[];
  /** Why the newest version on disk did not load. */
  error?: string;
  /** The configuration has its section (its whitelist entry), or it is served from a `--watch` folder. Absent in status files of older brokers. */
  enabled?: boolean;
  state?: 'serving' | 'stale' | 'failed' | 'missing';
  /** Where it was found: a file or a package folder. */
  file?: string;
  /** Same-named extensions in later folders that it hides. */
  shadows?: string[];
  /** Development mode: type errors in its files when last saved (it serves all the same). */
  typeErrors?: string[];
}

/** The installed extensions as the host lists them, and the enabled namespaces that have none. */
export function extensionStatuses(installed: readonly ExtensionInfo[], sections: Sections): ExtensionStatus[] {
  const out: ExtensionStatus[] = installed.map((e) => ({
    namespace: e.namespace,
    methods: e.methods,
    ...(e.error !== undefined ? { error: e.error } : {}),
    enabled: Object.hasOwn(sections, e.namespace) || e.watched === true,
    state: e.error === undefined ? 'serving' : e.version !== undefined ? 'stale' : 'failed',
    file: e.file,
    ...(e.shadows ? { shadows: e.shadows } : {}),
    ...(e.typeErrors ? { typeErrors: e.typeErrors } : {}),
  }));
  const known = new Set(installed.map((e) => e.namespace));
  for (const ns of Object.keys(sections)) {
    if (!known.has(ns) && namespaceProblem(ns) === undefined) out.push({ namespace: ns, methods: [], enabled: true, state: 'missing' });
  }
  return out.sort((a, b) => (a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : 0));
}

/** Text lines of `bpbroker status` for the extensions, one a namespace, saying what serves and why not. */
export function describeExtensions(list: readonly ExtensionStatus[]): string[] {
  return list.map((e) => {
    const methods = e.methods.join(', ');
    const why = e.error === undefined ? '' : firstLine(e.error);
    let text: string;
    switch (e.state) {
      case 'missing':
        text = 'enabled in the configuration, but not installed';
        break;
      case 'failed':
        text = `failed to load, nothing serves: ${why}`;
        break;
      case 'stale':
        text = `the last good version serves (${methods}); the newest failed to load: ${why}`;
        break;
      default:
        text = e.error === undefined ? `serving (${methods})` : `failed to load: ${why}`;
    }
    if (e.enabled === false && e.state !== 'missing') text += '; not enabled: add its section to the configuration to call it';
    if (e.shadows?.length) text += `; from ${e.file}, hiding ${e.shadows.join(', ')}`;
    if (e.typeErrors?.length) text += `; ${e.typeErrors.length} type error(s), first: ${e.typeErrors[0]}`;
    return `${e.namespace}: ${text}`;
  });
}

function firstLine(s: string): string {
  return s.split('\n', 1)[0] ?? s;
}
