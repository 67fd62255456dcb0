/** The configuration schema (src/config/schema.ts): its defaults, its messages, and the published JSON Schema. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configJsonSchemaText, defaultSections, unknownSettings, validateConfig } from '../../src/config/schema.js';
import { ROOT } from '../helpers/broker.js';

describe('the configuration schema', () => {
  it('gives the defaults every bpbroker.json has been written with', () => {
    expect(defaultSections()).toEqual({
      api: {
        listen_port: 20443,
        listen_ip: '',
        ssl_cert: '',
        ssl_key: '',
        max_body_bytes: 1048576,
        max_header_bytes: 131072,
        max_name_length: 65536,
        max_entry_bytes: 1048576,
        max_entry_members: 10000,
        max_registry_bytes: 268435456,
        max_page_bytes: 1048576,
        max_connections: 4096,
        headers_timeout_secs: 10,
        idle_timeout_secs: 30,
        request_timeout_secs: 60,
        response_timeout_secs: 30,
        admin_key: '',
      },
      grpc: { listen_port: 0, max_concurrent_streams: 100 },
      registry: {
        backend: 'embedded',
        history_revisions: 100000,
        history_bytes: 67108864,
        etcd_endpoints: ['https://127.0.0.1:2379'],
        etcd_prefix: '/bpbroker/',
        etcd_ca: '',
        etcd_cert: '',
        etcd_key: '',
        etcd_username: '',
        etcd_password: '',
      },
      worker: { timeout_secs: 30, memory_mb: 256, extension_dirs: [] },
      _global: { healthcheck_freq_sec: 10 },
      _config: { backup_freq_secs: 3600, backup_retain_n: 24 },
      ping: {},
      services: {},
    });
    // Each call is a fresh object: a caller changing its copy changes no other.
    defaultSections().worker.extension_dirs.push('x');
    expect(defaultSections().worker.extension_dirs).toEqual([]);
  });

  it('names the file, the key path, what was expected and what was found', () => {
    const message = (doc: unknown): string => {
      try {
        validateConfig(doc, 'etc/bpbroker.json');
        return 'valid';
      } catch (err) {
        return (err as Error).message;
      }
    };
    const proto = JSON.parse('{"__proto__": {"_access_key": 7}}');
    for (const [doc, want] of [
      [{ api: { listen_port: 'abc' } }, 'etc/bpbroker.json: api.listen_port: expected an integer from 0 to 65535, got "abc"'],
      [{ api: { listen_port: 70000 } }, 'etc/bpbroker.json: api.listen_port: expected an integer from 0 to 65535, got 70000'],
      [{ api: { idle_timeout_secs: 0 } }, 'etc/bpbroker.json: api.idle_timeout_secs: expected a number above 0, got 0'],
      [{ grpc: 'on' }, 'etc/bpbroker.json: grpc: expected an object, got "on"'],
      [{ worker: { extension_dirs: ['a', 3] } }, 'etc/bpbroker.json: worker.extension_dirs.1: expected a string, got 3'],
      [{ ossec: { _timeout_secs: -1 } }, 'etc/bpbroker.json: ossec._timeout_secs: expected a number above 0, got -1'],
      [{ ossec: [] }, 'etc/bpbroker.json: ossec: expected an object, got a list'],
      [proto, 'etc/bpbroker.json: __proto__._access_key: expected a string, got 7'],
      [{ $schema: 5 }, 'etc/bpbroker.json: $schema: expected a string, got 5'],
      [{ $schema: './bpbroker.schema.json', api: { listen_prot: 'typo' }, ossec: { anything: [1] } }, 'valid'],
    ] as const) {
      expect(message(doc)).toBe(want);
    }
  });

  it('lists unknown members of its own sections, not of namespaces', () => {
    expect(unknownSettings({ api: { listen_port: 1, listen_prot: 2 }, _config: { backup_freq: 1 }, ossec: { dir: 'x' }, services: { _x: 1 } })).toEqual([
      'api.listen_prot',
      '_config.backup_freq',
    ]);
  });

  it('is published as bpbroker.schema.json, as it is now (`npm run schema` writes it)', () => {
    expect(readFileSync(join(ROOT, 'bpbroker.schema.json'), 'utf8')).toBe(configJsonSchemaText());
  });
});
