/**
 * Entry names as etcd key bytes, in an encoding whose byte order is the Store's name order (UTF-16 code units).
 *
 * UTF-8 orders by code point, which differs from UTF-16 order for names that mix characters U+E000..U+FFFF with
 * characters past U+FFFF ('\uff01' sorts before '😀' by code point, after it by code unit). So each UTF-16 code unit
 * is encoded on its own, as UTF-8 encodes a code point of that value (CESU-8): a surrogate pair takes two 3-byte
 * sequences instead of one 4-byte one, and a lone surrogate survives (UTF-8 would turn it into U+FFFD, folding
 * distinct names into one key). A name without surrogates, almost every name, is encoded exactly as UTF-8.
 * The encoding of a name's prefix is a byte prefix of the name's encoding, so prefix ranges still work.
 */
const SURROGATE = /[\uD800-\uDFFF]/;

export function nameBytes(name: string): Buffer {
  if (!SURROGATE.test(name)) return Buffer.from(name, 'utf8');
  const out: number[] = [];
  for (let i = 0; i < name.length; i++) {
    const u = name.charCodeAt(i);
    if (u < 0x80) out.push(u);
    else if (u < 0x800) out.push(0xc0 | (u >> 6), 0x80 | (u & 0x3f));
    else out.push(0xe0 | (u >> 12), 0x80 | ((u >> 6) & 0x3f), 0x80 | (u & 0x3f));
  }
  return Buffer.from(out);
}

/** The name `nameBytes` encoded (bytes of other tools' keys that are not valid UTF-8 come back as U+FFFD). */
export function nameOf(b: Buffer): string {
  // 0xED 0xA0..0xBF starts an encoded surrogate; without one, the bytes are plain UTF-8.
  let surrogates = false;
  for (let i = b.indexOf(0xed); i >= 0 && i + 1 < b.length; i = b.indexOf(0xed, i + 1)) {
    if (b[i + 1]! >= 0xa0) {
      surrogates = true;
      break;
    }
  }
  if (!surrogates) return b.toString('utf8');
  let s = '';
  for (let i = 0; i < b.length; ) {
    const c = b[i]!;
    if (c < 0x80) {
      s += String.fromCharCode(c);
      i += 1;
    } else if (c >= 0xe0 && c < 0xf0 && i + 2 < b.length) {
      s += String.fromCharCode(((c & 0x0f) << 12) | ((b[i + 1]! & 0x3f) << 6) | (b[i + 2]! & 0x3f));
      i += 3;
    } else if (c >= 0xc0 && c < 0xe0 && i + 1 < b.length) {
      s += String.fromCharCode(((c & 0x1f) << 6) | (b[i + 1]! & 0x3f));
      i += 2;
    } else {
      // A 4-byte UTF-8 sequence (written by another tool) or a stray byte: decode that run as UTF-8.
      const len = c >= 0xf0 ? 4 : 1;
      s += b.subarray(i, i + len).toString('utf8');
      i += len;
    }
  }
  return s;
}
