// What the last dump through a cache held, message by message: the bytes and what they decoded to.
// A periodic dump of thousands of entries that have not changed (a route table re-read every 30 s)
// then costs a byte comparison per message instead of a decode into fresh objects — which is also
// what keeps the garbage collector out of it.
//
// Bytes compared: the message's type and everything after its nlmsghdr (seq and pid differ from dump
// to dump, flags carry NLM_F_MULTI), except one attribute the kernel ages on its own (a neighbour's
// NDA_CACHEINFO counts the time since it was used), so an entry that only got older stays the same.

const NLMSG_HDRLEN = 16;
const NLA_HDRLEN = 4;
const align4 = (n: number): number => (n + 3) & ~3;

/**
 * The previous dump's messages and their decoded values, for `NetlinkSocket.dumpCached` (and the
 * `list(filter, cache)` calls of the route, neighbour and nexthop APIs). A value handed back again is
 * the same object as last time: treat what a cached listing returns as read-only.
 */
export class DumpCache<T> {
  // The last complete dump: message bytes back to back (each at a 4-byte boundary), where each
  // starts, and what it decoded to.
  #bytes = Buffer.allocUnsafeSlow(0);
  #words = new Int32Array(0);
  #length = 0;
  #starts: number[] = [];
  #values: (T | undefined)[] = [];
  // The dump being read. While it repeats the last one message for message (`#repeating`), nothing
  // is copied: only `#count` moves. From the first difference on, it is built in the `#next*` fields
  // and swapped in by commit().
  #repeating = true;
  #count = 0;
  #nextBytes = Buffer.allocUnsafeSlow(0);
  #nextLength = 0;
  #nextStarts: number[] = [];
  #nextValues: (T | undefined)[] = [];
  #cursor = 0;
  #hit = -1;
  #byBytes: Map<string, number> | undefined;
  #volatile = -1;
  // The buffer being read, as 32-bit words (undefined when it does not start at a 4-byte boundary).
  #inBuf: Buffer | undefined;
  #inWords: Int32Array | undefined;
  /** The value of the last successful match(). */
  value: T | undefined;

  /** Starts reading a dump; `volatileAttr` is the attribute type the comparison skips (-1: none). */
  begin(volatileAttr: number): void {
    if (volatileAttr !== this.#volatile) {
      // Compared another way: nothing from before can be trusted to match.
      this.#starts = [];
      this.#values = [];
    }
    this.#volatile = volatileAttr;
    this.#repeating = true;
    this.#count = 0;
    this.#nextLength = 0;
    this.#nextStarts = [];
    this.#nextValues = [];
    this.#cursor = 0;
    this.#byBytes = undefined;
  }

  /**
   * Whether the message at `buf[off, off + len)` (attributes from `off + attrsAt`) was in the last
   * dump; its value is then in `value`. Looks where the last match left off first: an unchanged
   * table dumps in the same order.
   */
  match(buf: Buffer, off: number, len: number, attrsAt: number): boolean {
    const count = this.#starts.length;
    this.#hit = -1;
    if (this.#cursor < count && this.#same(this.#cursor, buf, off, len, attrsAt)) {
      this.#hit = this.#cursor++;
      this.value = this.#values[this.#hit];
      return true;
    }
    if (count === 0) return false;
    // Something was added or removed before this one: find it by its bytes.
    if (this.#byBytes === undefined) {
      this.#byBytes = new Map();
      for (let i = 0; i < count; i++) {
        const s = this.#starts[i]!;
        this.#byBytes.set(this.#key(this.#bytes, s, this.#bytes.readUInt32LE(s), attrsAt), i);
      }
    }
    const i = this.#byBytes.get(this.#key(buf, off, len, attrsAt));
    if (i === undefined) return false;
    this.#cursor = i + 1;
    this.#hit = i;
    this.value = this.#values[i];
    return true;
  }

