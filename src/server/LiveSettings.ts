import { ConfigError } from '../config/ConfigError.js';
import { additiveMerge, deepMerge } from '../config/merge.js';
import { setOwn } from '../config/ownKeys.js';
import { type BrokerConfig, isServicesSetting, RESERVED_SECTIONS, type Sections, validateConfig } from '../config/schema.js';
import type { Broker } from '../core/Broker.js';
import type { Logger } from '../log/Logger.js';

/** What a settings change did, in `bpbroker configure`'s terms (dotted paths). */
export interface SettingsChange {
  applied: string[];
  untouched: string[];
}

/**
 * Namespaces' sections (`services` included: its access key) are read on every call; the broker's own sections
 * (api, grpc, registry, worker, _global, _config, any other `_` one) only at its start.
 */
export function needsRestart(path: string): boolean {
  const section = path.split('.')[0]!;
  if (section === 'services' || section === '$schema') return false;
  return section.startsWith('_') || RESERVED_SECTIONS.has(section);
}

/**
 * The settings of a running broker, as its file holds them and as this run uses them (the file's, under the
 * command line's). `apply` is `bpbroker configure` for a running broker: the same additive merge and schema,
 * then the broker uses the result on its next call and the snapshotter (the file's only writer) saves it.
 */
export class LiveSettings {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private file: Sections,
    private readonly overrides: Sections | undefined,
    private readonly broker: Broker,
    private readonly save: () => Promise<void>,
    private readonly log: Logger,
  ) {}

  /** What bpbroker.json holds: the snapshotter writes these. */
  get fileSections(): Sections {
    return this.file;
  }

  /** One change at a time: each merges over what the previous one left. */
  apply(input: Sections, inputName: string): Promise<SettingsChange> {
    const run = this.queue.then(() => this.applyNow(input, inputName));
    this.queue = run.catch(() => {});
    return run;
  }

  private async applyNow(input: Sections, inputName: string): Promise<SettingsChange> {
    // As configure: `_registry` describes a file's entries, it is no setting.
    const { _registry: _omit, ...settings } = input;
    // Registry entries go through the registry API, never into the settings (whoever calls this endpoint).
    const services = settings.services;
    const entries = services !== null && typeof services === 'object' ? Object.keys(services).filter((k) => !isServicesSetting(k)) : [];
    if (entries.length > 0) {
      throw new ConfigError(`A running broker takes settings only; ${inputName} holds registry entries (${entries.map((k) => `services.${k}`).join(', ')}): register them through its API.`);
    }
    const { merged, applied, untouched } = additiveMerge({ ...this.file }, settings);
    const atStart = applied.filter(needsRestart);
    if (atStart.length > 0) {
      throw new ConfigError(
        `A running broker takes these settings only at its start: ${atStart.join(', ')}. Nothing was applied; stop the broker, configure, then start it.`,
      );
    }
    validateConfig(merged, inputName);
    const sections: Sections = {};
    for (const [k, v] of Object.entries(merged)) setOwn(sections, k, v);
    if (applied.length === 0) return { applied, untouched };
    const before = { file: this.file, settings: this.broker.settings };
    this.file = sections;
    this.broker.replaceSettings((this.overrides ? deepMerge(sections, this.overrides) : sections) as BrokerConfig);
    try {
      await this.save();
    } catch (err) {
      // Not saved: not applied either, so what runs is what the file holds.
      this.file = before.file;
      this.broker.replaceSettings(before.settings);
      throw err;
    }
    this.log.info('configuration applied while running', { applied });
    return { applied, untouched };
  }
}
