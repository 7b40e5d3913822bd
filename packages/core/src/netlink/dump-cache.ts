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
  // Recorded messages not yet copied: `#pendBuf[#pendStart, #pendEnd)` goes to `#pendAt` of the next
  // bytes, one copy per run of back-to-back messages (a copy per message costs more than the bytes).
  #pendBuf: Buffer | undefined;
  #pendStart = 0;
  #pendEnd = 0;
  #pendAt = 0;
  #cursor = 0;
  // The last dump's messages by a hash of their compared bytes, made at the first out-of-order one.
  #byHash: Map<number, number> | undefined;
  #volatile = -1;
  // The buffer being read, as 32-bit words (undefined when it does not start at a 4-byte boundary).
  #inBuf: Buffer | undefined;
  #inWords: Int32Array | undefined;
  /** The value of the last successful match(). */
  value: T | undefined;
  /**
   * Called with each value decoded afresh (a message the last dump did not hold); what it returns is
   * recorded and listed instead. A caller that already holds an equal value (a reconciler's record
   * of what it wrote) hands that one back, so the freshly decoded copy dies young instead of being
   * kept — and copied by the garbage collector — for as long as the cache lives.
   */
  intern: ((value: T) => T) | undefined;
  /**
   * Tried first with each message new to the cache, before anything is decoded: a value the caller
   * already holds that is exactly what the message's bytes say (a reconciler's record of what it
   * wrote, checked with core's isRoute, isNeigh or isNexthop), listed as it is; undefined to decode
   * the message (and hand it to `intern`). It sees every message of the dump: the listing's filters
   * do not apply to what it returns.
   */
  known: ((buf: Buffer, off: number, end: number) => T | undefined) | undefined;

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
    this.#pendBuf = undefined;
    this.#cursor = 0;
    this.#byHash = undefined;
  }

  /**
   * Where the message at `buf[off, off + len)` (attributes from `off + attrsAt`) was in the last
   * dump (-1: it was not); its value is then in `value`. Looks where the last match left off first:
   * an unchanged table dumps in the same order.
   */
  match(buf: Buffer, off: number, len: number, attrsAt: number): number {
    if (buf !== this.#inBuf) {
      this.#inBuf = buf;
      this.#inWords = buf.byteOffset % 4 === 0 ? new Int32Array(buf.buffer, buf.byteOffset, buf.length >>> 2) : undefined;
    }
    const count = this.#starts.length;
    if (this.#cursor < count && this.#same(this.#cursor, buf, off, len, attrsAt)) {
      this.value = this.#values[this.#cursor];
      return this.#cursor++;
    }
    const b = this.#inWords;
    if (count === 0 || b === undefined || off % 4 !== 0) return -1;
    // Something was added or removed before this one: look it up by a hash of its bytes.
    if (this.#byHash === undefined) {
      this.#byHash = new Map();
      for (let i = 0; i < count; i++) {
        const s = this.#starts[i]!;
        const h = this.#hash(this.#words, s >>> 2, this.#bytes.readUInt32LE(s), attrsAt);
        if (!this.#byHash.has(h)) this.#byHash.set(h, i);
      }
    }
    const i = this.#byHash.get(this.#hash(b, off >>> 2, len, attrsAt));
    if (i === undefined || !this.#same(i, buf, off, len, attrsAt)) return -1;
    this.#cursor = i + 1;
    this.value = this.#values[i];
    return i;
  }

  /** Keeps the message at `buf[off, off + len)`, found by match() at `hit`, and its value for the next dump; messages are recorded in dump order. */
  record(buf: Buffer, off: number, len: number, value: T | undefined, hit: number): void {
    if (this.#repeating && hit === this.#count) {
      this.#count++;
      return;
    }
    if (this.#repeating) this.#diverge();
    if (buf !== this.#pendBuf || off !== this.#pendEnd) {
      this.copied();
      this.#pendBuf = buf;
      this.#pendStart = this.#pendEnd = off;
      this.#pendAt = this.#nextLength;
    }
    this.#pendEnd = off + ((len + 3) & ~3);
    this.#nextStarts.push(this.#nextLength);
    this.#nextLength += (len + 3) & ~3;
    this.#nextValues.push(value);
  }

  /** Copies what record() kept of the buffer being read: call it before that buffer is read into again. */
  copied(): void {
    const buf = this.#pendBuf;
    if (buf === undefined) return;
    this.#pendBuf = undefined;
    if (this.#nextLength > this.#nextBytes.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(2 * this.#nextBytes.length, this.#nextLength, 64 * 1024));
      this.#nextBytes.copy(grown, 0, 0, this.#pendAt);
      this.#nextBytes = grown;
    }
    buf.copy(this.#nextBytes, this.#pendAt, this.#pendStart, Math.min(this.#pendEnd, buf.length));
  }

  /** The dump was read to its end (not interrupted): it is what the next one is compared with. */
  commit(): void {
    this.copied();
    this.#byHash = undefined;
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

  /** FNV-1a over the compared words of the message at word `at` of `w` (its odd tail and the volatile attribute's payload left out). */
  #hash(w: Int32Array, at: number, len: number, attrsAt: number): number {
    let h = Math.imul(0x811c9dc5 ^ (w[at + 1]! & 0xffff), 0x01000193) ^ len;
    for (let i = NLMSG_HDRLEN >>> 2, n = attrsAt >>> 2; i < n; i++) h = Math.imul(h ^ w[at + i]!, 0x01000193);
    for (let p = attrsAt; p + NLA_HDRLEN <= len; ) {
      const head = w[at + (p >>> 2)]!;
      h = Math.imul(h ^ head, 0x01000193);
      const alen = head & 0xffff;
      if (alen < NLA_HDRLEN) break;
      const end = Math.min(len, p + align4(alen));
      if (((head >>> 16) & 0x3fff) !== this.#volatile)
        for (let i = (p + NLA_HDRLEN) >>> 2, n = end >>> 2; i < n; i++) h = Math.imul(h ^ w[at + i]!, 0x01000193);
      p = end;
    }
    return h;
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
