/** bpclient prints JSON exactly as the old client's Python `json.dumps` did; expected strings come from CPython. */
import { describe, expect, it } from 'vitest';
import { formatRecord } from '../../src/client/output.js';
import { parsePyJson, pyDumps, pyFloatRepr } from '../../src/client/pyJson.js';

const dumps = (text: string) => pyDumps(parsePyJson(text));

describe('Python json.dumps style', () => {
  it('separators, order and nesting', () => {
    expect(dumps('{"b":1,"a":{"x":[1,2,{"y":null}]},"c":true,"d":false}')).toBe('{"b": 1, "a": {"x": [1, 2, {"y": null}]}, "c": true, "d": false}');
    expect(dumps('{}')).toBe('{}');
    expect(dumps('[]')).toBe('[]');
    expect(dumps(' [ ] ')).toBe('[]');
  });

  it('keeps key order, integer-like keys included; a repeated key keeps its first place and last value', () => {
    expect(dumps('{"b":1,"2":2,"1":3}')).toBe('{"b": 1, "2": 2, "1": 3}');
    expect(dumps('{"a":1,"b":2,"a":3}')).toBe('{"a": 3, "b": 2}');
  });

  it('escapes strings as ensure_ascii does', () => {
    expect(dumps(JSON.stringify('José ☃ 😀'))).toBe('"Jos\\u00e9 \\u2603 \\ud83d\\ude00"');
    expect(dumps(JSON.stringify('a"b\\c\n\r\t\b\f\u0001\u007f/'))).toBe('"a\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u007f/"');
  });

  it('numbers: ints exactly, floats as repr', () => {
    const cases: [string, string][] = [
      ['0', '0'], ['-0', '0'], ['12345678901234567890', '12345678901234567890'],
      ['1.0', '1.0'], ['1.50', '1.5'], ['-0.0', '-0.0'], ['0.1', '0.1'], ['1e5', '100000.0'], ['1E+2', '100.0'],
      ['1e16', '1e+16'], ['1e15', '1000000000000000.0'], ['123456789012345678.0', '1.2345678901234568e+17'],
      ['0.0001', '0.0001'], ['0.00001', '1e-05'], ['1.5e-7', '1.5e-07'], ['1e400', 'Infinity'], ['-1e400', '-Infinity'],
      ['1e100', '1e+100'], ['3.141592653589793', '3.141592653589793'], ['2.5e-320', '2.5e-320'],
    ];
    for (const [lexeme, python] of cases) expect(dumps(lexeme), lexeme).toBe(python);
    expect(pyFloatRepr(0.1 + 0.2)).toBe('0.30000000000000004');
  });

  it('rejects invalid JSON', () => {
    for (const bad of ['', '{', '{"a"}', '[1,]', '01', 'tru', '"x', '{} x']) expect(() => parsePyJson(bad), bad).toThrow(SyntaxError);
  });
});

describe('record formats', () => {
  const rec = parsePyJson('{"ip":"10.0.0.1","n":2,"s":"a,b","q":"say \\"hi\\"","nl":"x\\ny","f":false,"z":null,"o":{"k":"é"}}');
  it('csv quotes like the csv module and writes booleans and None as Python does', () => {
    expect(formatRecord(rec, 'csv')).toBe('ip,n,s,q,nl,f,z,o\r\n10.0.0.1,2,"a,b","say ""hi""","x\ny",False,,"{""k"": ""\\u00e9""}"\r\n');
    expect(formatRecord(rec, 'csv-noheader', ['n', 'ip'])).toBe('2,10.0.0.1\r\n');
  });
  it('text', () => {
    expect(formatRecord(parsePyJson('{"_str":"plain","last_write_ip":"1"}'), 'text')).toBe('plain\n');
    expect(formatRecord(rec, 'text', ['ip', 'z', 'o'])).toBe('10.0.0.1  {"k": "\\u00e9"}\n');
    expect(formatRecord(parsePyJson('5'), 'csv')).toBe('data\r\n5\r\n');
  });
});
