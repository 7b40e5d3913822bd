// The text form of FileStore's directory index, which the store keeps in the directory's `lock` file
// between lock holds. The CNI plugin is a new process for every ADD and DEL: without it each of them
// would read every reservation file to learn who holds what (host-local does the same, 3–5 ms at a few
// dozen pods here, growing with the pods on the node). Pure: encoding and decoding only, no files.
//
// The text is a journal, so a lock hold writes what it changed, not the whole directory:
//
//   netboot ipam index 1          header (the format's version)
//                                 each hold appends one block: an empty line, "^", its records, "@<stamp>"
//   ^
//   +10.0.0.2 c1 eth0             <ip> is held by "<containerID>\r\n<ifname>" (no ifname: host-local's old form)
//   !10.0.0.3 "empty file"        <ip> is a file that is not a reservation (JSON string: why)
//   -10.0.0.4                     <ip> has no file any more
//   =0 10.0.0.2                   last_reserved_ip.0 holds 10.0.0.2 ("=0" alone: there is none)
//   =*                            forget every last_reserved_ip read so far
//   @<ino>:<mtime ns>:<ctime ns>  the directory's stamp once the block's changes were made
//
// It describes the directory only while the stamp at its end is the directory's stamp now: any other
// writer (host-local, a netboot process killed before it wrote its block) changes the directory and so
// moves the stamp. A block cut short by a kill has no "@" line; the next block's leading empty line ends
// its torn last line and its "^" arrives while the torn block is still open, so a torn block anywhere
// makes the whole text invalid rather than half-read.
import { normalizeIp } from '@netboot/core/ip';
import type { CorruptFileEntry, FileEntry } from './file.js';

/** The first line of an index; a text starting otherwise (an empty lock file) is no index. */
const INDEX_HEADER = 'netboot ipam index 1';

/** What an index says about a directory. */
export interface IndexState {
  byIp: Map<string, FileEntry>;
  corrupt: Map<string, CorruptFileEntry>;
  /** last_reserved_ip.<set> as read or written (undefined: no such file, or not an IP). */
  lastReserved: Map<number, string | undefined>;
}

/** `<ip>` is a reservation. */
export function holdRecord(e: FileEntry): string {
  return e.ifname === undefined ? `+${e.ip} ${e.containerId}` : `+${e.ip} ${e.containerId} ${e.ifname}`;
}

/** `<ip>` is a file that is not a reservation. */
export function corruptRecord(c: CorruptFileEntry): string {
  return `!${c.ip} ${JSON.stringify(c.detail)}`;
}

/** `<ip>` has no file. */
export function goneRecord(ip: string): string {
  return `-${ip}`;
}

/** `last_reserved_ip.<set>` holds `ip` (or nothing usable). */
export function lastRecord(set: number, ip: string | undefined): string {
  return ip === undefined ? `=${set}` : `=${set} ${ip}`;
}

/** Every last_reserved_ip read so far may have moved. */
export const FORGET_LAST = '=*';

/** One lock hold's records, ending at the directory's stamp. */
export function encodeBlock(records: readonly string[], stamp: string): string {
  let text = '\n^\n';
  for (const r of records) text += `${r}\n`;
  return `${text}@${stamp}\n`;
}

/** The whole index as one block: what a compaction writes. */
export function encodeSnapshot(state: IndexState, stamp: string): string {
  const records: string[] = [];
  for (const e of state.byIp.values()) records.push(holdRecord(e));
  for (const c of state.corrupt.values()) records.push(corruptRecord(c));
  for (const [set, ip] of state.lastReserved) records.push(lastRecord(set, ip));
  return INDEX_HEADER + encodeBlock(records, stamp);
}

function canonical(ip: string): boolean {
  try {
    return normalizeIp(ip) === ip;
  } catch {
    return false;
  }
}

// The shape of a hold record: what validateContainerId and validateIfname let through when the store
// wrote it, checked by pattern only (ifname's byte-level rules are not repeated: one regular expression
// per record keeps reading 200 records near 0.1 ms). A torn line is caught by the block structure.
const HOLD = /^\+(\S+) ([A-Za-z0-9][A-Za-z0-9_.-]{0,254})(?: ([^\s/:\0]{1,15}))?$/;
const LAST = /^=(0|[1-9][0-9]{0,8})(?: (\S+))?$/;

// Applies one record; false if it is not one (a torn line, a foreign text).
function apply(state: IndexState, line: string): boolean {
  const body = line.slice(1);
  switch (line[0]) {
    case '+': {
      const m = HOLD.exec(line);
      if (!m || !canonical(m[1]!)) return false;
      const ip = m[1]!;
      state.corrupt.delete(ip);
      state.byIp.set(ip, { ip, containerId: m[2]!, ifname: m[3] });
      return true;
    }
    case '!': {
      const space = body.indexOf(' ');
      const ip = body.slice(0, space);
      if (space < 0 || !canonical(ip)) return false;
      let detail: unknown;
      try {
        detail = JSON.parse(body.slice(space + 1));
      } catch {
        return false;
      }
      if (typeof detail !== 'string') return false;
      state.byIp.delete(ip);
      state.corrupt.set(ip, { ip, detail });
      return true;
    }
    case '-':
      if (!canonical(body)) return false;
      state.byIp.delete(body);
      state.corrupt.delete(body);
      return true;
    case '=': {
      if (body === '*') {
        state.lastReserved.clear();
        return true;
      }
      const m = LAST.exec(line);
      if (!m || (m[2] !== undefined && !canonical(m[2]))) return false;
      state.lastReserved.set(Number(m[1]), m[2]);
      return true;
    }
    default:
      return false;
  }
}

/**
 * Replays an index; undefined unless every block is whole and the last one ends at `stamp` (the
 * directory's stamp now). `records` counts the record lines, for deciding when to compact.
 */
export function decodeIndex(text: string, stamp: string): { state: IndexState; records: number } | undefined {
  const lines = text.split('\n');
  if (lines[0] !== INDEX_HEADER || lines.at(-1) !== '') return undefined;
  const state: IndexState = { byIp: new Map(), corrupt: new Map(), lastReserved: new Map() };
  let open = false;
  let last: string | undefined;
  let records = 0;
  for (let i = 1; i < lines.length - 1; i++) {
    const line = lines[i]!;
    if (line === '') {
      if (open) return undefined;
    } else if (line === '^') {
      if (open) return undefined; // the block before was cut short
      open = true;
    } else if (line[0] === '@') {
      if (!open) return undefined;
      open = false;
      last = line.slice(1);
    } else {
      if (!open || !apply(state, line)) return undefined;
      records++;
    }
  }
  return !open && last === stamp ? { state, records } : undefined;
}
