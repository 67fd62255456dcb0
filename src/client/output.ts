import { member, pyDumps, type PyJson } from './pyJson.js';

export const OUTPUT_FORMATS = ['text', 'json', 'csv', 'csv-noheader'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/**
 * How bpclient prints one record (an entry's data, or ping's echo), as the old client did:
 * - text: the `_str` text when the record holds one, else the record as Python's json.dumps writes it.
 *   With --cols: the selected values on one line separated by a space (strings bare), handy for `read a b`.
 * - json: the record (or only the selected columns) as json.dumps writes it.
 * - csv / csv-noheader: Python's csv module (excel dialect): a header line of the column names, then the
 *   values; minimal quoting; lines end with CRLF, like `csv.writer(sys.stdout)` did.
 * A record that is not an object is one column named `data`.
 */
export function formatRecord(record: PyJson, format: OutputFormat, cols?: string[]): string {
  const selected = cols && cols.length > 0 ? cols : undefined;
  switch (format) {
    case 'text': {
      if (selected) return `${selected.map((c) => textValue(column(record, c))).join(' ')}\n`;
      const s = member(record, '_str');
      if (s?.t === 'str') return `${s.v}\n`;
      return `${pyDumps(record)}\n`;
    }
    case 'json':
      return `${pyDumps(selected ? pick(record, selected) : record)}\n`;
    case 'csv':
    case 'csv-noheader': {
      const names = selected ?? (record.t === 'obj' ? record.members.map(([k]) => k) : ['data']);
      const row = csvRow(names.map((c) => csvValue(column(record, c))));
      return format === 'csv' ? csvRow(names) + row : row;
    }
  }
}

function column(record: PyJson, name: string): PyJson | undefined {
  if (record.t !== 'obj') return name === 'data' ? record : undefined;
  return member(record, name);
}

/** The record with only the given columns (a record that is not an object is one column named `data`). */
export function pick(record: PyJson, cols: string[]): PyJson {
  return { t: 'obj', members: cols.flatMap((c): [string, PyJson][] => {
    const v = column(record, c);
    return v === undefined ? [] : [[c, v]];
  }) };
}

function textValue(v: PyJson | undefined): string {
  if (v === undefined || v.t === 'null') return '';
  return v.t === 'str' ? v.v : pyDumps(v);
}

/** What Python's csv writer writes for a value: str() of scalars (True/False), '' for None, nested as JSON. */
function csvValue(v: PyJson | undefined): string {
  if (v === undefined || v.t === 'null') return '';
  if (v.t === 'bool') return v.v ? 'True' : 'False';
  if (v.t === 'str') return v.v;
  return pyDumps(v);
}

function csvRow(fields: string[]): string {
  // A lone empty field is quoted, else the line would read as no field at all (Python does the same).
  if (fields.length === 1 && fields[0] === '') return '""\r\n';
  return `${fields.map((f) => (/[",\r\n]/.test(f) ? `"${f.replace(/"/g, '""')}"` : f)).join(',')}\r\n`;
}
