import { ConfigError } from './ConfigError.js';
import { isPlainObject } from './merge.js';
import { isServicesSetting } from './defaults.js';

type Rule = (v: unknown) => string | undefined;

const integer = (min: number, max: number): Rule => (v) =>
  Number.isInteger(v) && (v as number) >= min && (v as number) <= max ? undefined : `must be an integer from ${min} to ${max}`;
const nonNegative: Rule = (v) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? undefined : 'must be a number of 0 or more');
const positive: Rule = (v) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? undefined : 'must be a number above 0');
const string: Rule = (v) => (typeof v === 'string' ? undefined : 'must be a string');
const strings: Rule = (v) => (Array.isArray(v) && v.every((s) => typeof s === 'string') ? undefined : 'must be a list of strings');

/** Known settings and what they must hold. Unknown keys are kept as they are (extensions own their sections). */
const RULES: Record<string, Record<string, Rule>> = {
  api: {
    listen_port: integer(0, 65535),
    listen_ip: string,
    ssl_cert: string,
    ssl_key: string,
    max_body_bytes: integer(1, 2 ** 31),
    max_header_bytes: integer(1024, 2 ** 24),
    max_name_length: integer(1, 2 ** 24),
    max_entry_bytes: integer(1, 2 ** 31),
    max_entry_members: integer(1, 2 ** 31),
    max_registry_bytes: integer(1, 2 ** 52),
    max_page_bytes: integer(1, 2 ** 31),
    max_connections: integer(1, 2 ** 31),
    headers_timeout_secs: positive,
    idle_timeout_secs: positive,
    request_timeout_secs: positive,
    response_timeout_secs: positive,
    admin_key: string,
  },
  grpc: { listen_port: integer(0, 65535), max_concurrent_streams: integer(1, 2 ** 31 - 1) },
  registry: { history_revisions: integer(1, 2 ** 31), history_bytes: integer(1024, 2 ** 52) },
  worker: { timeout_secs: positive, memory_mb: integer(0, 2 ** 20), extension_dirs: strings },
  _global: { healthcheck_freq_sec: nonNegative },
  _config: { backup_freq_secs: nonNegative, backup_retain_n: integer(0, 100000) },
};

/** Checks a parsed configuration file; throws a ConfigError naming the file and the bad key. */
export function validateConfig(doc: unknown, file: string): asserts doc is Record<string, Record<string, unknown>> {
  const fail = (key: string, why: string): never => {
    throw new ConfigError(`Invalid configuration in ${file}: "${key}" ${why}`);
  };
  if (!isPlainObject(doc)) throw new ConfigError(`Invalid configuration in ${file}: the file must hold one JSON object`);
  for (const [section, body] of Object.entries(doc)) {
    if (!isPlainObject(body)) fail(section, 'must be an object');
    const obj = body as Record<string, unknown>;
    // Own members only: `in` also sees Object.prototype (a section named `constructor` is a section like any other).
    if (Object.hasOwn(obj, '_access_key') && typeof obj._access_key !== 'string') fail(`${section}._access_key`, 'must be a string');
    if (Object.hasOwn(obj, '_timeout_secs') && positive(obj._timeout_secs)) fail(`${section}._timeout_secs`, 'must be a number above 0');
    for (const [key, rule] of Object.entries(Object.hasOwn(RULES, section) ? RULES[section]! : {})) {
      if (!Object.hasOwn(obj, key)) continue;
      const why = rule(obj[key]);
      if (why) fail(`${section}.${key}`, why);
    }
    if (section === 'services') {
      for (const [name, entry] of Object.entries(obj)) {
        if (!isServicesSetting(name) && !isPlainObject(entry)) fail(`services.${name}`, 'must be an object (a registry entry)');
      }
    }
  }
}