  /** Keeps the message at `buf[off, off + len)` (the one match() was last asked about) and its value for the next dump. */
  record(buf: Buffer, off: number, len: number, value: T | undefined): void {
    if (this.#repeating && this.#hit === this.#count) {
      this.#count++;
      return;
    }
    if (this.#repeating) this.#diverge();
    const at = this.#nextLength;
    const end = at + ((len + 3) & ~3);
    if (end > this.#nextBytes.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(2 * this.#nextBytes.length, end, 64 * 1024));
      this.#nextBytes.copy(grown, 0, 0, at);
      this.#nextBytes = grown;
    }
    buf.copy(this.#nextBytes, at, off, off + len);
    this.#nextLength = end;
    this.#nextStarts.push(at);
    this.#nextValues.push(value);
  }

  /** The dump was read to its end (not interrupted): it is what the next one is compared with. */
  commit(): void {
    this.#byBytes = undefined;
    this.value = undefined;
    if (this.#repeating && this.#count === this.#starts.length) return; // the same dump again
    if (this.#repeating) this.#diverge();
    const bytes = this.#bytes;
    this.#bytes = this.#nextBytes;
    this.#length = this.#nextLength;
    this.#words = new Int32Array(this.#bytes.buffer, this.#bytes.byteOffset, this.#bytes.length >>> 2);
    this.#starts = this.#nextStarts;
    this.#values = this.#nextValues;
    // The old buffer is reused for a dump after this one.
    this.#nextBytes = bytes;
    this.#nextStarts = [];
    this.#nextValues = [];
  }

  /** The dump stops repeating the last one: the messages repeated so far are copied over first. */
  #diverge(): void {
    this.#repeating = false;
    const n = this.#count;
    const length = n === this.#starts.length ? this.#length : this.#starts[n]!;
    if (this.#nextBytes.length < length) this.#nextBytes = Buffer.allocUnsafeSlow(Math.max(length, 64 * 1024));
    this.#bytes.copy(this.#nextBytes, 0, 0, length);
    this.#nextLength = length;
    this.#nextStarts = this.#starts.slice(0, n);
    this.#nextValues = this.#values.slice(0, n);
  }

  #same(i: number, buf: Buffer, off: number, len: number, attrsAt: number): boolean {
    const old = this.#bytes;
    const o = this.#starts[i]!;
    if (old.readUInt32LE(o) !== len || old.readUInt16LE(o + 4) !== buf.readUInt16LE(off + 4)) return false;
    if (buf !== this.#inBuf) {
      this.#inBuf = buf;
      this.#inWords = buf.byteOffset % 4 === 0 ? new Int32Array(buf.buffer, buf.byteOffset, buf.length >>> 2) : undefined;
    }
    const b = this.#inWords;
    if (b === undefined || off % 4 !== 0) return sameBytes(old, o + NLMSG_HDRLEN, buf, off + NLMSG_HDRLEN, len - NLMSG_HDRLEN);
    const a = this.#words;
    const ao = o >>> 2;
    const bo = off >>> 2;
    if (this.#volatile < 0) return sameWords(a, ao, b, bo, NLMSG_HDRLEN >>> 2, len) && sameBytes(old, o + (len & ~3), buf, off + (len & ~3), len & 3);
    if (!sameWords(a, ao, b, bo, NLMSG_HDRLEN >>> 2, attrsAt)) return false;
    // Attribute by attribute: the headers (length and type, one word) must agree, so both walk in step.
    for (let p = attrsAt; p + NLA_HDRLEN <= len; ) {
      const head = b[bo + (p >>> 2)]!;
      if (a[ao + (p >>> 2)] !== head) return false;
      const alen = head & 0xffff;
      if (alen < NLA_HDRLEN) return sameBytes(old, o + p, buf, off + p, len - p);
      const end = Math.min(len, p + align4(alen));
      if (((head >>> 16) & 0x3fff) !== this.#volatile) {
        if (!sameWords(a, ao, b, bo, (p + NLA_HDRLEN) >>> 2, end) || !sameBytes(old, o + (end & ~3), buf, off + (end & ~3), end & 3)) return false;
      }
      p = end;
    }
    return true;
  }

  /** The compared bytes of a message as a string (type, header, attributes but the volatile one). */
  #key(buf: Buffer, off: number, len: number, attrsAt: number): string {
    let key = buf.toString('latin1', off + 4, off + 6) + buf.toString('latin1', off + NLMSG_HDRLEN, off + attrsAt);
    for (let p = attrsAt; p + NLA_HDRLEN <= len; ) {
      const alen = buf.readUInt16LE(off + p);
      const end = alen < NLA_HDRLEN ? len : Math.min(len, p + align4(alen));
      key +=
        (buf.readUInt16LE(off + p + 2) & 0x3fff) === this.#volatile
          ? buf.toString('latin1', off + p, off + p + NLA_HDRLEN)
          : buf.toString('latin1', off + p, off + end);
      p = end;
    }
    return key;
  }
}

/** Whether words [from, to >> 2) after `ao` in `a` and after `bo` in `b` agree (`to` in bytes, its odd tail left out). */
function sameWords(a: Int32Array, ao: number, b: Int32Array, bo: number, from: number, to: number): boolean {
  for (let i = from, n = to >>> 2; i < n; i++) if (a[ao + i] !== b[bo + i]) return false;
  return true;
}

/** Whether `a[ao, ao + n)` and `b[bo, bo + n)` hold the same bytes. */
function sameBytes(a: Buffer, ao: number, b: Buffer, bo: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[ao + i] !== b[bo + i]) return false;
  return true;
}
