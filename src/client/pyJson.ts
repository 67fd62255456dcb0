/**
 * JSON as the old Python client printed it: `json.dumps(value)` with its defaults, i.e. `", "` and `": "`
 * separators, members in the order received, non-ASCII escaped as `\uXXXX` (ensure_ascii=True), floats
 * written as Python's repr. Scripts captured that text, so bpclient reproduces it byte for byte.
 *
 * JavaScript's JSON.parse cannot be used for this: it moves integer-like keys first and forgets whether a
 * number was written as `1` or `1.0`. This module keeps a small ordered tree instead.
 */
export type PyJson =
  | { t: 'obj'; members: [string, PyJson][] }
  | { t: 'arr'; items: PyJson[] }
  | { t: 'str'; v: string }
  | { t: 'num'; lexeme: string }
  | { t: 'bool'; v: boolean }
  | { t: 'null' };

/** Parses JSON text into an ordered tree; throws SyntaxError on invalid JSON. */
export function parsePyJson(text: string): PyJson {
  let i = 0;
  const fail = (what: string): never => {
    throw new SyntaxError(`Invalid JSON: ${what} at position ${i}`);
  };
  const ws = (): void => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  const str = (): string => {
    // Delegating the escapes to JSON.parse keeps them exactly standard.
    const start = i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    if (i >= text.length) fail('unterminated string');
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (): PyJson => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const members: [string, PyJson][] = [];
      ws();
      if (text[i] === '}') {
        i++;
        return { t: 'obj', members };
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a member name');
        const key = str();
        ws();
        if (text[i++] !== ':') fail("expected ':'");
        const v = value();
        // A repeated key: the last value wins, in the place of the first (as a Python dict does).
        const at = members.findIndex(([k]) => k === key);
        if (at >= 0) members[at] = [key, v];
        else members.push([key, v]);
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i++] !== '}') fail("expected ',' or '}'");
        return { t: 'obj', members };
      }
    }
    if (c === '[') {
      i++;
      const items: PyJson[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return { t: 'arr', items };
      }
      for (;;) {
        items.push(value());
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i++] !== ']') fail("expected ',' or ']'");
        return { t: 'arr', items };
      }
    }
    if (c === '"') return { t: 'str', v: str() };
    for (const [word, node] of [
      ['true', { t: 'bool', v: true }],
      ['false', { t: 'bool', v: false }],
      ['null', { t: 'null' }],
    ] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return node;
      }
    }
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
    if (!m || m[0] === '' || m[0] === '-') return fail('unexpected character');
    i += m[0].length;
    return { t: 'num', lexeme: m[0] };
  };
  const root = value();
  ws();
  if (i !== text.length) fail('unexpected text after the value');
  return root;
}

/** Builds a tree from a plain JavaScript value (for values that did not come as text). */
export function fromValue(v: unknown): PyJson {
  return parsePyJson(JSON.stringify(v) ?? 'null');
}

/** Python's `json.dumps(value)`. */
export function pyDumps(node: PyJson): string {
  switch (node.t) {
    case 'obj':
      return `{${node.members.map(([k, v]) => `${pyString(k)}: ${pyDumps(v)}`).join(', ')}}`;
    case 'arr':
      return `[${node.items.map(pyDumps).join(', ')}]`;
    case 'str':
      return pyString(node.v);
    case 'num':
      return pyNumber(node.lexeme);
    case 'bool':
      return node.v ? 'true' : 'false';
    case 'null':
      return 'null';
  }
}

const SHORT_ESCAPES: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f' };

/** A JSON string as Python's ensure_ascii encoder writes it: everything outside ' '..'~' escaped, UTF-16 units. */
export function pyString(s: string): string {
  let out = '"';
  for (let k = 0; k < s.length; k++) {
    const ch = s[k]!;
    const code = s.charCodeAt(k);
    const short = SHORT_ESCAPES[ch];
    if (short) out += short;
    else if (code < 0x20 || code > 0x7e) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** A number as `json.dumps(json.loads(lexeme))` writes it: ints exactly, floats as Python's repr. */
export function pyNumber(lexeme: string): string {
  if (!/[.eE]/.test(lexeme)) return /^-0+$/.test(lexeme) ? '0' : lexeme;
  return pyFloatRepr(Number(lexeme));
}

/** Python's `repr(float)`: shortest round-trip digits; exponent form when the exponent is < -4 or >= 16. */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  // toExponential() without an argument yields the shortest digits that round-trip, like Python's repr.
  const [mant, exp] = Math.abs(x).toExponential().split('e') as [string, string];
  const digits = mant.replace('.', '');
  const decpt = Number(exp) + 1; // value = 0.DIGITS * 10^decpt
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) return `${sign}0.${'0'.repeat(-decpt)}${digits}`;
    if (decpt >= digits.length) return `${sign}${digits}${'0'.repeat(decpt - digits.length)}.0`;
    return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
  }
  const e = decpt - 1;
  const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  return `${sign}${m}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
}

/** The member `key` of an object node (undefined when absent or not an object). */
export function member(node: PyJson | undefined, key: string): PyJson | undefined {
  if (node?.t !== 'obj') return undefined;
  return node.members.find(([k]) => k === key)?.[1];
}

/** Compact JSON text of a tree (no whitespace; numbers as written; strings as JSON.stringify writes them). */
export function compactJson(node: PyJson): string {
  switch (node.t) {
    case 'obj':
      return `{${node.members.map(([k, v]) => `${JSON.stringify(k)}:${compactJson(v)}`).join(',')}}`;
    case 'arr':
      return `[${node.items.map(compactJson).join(',')}]`;
    case 'str':
      return JSON.stringify(node.v);
    case 'num':
      return node.lexeme;
    case 'bool':
      return node.v ? 'true' : 'false';
    case 'null':
      return 'null';
  }
}
