/** Keys and values as etcd holds them: bytes. Strings are UTF-8. */
export type Bytes = string | Buffer | Uint8Array;

export function bytes(b: Bytes): Buffer {
  return typeof b === 'string' ? Buffer.from(b, 'utf8') : Buffer.isBuffer(b) ? b : Buffer.from(b);
}

/**
 * The range_end that selects every key starting with `prefix`: the prefix with its last byte below 0xff
 * incremented (trailing 0xff bytes dropped). An empty prefix, or one of 0xff bytes only, gives "\0": every key from
 * the start, as etcd defines it.
 */
export function prefixEnd(prefix: Bytes): Buffer {
  const end = Buffer.from(bytes(prefix));
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** The smallest key after `key`: where the next page of a range starts. */
export function keyAfter(key: Bytes): Buffer {
  return Buffer.concat([bytes(key), Buffer.from([0])]);
}
