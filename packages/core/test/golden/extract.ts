// Pulls one netlink message out of an strace log (`-e write=all` / `-e read=all` hex dumps) and writes
// it as a golden .hex fixture. Used by capture.sh; see there for how the logs are made.
//
//   node --import tsx extract.ts --log strace.log --direction request --type RTM_NEWLINK \
//     --command 'ip -n $NS link add …' --out link/add-veth.hex [--pick only|first|last] [--fd N]
//
// --pick: which of several messages of that type to keep (default: insist on exactly one);
// --fd: only syscalls on that descriptor (iproute2's main rtnetlink socket is fd 3; it opens a second
// one for its interface-name cache, whose replies would otherwise also match).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import * as nl from '../../src/netlink/generated/index.js';

type Direction = 'request' | 'reply';

interface Syscall {
  call: string;
  fd: number;
  data: number[];
}

/** The syscalls of an strace log with the bytes strace dumped for each (in iov order). */
export function parseStraceLog(text: string): Syscall[] {
  const calls: Syscall[] = [];
  let current: Syscall | undefined;
  let base = 0; // where the current iov buffer starts in current.data
  for (const line of text.split('\n')) {
    const start = /^(?:\[pid\s+\d+\]\s+|\d+\s+)?(\w+)\((\d+)?/.exec(line);
    if (start) {
      current = { call: start[1]!, fd: Number(start[2] ?? -1), data: [] };
      calls.push(current);
      base = 0;
      continue;
    }
    // " | 00000  54 00 00 00 10 00 05 06  e1 80 02 6b 00 00 00 00  T..........k.... |"
    const dump = /^ \| ([0-9a-f]{5}) {2}/.exec(line);
    if (dump && current) {
      const offset = parseInt(dump[1]!, 16);
      const bytes = (line.slice(10, 10 + 49).match(/[0-9a-f]{2}/g) ?? []).map((h) => parseInt(h, 16));
      if (base + offset !== current.data.length) throw new Error(`strace dump out of order at: ${line}`);
      current.data.push(...bytes);
      continue;
    }
    if (/^ \* \d+ bytes in buffer \d+/.test(line)) base = current?.data.length ?? 0;
    else current = undefined;
  }
  return calls;
}

/** Splits a datagram into its netlink messages (each nlmsg_len long, 4-byte aligned). */
export function splitMessages(data: number[]): Buffer[] {
  const buf = Buffer.from(data);
  const out: Buffer[] = [];
  for (let off = 0; off + nl.nlmsghdr.size <= buf.length; ) {
    const len = buf.readUInt32LE(off + nl.nlmsghdr.fields.nlmsg_len.offset);
    if (len < nl.nlmsghdr.size || off + len > buf.length) throw new Error(`bad nlmsg_len ${len} at offset ${off}`);
    out.push(Buffer.from(buf.subarray(off, off + len)));
    off += (len + nl.NLMSG_ALIGNTO - 1) & ~(nl.NLMSG_ALIGNTO - 1);
  }
  return out;
}

function typeOf(msg: Buffer): number {
  return msg.readUInt16LE(nl.nlmsghdr.fields.nlmsg_type.offset);
}

function typeName(type: number): string {
  return nl.RTM_NAMES[type] ?? nl.NLMSG_NAMES[type] ?? String(type);
}

function typeByName(name: string): number {
  const value = (nl as unknown as Record<string, unknown>)[name];
  if (typeof value !== 'number') throw new Error(`unknown message type ${name}`);
  return value;
}

/**
 * Reply fields that differ from run to run (timestamps, randomised timers): the attribute found by
 * following `path` (nested attribute types) after the family header, and the struct fields in it.
 */
const VOLATILE: { type: number; header: number; path: number[]; name: string; struct: nl.StructLayout; fields: string[] }[] = [
  {
    type: nl.RTM_NEWLINK,
    header: nl.ifinfomsg.size,
    path: [nl.IFLA_AF_SPEC, nl.AF_INET6, nl.IFLA_INET6_CACHEINFO],
    name: 'IFLA_INET6_CACHEINFO',
    struct: nl.ifla_cacheinfo,
    fields: ['tstamp', 'reachable_time'],
  },
  {
    type: nl.RTM_NEWADDR,
    header: nl.ifaddrmsg.size,
    path: [nl.IFA_CACHEINFO],
    name: 'IFA_CACHEINFO',
    struct: nl.ifa_cacheinfo,
    fields: ['cstamp', 'tstamp'],
  },
  {
    type: nl.RTM_NEWNEIGH,
    header: nl.ndmsg.size,
    path: [nl.NDA_CACHEINFO],
    name: 'NDA_CACHEINFO',
    struct: nl.nda_cacheinfo,
    fields: ['ndm_confirmed', 'ndm_used', 'ndm_updated'],
  },
  {
    type: nl.RTM_NEWROUTE,
    header: nl.rtmsg.size,
    path: [nl.RTA_CACHEINFO],
    name: 'RTA_CACHEINFO',
    struct: nl.rta_cacheinfo,
    fields: ['rta_lastuse', 'rta_expires', 'rta_used'],
  },
];

/** The payload [start, end) of the first attribute of `type` in msg[from, to), if any. */
function findAttr(msg: Buffer, from: number, to: number, type: number): [number, number] | undefined {
  for (let off = from; off + nl.nlattr.size <= to; ) {
    const len = msg.readUInt16LE(off + nl.nlattr.fields.nla_len.offset);
    const t = msg.readUInt16LE(off + nl.nlattr.fields.nla_type.offset) & ~(nl.NLA_F_NESTED | nl.NLA_F_NET_BYTEORDER);
    if (len < nl.nlattr.size || off + len > to) return undefined;
    if (t === type) return [off + nl.nlattr.size, off + len];
    off += (len + nl.NLA_ALIGNTO - 1) & ~(nl.NLA_ALIGNTO - 1);
  }
  return undefined;
}

/**
 * Zeroes nlmsg_seq and nlmsg_pid (and those of the request an NLMSG_ERROR echoes), and in replies the
 * VOLATILE fields. Returns what it zeroed, for the `# normalised:` line.
 */
export function normalise(msg: Buffer, direction: Direction): string[] {
  const hdr = nl.nlmsghdr.fields;
  const done = ['seq', 'pid'];
  const zeroHeader = (base: number): void => {
    msg.writeUInt32LE(0, base + hdr.nlmsg_seq.offset);
    msg.writeUInt32LE(0, base + hdr.nlmsg_pid.offset);
  };
  zeroHeader(0);
  if (typeOf(msg) === nl.NLMSG_ERROR && msg.length >= nl.nlmsghdr.size + nl.nlmsgerr.size) {
    zeroHeader(nl.nlmsghdr.size + nl.nlmsgerr.fields.msg.offset);
    done.push('seq and pid of the echoed request');
  }
  if (direction !== 'reply') return done;
  for (const v of VOLATILE.filter((v) => v.type === typeOf(msg))) {
    let range: [number, number] | undefined = [nl.nlmsghdr.size + v.header, msg.length];
    for (const type of v.path) range = range && findAttr(msg, range[0], range[1], type);
    if (!range) continue;
    for (const name of v.fields) {
      const f = v.struct.fields[name]!;
      if (range[0] + f.offset + f.size <= range[1]) msg.fill(0, range[0] + f.offset, range[0] + f.offset + f.size);
    }
    done.push(`${v.name} ${v.fields.join(' ')}`);
  }
  return done;
}

export function renderFixture(command: string, direction: Direction, normalised: string[], msg: Buffer): string {
  const hex = msg.toString('hex').match(/.{1,64}/g) ?? [];
  return [`# ${command}`, `# direction: ${direction}`, `# normalised: ${normalised.join(', ')}`, ...hex, ''].join('\n');
}

function main(): void {
  const { values: a } = parseArgs({
    options: {
      log: { type: 'string' },
      direction: { type: 'string' },
      type: { type: 'string' },
      command: { type: 'string' },
      out: { type: 'string' },
      pick: { type: 'string', default: 'only' },
      fd: { type: 'string' },
    },
  });
  if (!a.log || !a.type || !a.command || !a.out || (a.direction !== 'request' && a.direction !== 'reply')) {
    throw new Error('usage: extract.ts --log F --direction request|reply --type RTM_X --command C --out F [--pick only|first|last] [--fd N]');
  }
  const syscalls = a.direction === 'request' ? ['sendmsg'] : ['recvmsg'];
  const want = typeByName(a.type);
  const messages = parseStraceLog(readFileSync(a.log, 'utf8'))
    .filter((c) => syscalls.includes(c.call) && (a.fd === undefined || c.fd === Number(a.fd)))
    .flatMap((c) => splitMessages(c.data));
  const matching = messages.filter((m) => typeOf(m) === want);
  const seen = messages.map((m) => typeName(typeOf(m))).join(', ') || 'none';
  if (matching.length === 0 || (a.pick === 'only' && matching.length > 1)) {
    throw new Error(`${a.out}: want exactly one ${a.type} ${a.direction}, strace saw: ${seen}`);
  }
  const msg = a.pick === 'last' ? matching[matching.length - 1]! : matching[0]!;
  const normalised = normalise(msg, a.direction);
  mkdirSync(dirname(a.out), { recursive: true });
  writeFileSync(a.out, renderFixture(a.command, a.direction, normalised, msg));
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) main();
