import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyPatch, entryDataJson, makeEntryJson, mergeMembers } from '../../src/core/entryJson.js';
import { compactJson, escapeNonAscii, joinMembers, parseJson, splitMembers } from '../../src/core/json.js';
import { parseAnyJson, parseEntryData } from '../../src/core/values.js';

/** JSON number lexemes of every shape, including ones a JavaScript number cannot keep. */
const numberText = fc
  .tuple(fc.boolean(), fc.oneof(fc.constant('0'), fc.bigInt({ min: 1n, max: 10n ** 30n }).map(String)), fc.option(fc.nat().map(String)), fc.option(fc.tuple(fc.constantFrom('e', 'E'), fc.constantFrom('', '+', '-'), fc.nat(999))))
  .map(([neg, int, frac, exp]) => `${neg ? '-' : ''}${int}${frac === null ? '' : `.${frac}`}${exp === null ? '' : `${exp[0]}${exp[1]}${exp[2]}`}`);

/** JSON text with arbitrary whitespace, escapes and number lexemes. */
const ws = fc.constantFrom('', ' ', '\n  ', '\t', '\r\n');
const jsonText: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    numberText,
    fc.string({ unit: 'grapheme' }).map((s) => JSON.stringify(s)),
    fc.constantFrom('true', 'false', 'null', '"\\u00e9\\/\\"\\\\"', '"é ✓ 😀"'),
    fc.array(fc.tuple(ws, tie('value')), { maxLength: 4 }).map((items) => `[${items.map(([w, v]) => `${w}${v}${w}`).join(',')}]`),
    fc
      .array(fc.tuple(fc.string({ unit: 'grapheme', maxLength: 6 }), ws, tie('value')), { maxLength: 4 })
      .map((members) => `{${members.map(([k, w, v]) => `${w}${JSON.stringify(k)}${w}:${w}${v}`).join(',')}}`),
  ),
})).value;

describe('lossless JSON text', () => {
  it('keeps every number as written: 1.0, big integers, exponents, -0, 1e999', () => {
    const sent = '{"id": 12345678901234567890, "f": 1.0, "e": 1e3, "x": 1e999, "z": -0, "E": 1E+3, "n": [0.10, -1.5e-7]}';
    const r = parseJson(sent);
    expect(r.ok && r.json).toBe('{"id":12345678901234567890,"f":1.0,"e":1e3,"x":1e999,"z":-0,"E":1E+3,"n":[0.10,-1.5e-7]}');
  });

  it('compacts any JSON text without changing its meaning or any number lexeme', () => {
    fc.assert(
      fc.property(jsonText, (text) => {
        const compact = compactJson(text);
        expect(JSON.parse(compact)).toEqual(JSON.parse(text));
        expect(compact.match(/-?\d+(\.\d+)?([eE][+-]?\d+)?/g)?.filter((n) => !text.includes(n)) ?? []).toEqual([]);
        expect(compactJson(compact)).toBe(compact);
      }),
    );
  });

  it('splits an object into its members and joins them back to the same text', () => {
    fc.assert(
      fc.property(jsonText.filter((t) => t.trimStart().startsWith('{')), (text) => {
        const compact = compactJson(text);
        const members = splitMembers(compact);
        expect(joinMembers(members)).toBe(compact);
        for (const m of members) {
          expect(JSON.parse(m.key)).toBe(m.name);
          JSON.parse(m.value); // each value is whole JSON text
        }
      }),
    );
  });

  it('merges like a shallow object spread, member texts untouched', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 3 }), numberText), fc.dictionary(fc.string({ maxLength: 3 }), numberText), (a, b) => {
        const text = (d: Record<string, string>): string => `{${Object.entries(d).map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
        const merged = joinMembers(mergeMembers(splitMembers(text(a)), splitMembers(text(b))));
        const names = (t: string): string[] => splitMembers(t).map((m) => m.name);
        expect(names(merged).sort()).toEqual(Object.keys({ ...a, ...b }).sort());
        for (const m of splitMembers(merged)) expect(m.value).toBe(Object.hasOwn(b, m.name) ? b[m.name] : a[m.name]);
      }),
    );
  });

  it('escapes every non-ASCII character as \\uXXXX, surrogate pairs above U+FFFF', () => {
    expect(escapeNonAscii('{"u":"é","e":"😀","a":"plain"}')).toBe('{"u":"\\u00e9","e":"\\ud83d\\ude00","a":"plain"}');
    fc.assert(
      fc.property(jsonText, (text) => {
        const escaped = escapeNonAscii(text);
        // biome-ignore lint/suspicious/noControlCharactersInRegex: the ASCII range is the point
        expect(escaped).toMatch(/^[\x00-\x7f]*$/);
        expect(JSON.parse(escaped)).toEqual(JSON.parse(text));
      }),
    );
  });
});

describe('entries', () => {
  it('stores an object as its members, anything else as _str, and a repeated name once (last value wins)', () => {
    expect(parseEntryData('{"a": 1.0}').json).toBe('{"a":1.0}');
    expect(parseEntryData('[1.0]').json).toBe('{"_str":"[1.0]"}');
    expect(parseEntryData('hello "x"').json).toBe('{"_str":"hello \\"x\\""}');
    expect(parseEntryData('{"a":1,"b":2,"a":3.0}').json).toBe('{"a":3.0,"b":2}');
    expect(parseAnyJson('[1.0, 2e5]')).toBe('[1.0,2e5]');
    expect(parseAnyJson(undefined)).toBe('null');
    expect(parseAnyJson('NaN')).toBe('{"_str":"NaN"}');
  });

  it('updates wide entries by member and recovers the data without the stamps', () => {
    const base = makeEntryJson('{"a":1.0,"b":{"c":[1,"}"]}}', '10.0.0.1', 1700000000);
    const updated = applyPatch(base, '{"b":2e3,"n":12345678901234567890}', '10.0.0.2', 1700000001);
    expect(updated).toBe('{"a":1.0,"b":2e3,"n":12345678901234567890,"last_write_ip":"10.0.0.2","last_write_ts":1700000001}');
    expect(entryDataJson(updated, '10.0.0.2', 1700000001)).toBe('{"a":1.0,"b":2e3,"n":12345678901234567890}');
    expect(entryDataJson(makeEntryJson('{}', '10.0.0.1', 1), '10.0.0.1', 1)).toBe('{}');
    // Stamps elsewhere (an old file's entry) and stamp-like text inside a value.
    expect(entryDataJson('{"last_write_ip":"10.0.0.1","last_write_ts":1700000000,"a":1}', '10.0.0.1', 1700000000)).toBe('{"a":1}');
    const tricky = makeEntryJson('{"s":"\\"last_write_ip\\":\\"10.0.0.1\\",\\"last_write_ts\\":1}"}', '10.0.0.1', 1);
    expect(entryDataJson(tricky, '10.0.0.1', 1)).toBe('{"s":"\\"last_write_ip\\":\\"10.0.0.1\\",\\"last_write_ts\\":1}"}');
  });
});
