import type { ChunkSource } from './chunks.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const isSpace = (b: number): boolean => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;

/**
 * Walks JSON text a chunk at a time and finds where values begin and end, without parsing them: strings (with
 * their escapes) and bracket depth are all it follows. The values themselves are parsed by whoever asks for
 * their text, one at a time, so a file of any size is read with memory for its largest value only.
 * JSON's structural characters are ASCII, so scanning UTF-8 bytes is safe.
 */
export class JsonScanner {
  private buf: Buffer = Buffer.alloc(0);
  private i = 0;
  /** File offset of buf[0]. */
  private base = 0;
  private ended = false;

  constructor(
    private readonly source: ChunkSource,
    /** Throws the reader's error for malformed text at a byte offset. */
    private readonly fail: (what: string, at: number) => never,
  ) {}

  /** Byte offset of the next unread byte. */
  get position(): number {
    return this.base + this.i;
  }

  /** The next byte after whitespace, without consuming it; -1 at the end. */
  peek(): number {
    for (;;) {
      while (this.i < this.buf.length) {
        const b = this.buf[this.i]!;
        if (!isSpace(b)) return b;
        this.i++;
      }
      if (!this.refill()) return -1;
    }
  }

  /** Consumes `byte` (after whitespace) or fails naming what was expected. */
  expect(byte: number, what: string): void {
    const b = this.peek();
    if (b !== byte) this.fail(b === -1 ? `unexpected end of file, expected ${what}` : `expected ${what}`, this.position);
    this.i++;
  }

  /** Fails unless only whitespace is left. */
  end(): void {
    if (this.peek() !== -1) this.fail('unexpected text after the end of the top-level object', this.position);
  }

  /**
   * Calls `member(name, at)` for each member of the object that comes next; `member` must consume the
   * value (with `value` or another `members`).
   */
  members(member: (name: string, at: number) => void): void {
    this.expect(0x7b, "'{'");
    if (this.peek() === 0x7d) {
      this.i++;
      return;
    }
    for (;;) {
      if (this.peek() !== QUOTE) this.fail('expected a member name in double quotes', this.position);
      const at = this.position;
      let name: unknown;
      try {
        name = JSON.parse(this.value(false).toString('utf8'));
      } catch {
        this.fail('invalid member name', at);
      }
      this.expect(0x3a, "':'");
      member(name as string, at);
      const b = this.peek();
      if (b === 0x2c) this.i++;
      else if (b === 0x7d) {
        this.i++;
        return;
      } else this.fail(b === -1 ? "unexpected end of file, expected ',' or '}'" : "expected ',' or '}'", this.position);
    }
  }

  /**
   * The text of the next value, as bytes. With `compact`, whitespace outside strings is left out (the rest is
   * kept byte for byte: numbers and escapes as written). Ends where the value ends; whether it is valid JSON
   * inside is for the caller's parser to say.
   */
  value(compact: boolean): Buffer {
    const first = this.peek();
    if (first === -1) this.fail('unexpected end of file, expected a value', this.position);
    const scalar = first !== QUOTE && first !== 0x7b && first !== 0x5b;
    const parts: Buffer[] = [];
    let seg = this.i;
    let depth = 0;
    let inString = false;
    /** Backslashes just before the end of the previous chunk, inside the current string. */
    let carried = 0;
    for (;;) {
      const buf = this.buf;
      if (this.i >= buf.length) {
        if (this.i > seg) parts.push(buf.subarray(seg, this.i));
        seg = this.i;
        if (!this.refill()) {
          if (scalar) break;
          this.fail('unexpected end of file inside a value', this.position);
        }
        seg = 0;
        continue;
      }
      if (inString) {
        const q = buf.indexOf(QUOTE, this.i);
        let k = (q < 0 ? buf.length : q) - 1;
        let run = 0;
        while (k >= this.i && buf[k] === BACKSLASH) {
          run++;
          k--;
        }
        if (k < this.i) run += carried;
        if (q < 0) {
          carried = run;
          this.i = buf.length;
          continue;
        }
        carried = 0;
        this.i = q + 1;
        if (run % 2 === 0) {
          inString = false;
          if (depth === 0) break;
        }
        continue;
      }
      const b = buf[this.i]!;
      if (scalar) {
        if (b === 0x2c || b === 0x7d || b === 0x5d || isSpace(b)) break;
        this.i++;
      } else if (b === QUOTE) {
        inString = true;
        carried = 0;
        this.i++;
      } else if (b === 0x7b || b === 0x5b) {
        depth++;
        this.i++;
      } else if (b === 0x7d || b === 0x5d) {
        depth--;
        this.i++;
        if (depth === 0) break;
      } else if (compact && isSpace(b)) {
        if (this.i > seg) parts.push(buf.subarray(seg, this.i));
        while (this.i < buf.length && isSpace(buf[this.i]!)) this.i++;
        seg = this.i;
      } else {
        this.i++;
      }
    }
    if (this.i > seg) parts.push(this.buf.subarray(seg, this.i));
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  private refill(): boolean {
    if (this.ended) return false;
    const next = this.source.next();
    if (!next) {
      this.ended = true;
      return false;
    }
    this.base += this.buf.length;
    this.buf = next;
    this.i = 0;
    return true;
  }
}
