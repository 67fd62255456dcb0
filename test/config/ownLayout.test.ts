import { describe, expect, it } from 'vitest';
import { parseConfigText, serializeConfig } from '../../src/config/ConfigFile.js';
import { defaultSections } from '../../src/config/schema.js';
import { bufferChunks } from '../../src/config/chunks.js';
import { readOwnLayout } from '../../src/config/ownLayout.js';
import type { Entry } from '../../src/core/Entry.js';

/** Reads the text as a stream cut into small pieces, so that lines and values span pieces. */
const parseOwnLayout = (text: string, path: string) => readOwnLayout(bufferChunks(Buffer.from(text), 7), path);

const entry = (name: string, json: string, ip: string, ts: number, c: number, m: number): Entry => ({ name, json, lastWriteIp: ip, lastWriteTs: ts, createRevision: c, modRevision: m });

const entries: Entry[] = [
  entry('web-1', '{"port":80,"last_write_ip":"10.0.0.1","last_write_ts":1700000000}', '10.0.0.1', 1700000000, 1, 4),
  entry('odd "name"\\ ü', '{"nested":{"last_write_ip":"x","last_write_ts":1},"s":"a,\\nb","last_write_ip":"::1","last_write_ts":1.5}', '::1', 1.5, 2, 2),
  entry('old', '{"last_write_ts":7,"last_write_ip":"10.0.0.9","x":[1,2]}', '10.0.0.9', 7, 3, 3),
  entry('empty', '{"last_write_ip":"","last_write_ts":0}', '', 0, 5, 5),
];

function sections() {
  const s = defaultSections();
  s.services = { _access_key: 'secret' };
  return s;
}

describe('bpbroker.json written by the broker', () => {
  it('reads back, without a full parse, exactly what a full parse reads', () => {
    const text = serializeConfig(sections(), entries, 9);
    const own = parseOwnLayout(text, 'f.json');
    expect(own).toBeDefined();
    const full = parseConfigText(text.replace('"entries_crc32"', '"entries_crc32_"'), 'f.json');
    expect(full.ownLayout).toBeUndefined();
    expect(own!.sections).toEqual(full.sections);
    expect([...own!.entries.values()]).toEqual([...full.entries.values()]);
    expect([...own!.entries.values()]).toEqual(entries);
    expect(own!.revision).toBe(9);
  });

  it('parses a hand-edited file fully (the checksum no longer matches)', () => {
    const text = serializeConfig(sections(), entries, 9).replace('{"port":80,', '{"port": 81,');
    expect(parseOwnLayout(text, 'f.json')).toBeUndefined();
    const doc = parseConfigText(text, 'f.json');
    expect(doc.entries.get('web-1')!.json).toBe('{"port":81,"last_write_ip":"10.0.0.1","last_write_ts":1700000000}');
  });

  it('leaves files of other layouts to the full parse', () => {
    expect(parseOwnLayout('{"services": {"a": {"x": 1}}}', 'f.json')).toBeUndefined();
    expect(parseOwnLayout(serializeConfig(sections(), [], 0), 'f.json')).toBeUndefined();
  });
});
