/**
 * bpbroker.json is read a piece at a time (test/reliability/big-registry.test.ts reads more than 1 GiB); here the
 * pieces are cut small, so that every value, escape and line crosses a boundary somewhere.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConfigText, serializeConfig } from '../../src/config/ConfigFile.js';
import { defaultSections } from '../../src/config/schema.js';
import type { Entry } from '../../src/core/Entry.js';

const read = (text: string, chunkBytes: number) => parseConfigText(text, '/etc/x.json', { chunkBytes });

describe('reading any layout a piece at a time', () => {
  it('finds the same entries and sections as JSON.parse, whatever the pieces and the indentation', () => {
    const key = fc.string({ maxLength: 6 }).filter((k) => !k.startsWith('_'));
    const entryData = fc.dictionary(key, fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 });
    fc.assert(
      fc.property(fc.dictionary(key.filter((k) => k !== ''), entryData, { maxKeys: 6 }), fc.integer({ min: 1, max: 9 }), fc.constantFrom(0, 2, 4, '\t'), (services, chunkBytes, indent) => {
        const doc = { api: { listen_port: 1234 }, services: { _access_key: 'k"\\ é', ...services }, ossec: { _access_key: '' } };
        const got = read(JSON.stringify(doc, null, indent), chunkBytes);
        expect(got.sections).toEqual({ api: { listen_port: 1234 }, services: { _access_key: 'k"\\ é' }, ossec: { _access_key: '' } });
        expect([...got.entries.keys()]).toEqual(Object.keys(services));
        for (const [name, data] of Object.entries(services)) {
          const e = got.entries.get(name)!;
          // Compact, and otherwise the text as written.
          expect(e.json).toBe(JSON.stringify(data));
          expect(e.createRevision).toBeGreaterThan(0);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('keeps numbers and escapes exactly as written, and reads the writer stamps', () => {
    const text = `{"services": {"n": {"id": 12345678901234567890, "f": 1.0, "e": 1E+3, "s": "a\\"b\\\\\\u00e9\\/",
      "last_write_ip": "10.0.0.1", "last_write_ts": 1700000000.5}}}`;
    for (const size of [1, 2, 3, 5, 64]) {
      const e = read(text, size).entries.get('n')!;
      expect(e.json).toBe('{"id":12345678901234567890,"f":1.0,"e":1E+3,"s":"a\\"b\\\\\\u00e9\\/","last_write_ip":"10.0.0.1","last_write_ts":1700000000.5}');
      expect(e).toMatchObject({ lastWriteIp: '10.0.0.1', lastWriteTs: 1700000000.5 });
    }
  });

  it('keeps members named __proto__ or toString as members', () => {
    const doc = read('{"__proto__": {"x": 1}, "services": {"__proto__": "s", "toString": {"y": 2}}}', 4);
    expect(Object.getPrototypeOf(doc.sections)).toBe(Object.prototype);
    expect(Object.hasOwn(doc.sections, '__proto__')).toBe(true);
    expect(Object.hasOwn(doc.sections.services!, '__proto__')).toBe(true);
    expect(doc.entries.get('toString')!.json).toBe('{"y":2}');
  });

  it('names the file, the byte and the backups for malformed text; validates settings and entries', () => {
    const notJson = /^\/etc\/x\.json is not valid JSON \(.*at byte \d+.*\)\. Fix it, or restore a backup: .*bpbroker backup restore/;
    for (const text of ['', '{', '{"services": {"a": ', '{"services": {"a": {"x": 1}', '{"services": {"a": {"x": 1,}}}', '{"a": {}} x', '{"a" {}}', '{"services": {"a": {"x": tru}}}']) {
      for (const size of [1, 3, 100]) expect(() => read(text, size), text).toThrow(text === '' ? /is not valid JSON \(the file is empty\)/ : notJson);
    }
    expect(() => read('[1, 2]', 2)).toThrow('Invalid configuration in /etc/x.json: the file must hold one JSON object');
    expect(() => read('{"services": {"a": [1]}}', 2)).toThrow('/etc/x.json: services.a: expected an object (a registry entry), got a list');
    expect(() => read('{"services": []}', 2)).toThrow('/etc/x.json: services: expected an object, got a list');
    expect(() => read('{"api": {"listen_port": "x"}, "services": {}}', 2)).toThrow('/etc/x.json: api.listen_port: expected an integer from 0 to 65535, got "x"');
  });
});

describe("reading the broker's own layout a piece at a time", () => {
  const entry = (name: string, json: string, c: number, m: number): Entry => ({ name, json, lastWriteIp: '10.0.0.1', lastWriteTs: 5, createRevision: c, modRevision: m });
  const entries = Array.from({ length: 2000 }, (_, i) => entry(`e${i} "q"\\`, `{"i":${i},"f":1.0,"last_write_ip":"10.0.0.1","last_write_ts":5}`, i + 1, i + 2));

  it('takes each entry line as it is when the checksum matches, with its revisions', () => {
    const s = defaultSections();
    s.services = { _access_key: 'k' };
    const text = serializeConfig(s, entries, 7777);
    for (const size of [1, 13, 4096]) {
      const doc = read(text, size);
      expect(doc.ownLayout).toBe(true);
      expect(doc.revision).toBe(7777);
      expect(doc.sections.services).toEqual({ _access_key: 'k' });
      expect([...doc.entries.values()]).toEqual(entries);
    }
  });

  it('falls back to the full reader when a line was edited (checksum), still exact', () => {
    const text = serializeConfig(defaultSections(), entries, 7777).replace('{"i":5,', '{"i":5.50,');
    const doc = read(text, 17);
    expect(doc.ownLayout).toBeUndefined();
    expect(doc.entries.get('e5 "q"\\')).toMatchObject({ json: '{"i":5.50,"f":1.0,"last_write_ip":"10.0.0.1","last_write_ts":5}', createRevision: 6, modRevision: 7 });
  });
});
