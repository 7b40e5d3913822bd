// Generates src/netlink/generated/{constants,structs,names,index}.ts from the Linux UAPI headers
// (Debian's linux-libc-dev), and src/ffi/generated.ts (the libc constants the FFI layer passes to
// setns, mount, flock, syscall) from glibc's headers.
//
// Names come from the headers as the C preprocessor sees them (`cc -E -dD`: every #define and enum
// member, with the file it was declared in). Values, sizes and offsets come from a C probe compiled and
// run here — never from reading numbers by hand. The output is deterministic: same headers, same bytes.
//
//   pnpm gen                      # rewrites src/netlink/generated/ and src/ffi/generated.ts
//   generate('/some/dir')         # the same files under another root (the test compares the two)
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const PACKAGE_DIR = resolve(import.meta.dirname, '..');
/** Where the output goes, relative to the package (or to generate()'s root). */
export const NETLINK_OUT = join('src', 'netlink', 'generated');
export const FFI_OUT = join('src', 'ffi', 'generated.ts');
const TMP_ROOT = join(PACKAGE_DIR, '.gen-tmp');
const INCLUDE_DIR = '/usr/include';
const INSTALL_HINT = 'apt-get install linux-libc-dev gcc';

/**
 * Constant groups, in output order. A prefix group takes every #define / enum member declared in
 * `header` whose name starts with the prefix (a name goes to the longest matching prefix of its header);
 * a names group takes exactly the names listed, wherever glibc declares them. `ffi` groups go to
 * src/ffi/generated.ts (libc's constants, for the FFI layer), the rest to src/netlink/generated/.
 */
type ConstantGroup = ({ header: string; prefix: string; title?: string } | { header: string; names: string[]; title: string }) & { ffi?: true };

const CONSTANT_GROUPS: ConstantGroup[] = [
  { header: 'linux/netlink.h', prefix: 'NLMSG_', title: 'netlink message types and alignment' },
  { header: 'linux/netlink.h', prefix: 'NLM_F_', title: 'nlmsghdr flags' },
  { header: 'linux/netlink.h', prefix: 'NLA_', title: 'attribute header flags and alignment' },
  { header: 'linux/netlink.h', prefix: 'NLMSGERR_ATTR_', title: 'extended ACK attributes' },
  { header: 'linux/netlink.h', prefix: 'NETLINK_', title: 'netlink protocols and socket options' },
  { header: 'linux/rtnetlink.h', prefix: 'RTM_', title: 'rtnetlink message types' },
  { header: 'linux/rtnetlink.h', prefix: 'RTM_F_', title: 'rtmsg flags' },
  { header: 'linux/rtnetlink.h', prefix: 'RTA_', title: 'route attributes' },
  { header: 'linux/rtnetlink.h', prefix: 'RTN_', title: 'route types' },
  { header: 'linux/rtnetlink.h', prefix: 'RTPROT_', title: 'route protocols' },
  { header: 'linux/rtnetlink.h', prefix: 'RT_SCOPE_', title: 'route scopes' },
  { header: 'linux/rtnetlink.h', prefix: 'RT_TABLE_', title: 'route tables' },
  { header: 'linux/rtnetlink.h', prefix: 'RTNH_', title: 'multipath next hops' },
  { header: 'linux/rtnetlink.h', prefix: 'RTAX_', title: 'route metrics (inside RTA_METRICS)' },
  { header: 'linux/rtnetlink.h', prefix: 'RTNLGRP_', title: 'multicast groups' },
  { header: 'linux/rtnetlink.h', prefix: 'RTEXT_FILTER_', title: 'IFLA_EXT_MASK filter bits' },
  { header: 'linux/if_link.h', prefix: 'IFLA_', title: 'link attributes' },
  { header: 'linux/if_link.h', prefix: 'IFLA_INFO_', title: 'IFLA_LINKINFO attributes' },
  { header: 'linux/if_link.h', prefix: 'IFLA_BR_', title: 'bridge attributes' },
  { header: 'linux/if_link.h', prefix: 'IFLA_BRPORT_', title: 'bridge port attributes' },
  { header: 'linux/if_link.h', prefix: 'IFLA_MACVLAN_', title: 'macvlan attributes' },
  { header: 'linux/if_link.h', prefix: 'MACVLAN_MODE_', title: 'macvlan modes' },
  { header: 'linux/if_link.h', prefix: 'IFLA_VXLAN_', title: 'vxlan attributes' },
  { header: 'linux/if_tunnel.h', prefix: 'IFLA_', title: 'tunnel link attributes' },
  { header: 'linux/if_bridge.h', prefix: 'IFLA_', title: 'bridge AF_SPEC attributes' },
  { header: 'linux/veth.h', prefix: 'VETH_INFO_', title: 'veth attributes' },
  { header: 'linux/if_addr.h', prefix: 'IFA_', title: 'address attributes' },
  { header: 'linux/if_addr.h', prefix: 'IFA_F_', title: 'address flags' },
  { header: 'linux/neighbour.h', prefix: 'NDA_', title: 'neighbour attributes' },
  { header: 'linux/neighbour.h', prefix: 'NTF_', title: 'neighbour flags' },
  { header: 'linux/neighbour.h', prefix: 'NUD_', title: 'neighbour states' },
  { header: 'linux/nexthop.h', prefix: 'NHA_', title: 'nexthop object attributes' },
  { header: 'linux/nexthop.h', prefix: 'NHA_RES_GROUP_', title: 'resilient nexthop group attributes' },
  { header: 'linux/nexthop.h', prefix: 'NHA_RES_BUCKET_', title: 'resilient nexthop bucket attributes' },
  { header: 'linux/nexthop.h', prefix: 'NEXTHOP_GRP_TYPE_', title: 'nexthop group types' },
  { header: 'linux/fib_rules.h', prefix: 'FRA_', title: 'rule attributes' },
  { header: 'linux/fib_rules.h', prefix: 'FR_ACT_', title: 'rule actions' },
  { header: 'linux/fib_rules.h', prefix: 'FIB_RULE_', title: 'rule flags' },
  { header: 'linux/lwtunnel.h', prefix: 'LWTUNNEL_', title: 'route encapsulation' },
  {
    header: 'linux/netfilter/nfnetlink.h',
    names: ['NFNL_SUBSYS_NFTABLES', 'NFNL_MSG_BATCH_BEGIN', 'NFNL_MSG_BATCH_END', 'NFNETLINK_V0'],
    title: 'nfnetlink subsystems and batches',
  },
  { header: 'linux/netfilter.h', prefix: 'NFPROTO_', title: 'netfilter families (nfgen_family)' },
  { header: 'linux/netfilter/nf_tables.h', prefix: 'NFT_MSG_', title: 'nf_tables message types' },
  { header: 'linux/netfilter/nf_tables.h', prefix: 'NFTA_SET_ELEM_LIST_', title: 'nf_tables set element list attributes' },
  { header: 'linux/netfilter/nf_tables.h', prefix: 'NFTA_SET_ELEM_', title: 'nf_tables set element attributes' },
  { header: 'linux/netfilter/nf_tables.h', prefix: 'NFT_SET_ELEM_', title: 'nf_tables set element flags' },
  { header: 'linux/netfilter/nf_tables.h', prefix: 'NFTA_LIST_', title: 'nf_tables list attributes' },
  { header: 'linux/netfilter/nf_tables.h', prefix: 'NFTA_DATA_', title: 'nf_tables data attributes' },
  { header: 'linux/if.h', prefix: 'IFF_', title: 'net_device_flags' },
  { header: 'linux/if.h', prefix: 'IF_OPER_', title: 'operational states (IFLA_OPERSTATE)' },
  { header: 'linux/if.h', names: ['IFNAMSIZ'], title: 'interface name buffer size' },
  {
    header: 'sys/socket.h',
    title: 'address families, socket types and options',
    names: [
      'AF_UNSPEC',
      'AF_INET',
      'AF_INET6',
      'AF_BRIDGE',
      'AF_NETLINK',
      'AF_PACKET',
      'SOCK_RAW',
      'SOCK_DGRAM',
      'SOCK_CLOEXEC',
      'SOCK_NONBLOCK',
      'SOL_NETLINK',
      'SOL_SOCKET',
      'SO_RCVTIMEO',
      'SO_SNDBUF',
      'SO_RCVBUF',
      'SO_RCVBUFFORCE',
      'SO_SNDBUFFORCE',
      'MSG_DONTWAIT',
      'MSG_PEEK',
      'MSG_TRUNC',
    ],
  },
  { header: 'sched.h', names: ['CLONE_NEWNET', 'CLONE_NEWNS'], title: 'unshare/setns namespace types', ffi: true },
  {
    header: 'sys/mount.h',
    names: ['MS_BIND', 'MS_REC', 'MS_SHARED', 'MS_SLAVE', 'MS_PRIVATE', 'MNT_DETACH'],
    title: 'mount flags',
    ffi: true,
  },
  { header: 'sys/file.h', names: ['LOCK_SH', 'LOCK_EX', 'LOCK_NB', 'LOCK_UN'], title: 'flock operations', ffi: true },
  { header: 'sys/syscall.h', names: ['SYS_gettid'], title: 'syscall numbers (for calls without a glibc wrapper)', ffi: true },
];

/** Structs whose layout the codec needs, in output order. `optional` ones are skipped when absent. */
const STRUCTS: { name: string; header: string; optional?: boolean }[] = [
  { name: 'nlmsghdr', header: 'linux/netlink.h' },
  { name: 'nlmsgerr', header: 'linux/netlink.h' },
  { name: 'nlattr', header: 'linux/netlink.h' },
  { name: 'sockaddr_nl', header: 'linux/netlink.h' },
  { name: 'rtattr', header: 'linux/rtnetlink.h' },
  { name: 'rtgenmsg', header: 'linux/rtnetlink.h' },
  { name: 'ifinfomsg', header: 'linux/rtnetlink.h' },
  { name: 'rtmsg', header: 'linux/rtnetlink.h' },
  { name: 'rtnexthop', header: 'linux/rtnetlink.h' },
  { name: 'rta_cacheinfo', header: 'linux/rtnetlink.h' },
  { name: 'ifaddrmsg', header: 'linux/if_addr.h' },
  { name: 'ifa_cacheinfo', header: 'linux/if_addr.h' },
  { name: 'ndmsg', header: 'linux/neighbour.h' },
  { name: 'nda_cacheinfo', header: 'linux/neighbour.h' },
  { name: 'ifla_cacheinfo', header: 'linux/if_link.h', optional: true },
  { name: 'ifla_vxlan_port_range', header: 'linux/if_link.h' },
  { name: 'nhmsg', header: 'linux/nexthop.h' },
  { name: 'nexthop_grp', header: 'linux/nexthop.h' },
  { name: 'fib_rule_hdr', header: 'linux/fib_rules.h' },
  { name: 'fib_rule_uid_range', header: 'linux/fib_rules.h' },
  { name: 'fib_rule_port_range', header: 'linux/fib_rules.h' },
  { name: 'nfgenmsg', header: 'linux/netfilter/nfnetlink.h' },
];

/**
 * Reverse tables (value → name) for errors and debugging: the constants of one group, less `exclude`.
 * Where names share a value the first one that is not an alias of another wins.
 */
const NAME_TABLES: { table: string; prefix: string; exclude?: string[] }[] = [
  { table: 'NLMSG_NAMES', prefix: 'NLMSG_', exclude: ['NLMSG_ALIGNTO', 'NLMSG_HDRLEN', 'NLMSG_MIN_TYPE'] },
  { table: 'RTM_NAMES', prefix: 'RTM_', exclude: ['RTM_BASE'] },
  { table: 'RTN_NAMES', prefix: 'RTN_' },
  { table: 'RTPROT_NAMES', prefix: 'RTPROT_' },
  { table: 'RT_SCOPE_NAMES', prefix: 'RT_SCOPE_' },
  { table: 'NUD_NAMES', prefix: 'NUD_' },
  { table: 'AF_NAMES', prefix: 'AF_' },
];

/** Headers the probe includes besides those named above (only for LINUX_VERSION_CODE and the printf). */
const EXTRA_INCLUDES = ['linux/version.h', 'stdio.h', 'stddef.h'];

// ---------------------------------------------------------------------------------------------------

interface Definition {
  name: string;
  expr: string; // the #define body or the enum initialiser ('' for an implicit enum value)
  file: string; // absolute path of the header that declares it
  order: number; // declaration order in the preprocessed output
}

interface Constant {
  name: string;
  value: number;
  alias: boolean; // defined as another constant of the same group
}

/** A field as declared in the header; the probe supplies offset, size, signedness and array length. */
interface DeclaredField {
  name: string;
  type: string;
  bigEndian: boolean;
  struct?: string;
  array?: true;
}

interface Field {
  name: string;
  type: string;
  offset: number;
  size: number;
  signed: boolean;
  bigEndian: boolean;
  struct?: string;
  count?: number;
}

interface StructLayout {
  name: string;
  header: string;
  size: number;
  fields: Field[];
}

class GenError extends Error {}

/** Generates the bindings under `root` (the package; directories created if missing). Returns the paths written. */
export function generate(root: string = PACKAGE_DIR): string[] {
  checkTools();
  mkdirSync(TMP_ROOT, { recursive: true });
  const tmp = mkdtempSync(join(TMP_ROOT, 'probe-'));
  try {
    const headers = allHeaders();
    const source = preprocess(tmp, headers);
    const definitions = scanDefinitions(source);
    const skip = sentinels(definitions);
    const groups = CONSTANT_GROUPS.map((g) => ({ group: g, names: namesOfGroup(g, definitions, skip) }));
    const declarations = STRUCTS.flatMap((s) => {
      const fields = parseStruct(source, s.name);
      if (!fields && !s.optional) throw new GenError(`struct ${s.name} not found in ${s.header}`);
      return fields ? [{ ...s, fields }] : [];
    });
    const probe = runProbe(
      tmp,
      headers,
      groups.flatMap((g) => g.names),
      declarations,
    );
    for (const g of CONSTANT_GROUPS) {
      const missing = 'names' in g ? g.names.filter((n) => !probe.values.has(n)) : [];
      if (missing.length) throw new GenError(`not integer constants in <${g.header}>: ${missing.join(', ')}`);
    }

    const constants = groups.map(({ group, names }) => ({
      group,
      constants: names.filter((n) => probe.values.has(n)).map((n) => ({ name: n, value: probe.values.get(n)!, alias: isAlias(definitions.get(n), names) })),
    }));
    checkUnique(constants);
    const netlink = constants.filter(({ group }) => !group.ffi);
    const ffi = constants.filter(({ group }) => group.ffi);
    const banner = bannerLine(probe.kernelVersion, [...netlink.map(({ group }) => group.header), ...STRUCTS.map((s) => s.header)]);
    const files: Record<string, string> = {
      [join(NETLINK_OUT, 'constants.ts')]: renderConstants(banner, netlink),
      [join(NETLINK_OUT, 'structs.ts')]: renderStructs(banner, probe.structs),
      [join(NETLINK_OUT, 'names.ts')]: renderNames(banner, netlink),
      [join(NETLINK_OUT, 'index.ts')]: renderIndex(banner),
      [FFI_OUT]: renderConstants(
        bannerLine(
          probe.kernelVersion,
          ffi.map(({ group }) => group.header),
          "glibc's headers over Debian linux-libc-dev",
        ),
        ffi,
      ),
    };
    return Object.entries(files).map(([file, text]) => {
      const path = join(root, file);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, text);
      return path;
    });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function checkTools(): void {
  const cc = spawnSync('cc', ['--version'], { encoding: 'utf8' });
  if (cc.error || cc.status !== 0) throw new GenError(`no C compiler ('cc') found: ${INSTALL_HINT}`);
  for (const h of ['linux/rtnetlink.h', 'linux/version.h']) {
    if (!existsSync(join(INCLUDE_DIR, h))) throw new GenError(`${INCLUDE_DIR}/${h} is missing: ${INSTALL_HINT}`);
  }
}

function allHeaders(): string[] {
  return [...new Set([...CONSTANT_GROUPS.map((g) => g.header), ...STRUCTS.map((s) => s.header)])];
}

function includeLines(headers: string[]): string {
  return ['#define _GNU_SOURCE', ...[...headers, ...EXTRA_INCLUDES].map((h) => `#include <${h}>`)].join('\n');
}

/** The headers as the compiler sees them, with #defines kept in place and line markers naming files. */
function preprocess(tmp: string, headers: string[]): string {
  const file = join(tmp, 'headers.c');
  writeFileSync(file, `${includeLines(headers)}\n`);
  const cc = spawnSync('cc', ['-E', '-dD', file], { encoding: 'utf8', maxBuffer: 256 << 20 });
  if (cc.status !== 0) throw new GenError(`cannot preprocess the headers (${INSTALL_HINT}):\n${cc.stderr}`);
  return cc.stdout;
}

// ---- names -----------------------------------------------------------------------------------------

const TOKEN = /[A-Za-z_]\w*|0[xX][0-9a-fA-F]+\w*|\d+\w*|'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*"|<<|>>|\S/g;
const IDENT = /^[A-Za-z_]\w*$/;

/** Every object-like #define and enum member, first declaration wins, in declaration order. */
export function scanDefinitions(preprocessed: string): Map<string, Definition> {
  const defs = new Map<string, Definition>();
  let file = '';
  let order = 0;
  const add = (name: string, expr: string): void => {
    if (!defs.has(name)) defs.set(name, { name, expr, file, order: order++ });
  };
  const enums = enumScanner(add);
  for (const line of preprocessed.split('\n')) {
    const marker = /^# \d+ "([^"]*)"/.exec(line);
    if (marker) {
      file = marker[1]!;
      continue;
    }
    const define = /^#define ([A-Za-z_]\w*)(\(?)(.*)$/.exec(line);
    if (define) {
      if (define[2] === '' && define[3]!.trim() !== '') add(define[1]!, define[3]!.trim());
      continue;
    }
    if (line.startsWith('#')) continue;
    for (const tok of line.match(TOKEN) ?? []) enums(tok);
  }
  return defs;
}

/** A token-at-a-time state machine that reports `enum [tag] { NAME [= expr], … }` members. */
function enumScanner(add: (name: string, expr: string) => void): (tok: string) => void {
  let state: 'idle' | 'head' | 'tagged' | 'body' = 'idle';
  let depth = 0;
  let member: { name: string; expr: string[] } | undefined;
  let expectName = false;
  const finish = (): void => {
    if (member) add(member.name, member.expr.join(' '));
    member = undefined;
  };
  return (tok) => {
    switch (state) {
      case 'idle':
        if (tok === 'enum') state = 'head';
        return;
      case 'head':
      case 'tagged':
        if (tok === '{') {
          state = 'body';
          depth = 0;
          expectName = true;
        } else if (state === 'head' && IDENT.test(tok)) state = 'tagged';
        else state = 'idle';
        return;
      case 'body':
        if (depth === 0 && (tok === ',' || tok === '}')) {
          finish();
          expectName = true;
          if (tok === '}') state = 'idle';
          return;
        }
        if (tok === '(') depth++;
        if (tok === ')') depth--;
        if (expectName && IDENT.test(tok)) {
          member = { name: tok, expr: [] };
          expectName = false;
        } else if (member && !(tok === '=' && member.expr.length === 0)) member.expr.push(tok);
    }
  };
}

function prefixOf(g: ConstantGroup): string | undefined {
  return 'prefix' in g ? g.prefix : undefined;
}

/**
 * Enum-size sentinels: `__IFLA_MAX`, and everything computed from one (`IFLA_MAX = __IFLA_MAX - 1`,
 * `RTM_NR_MSGTYPES = RTM_MAX + 1 - RTM_BASE`). `RT_TABLE_MAX = 0xFFFFFFFF` is a real value and stays.
 */
function sentinels(defs: Map<string, Definition>): Set<string> {
  const found = new Set([...defs.keys()].filter((n) => /^__\w+_(MAX|END|CNT|COUNT)$/.test(n)));
  for (let grew = true; grew; ) {
    grew = false;
    for (const d of defs.values()) {
      if (found.has(d.name)) continue;
      if ((d.expr.match(/[A-Za-z_]\w*/g) ?? []).some((id) => found.has(id))) {
        found.add(d.name);
        grew = true;
      }
    }
  }
  return found;
}

function namesOfGroup(g: ConstantGroup, defs: Map<string, Definition>, skip: Set<string>): string[] {
  if ('names' in g) return g.names;
  const suffix = `/${g.header}`;
  const rivals = CONSTANT_GROUPS.filter((o) => o.header === g.header && o !== g)
    .map(prefixOf)
    .filter((p): p is string => p !== undefined && p.length > g.prefix.length && p.startsWith(g.prefix));
  return [...defs.values()]
    .filter((d) => d.file.endsWith(suffix) && d.name.startsWith(g.prefix))
    .filter((d) => !rivals.some((r) => d.name.startsWith(r)))
    .filter((d) => !d.name.startsWith('__') && !skip.has(d.name))
    .sort((a, b) => a.order - b.order)
    .map((d) => d.name);
}

function isAlias(def: Definition | undefined, groupNames: string[]): boolean {
  if (!def) return false;
  const m = /^\(?\s*([A-Za-z_]\w*)\s*\)?$/.exec(def.expr);
  return !!m && m[1] !== def.name && groupNames.includes(m[1]!);
}

// ---- structs ---------------------------------------------------------------------------------------

/** The field declarations of `struct name { … }` in declaration order, or undefined if not declared. */
export function parseStruct(preprocessed: string, name: string): DeclaredField[] | undefined {
  const code = preprocessed
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join('\n');
  const m = new RegExp(`\\bstruct\\s+${name}\\s*\\{`).exec(code);
  if (!m) return undefined;
  const start = m.index + m[0].length;
  let depth = 1;
  let end = start;
  for (; end < code.length && depth > 0; end++) {
    if (code[end] === '{') depth++;
    if (code[end] === '}') depth--;
  }
  const body = code.slice(start, end - 1);
  if (body.includes('{')) throw new GenError(`struct ${name}: nested struct/union bodies are not supported`);
  return body
    .split(';')
    .map((d) => d.replace(/\s+/g, ' ').trim())
    .filter((d) => d !== '')
    .flatMap((decl) => parseDeclaration(name, decl));
}

function parseDeclaration(struct: string, decl: string): DeclaredField[] {
  const [first, ...more] = decl.split(',').map((s) => s.trim());
  const m = /^(.*?)\b([A-Za-z_]\w*)\s*(?:\[\s*(\w*)\s*\])?$/.exec(first!);
  if (!m || /:/.test(decl) || m[1]!.trim() === '') {
    throw new GenError(`struct ${struct}: cannot parse field declaration '${decl}'`);
  }
  const type = m[1]!.trim();
  const declarators = [m[2]! + (m[3] !== undefined ? `[${m[3]}]` : ''), ...more];
  return declarators.map((d) => {
    const dm = /^\**\s*([A-Za-z_]\w*)\s*(?:\[\s*(\w*)\s*\])?$/.exec(d);
    if (!dm) throw new GenError(`struct ${struct}: cannot parse declarator '${d}'`);
    const nested = /^(struct|union)\s+(\w+)$/.exec(type);
    if (dm[2] === '') throw new GenError(`struct ${struct}: flexible array member '${d}' is not supported`);
    const field: DeclaredField = { name: dm[1]!, type, bigEndian: /^__be(16|32|64)$/.test(type) };
    if (nested) field.struct = nested[2]!;
    if (dm[2] !== undefined) field.array = true;
    return field;
  });
}

// ---- the probe -------------------------------------------------------------------------------------

interface ProbeResult {
  values: Map<string, number>;
  structs: StructLayout[];
  kernelVersion: string;
}

type Declared = { name: string; header: string; fields: DeclaredField[] };

/** Writes, compiles and runs the C probe. Constants the compiler rejects as non-integers are skipped. */
function runProbe(tmp: string, headers: string[], names: string[], structs: Declared[]): ProbeResult {
  let wanted = [...new Set(names)];
  const skipped: string[] = [];
  for (let round = 0; ; round++) {
    const { source, lineOwner } = probeSource(headers, wanted, structs);
    const file = join(tmp, 'probe.c');
    const exe = join(tmp, 'probe');
    writeFileSync(file, source);
    const cc = spawnSync('cc', ['-std=gnu11', '-fdiagnostics-plain-output', '-o', exe, file], { encoding: 'utf8' });
    if (cc.status === 0) {
      if (skipped.length) process.stderr.write(`gen: skipped (not integer constants): ${skipped.join(', ')}\n`);
      return parseProbeOutput(execFileSync(exe, { encoding: 'utf8' }), structs);
    }
    // Every diagnostic (error or "in expansion of macro" note) that points at one constant's line.
    const bad = new Set<string>();
    for (const m of cc.stderr.matchAll(/probe\.c:(\d+):\d+:/g)) {
      const owner = lineOwner.get(Number(m[1]));
      if (owner) bad.add(owner);
    }
    if (bad.size === 0 || round >= 3) throw new GenError(`the C probe does not compile:\n${cc.stderr}`);
    skipped.push(...bad);
    wanted = wanted.filter((n) => !bad.has(n));
  }
}

function probeSource(headers: string[], names: string[], structs: Declared[]): { source: string; lineOwner: Map<number, string> } {
  const lines = [
    includeLines(headers),
    'static void s(const char *n, long long v) { printf("C %s %lld\\n", n, v); }',
    'static void u(const char *n, unsigned long long v) { printf("C %s %llu\\n", n, v); }',
    '#define CONST(n, x) _Generic((x), _Bool: u, unsigned char: u, unsigned short: u, unsigned int: u, \\',
    '  unsigned long: u, unsigned long long: u, char: s, signed char: s, short: s, int: s, long: s, \\',
    '  long long: s)(n, (x))',
    '#define SIGNED(x) ((int)((__typeof__(x))-1 < 0))',
  ]
    .join('\n')
    .split('\n');
  const lineOwner = new Map<number, string>();
  const push = (line: string, owner?: string): void => {
    lines.push(line);
    if (owner) lineOwner.set(lines.length, owner);
  };
  // An array size must be an integer constant expression: a pointer, a string or a run-time value fails here.
  for (const [i, n] of names.entries()) push(`typedef char integer_constant_${i}[(${n}) * 0 + 1];`, n);
  push('int main(void) {');
  push('  printf("V %u\\n", (unsigned)LINUX_VERSION_CODE);');
  for (const n of names) push(`  CONST("${n}", ${n});`, n);
  for (const s of structs) {
    push(`  printf("S ${s.name} %zu\\n", sizeof(struct ${s.name}));`);
    for (const f of s.fields) {
      const lvalue = `((struct ${s.name} *)0)->${f.name}`;
      const signed = f.struct || f.array ? '0' : `SIGNED(${lvalue})`;
      const count = f.array ? `sizeof(${lvalue}) / sizeof(${lvalue}[0])` : '(size_t)1';
      push(`  printf("F ${s.name} ${f.name} %zu %zu %d %zu\\n", offsetof(struct ${s.name}, ${f.name}), ` + `sizeof(${lvalue}), ${signed}, ${count});`);
    }
  }
  push('  return 0;');
  push('}');
  return { source: `${lines.join('\n')}\n`, lineOwner };
}

function parseProbeOutput(out: string, declared: Declared[]): ProbeResult {
  const values = new Map<string, number>();
  const sizes = new Map<string, number>();
  const fields = new Map<string, Map<string, { offset: number; size: number; signed: boolean; count: number }>>();
  let code = 0;
  for (const line of out.trim().split('\n')) {
    const [tag, a, b, c, d, e, f] = line.split(' ');
    if (tag === 'V') code = Number(a);
    else if (tag === 'C') {
      const v = Number(b);
      if (!Number.isSafeInteger(v)) throw new GenError(`${a} = ${b} does not fit a JavaScript number`);
      values.set(a!, v);
    } else if (tag === 'S') sizes.set(a!, Number(b));
    else if (tag === 'F') {
      if (!fields.has(a!)) fields.set(a!, new Map());
      fields.get(a!)!.set(b!, { offset: Number(c), size: Number(d), signed: e === '1', count: Number(f) });
    }
  }
  const structs = declared.map((s) => ({
    name: s.name,
    header: s.header,
    size: sizes.get(s.name)!,
    fields: s.fields.map((f) => {
      const p = fields.get(s.name)!.get(f.name)!;
      const field: Field = { name: f.name, type: f.type, offset: p.offset, size: p.size, signed: p.signed, bigEndian: f.bigEndian };
      if (f.struct) field.struct = f.struct;
      if (f.array) field.count = p.count;
      return field;
    }),
  }));
  const kernelVersion = `${code >> 16}.${(code >> 8) & 0xff}.${code & 0xff}`;
  return { values, structs, kernelVersion };
}

// ---- output ----------------------------------------------------------------------------------------

/**
 * Names the kernel series (6.1), not the patch level or Debian's package revision: stable updates
 * (6.1.187 → 6.1.192) never change the UAPI, and a banner that moved with them would fail CI's
 * "regeneration changes nothing" check on every fresh machine whose image lags the archive.
 * A real UAPI change still changes the constants below, and CI catches that.
 */
function bannerLine(kernelVersion: string, headers: string[], what = 'Debian linux-libc-dev'): string {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's format syntax
  const dpkg = spawnSync('dpkg-query', ['-W', '-f', '${Version}', 'linux-libc-dev'], { encoding: 'utf8' });
  if (dpkg.status !== 0 || !dpkg.stdout.trim()) throw new GenError(`linux-libc-dev is not installed: ${INSTALL_HINT}`);
  const series = kernelVersion.split('.').slice(0, 2).join('.');
  return (
    `// Generated by packages/core/gen from ${[...new Set(headers)].join(', ')} — ${what}, ` + `kernel headers ${series}.x. Do not edit: run 'pnpm gen'.\n`
  );
}

type GroupConstants = { group: ConstantGroup; constants: Constant[] };

function groupTitle(g: ConstantGroup): string {
  const what = 'prefix' in g ? `${g.prefix}*${g.title ? `: ${g.title}` : ''}` : g.title;
  return `${what} — ${g.header}`;
}

/** Every constant in one group only: the two output files must never both define a name. */
function checkUnique(groups: GroupConstants[]): void {
  const all = groups.flatMap((g) => g.constants.map((c) => c.name));
  const twice = all.filter((n, i) => all.indexOf(n) !== i);
  if (twice.length) throw new GenError(`constants in more than one group: ${twice.join(', ')}`);
}

function renderConstants(banner: string, groups: GroupConstants[]): string {
  const out = [banner];
  for (const { group, constants } of groups) {
    if (constants.length === 0) continue;
    out.push(`\n// ${groupTitle(group)}\n`);
    for (const c of constants) out.push(`export const ${c.name} = ${c.value};\n`);
  }
  return out.join('');
}

function renderStructs(banner: string, structs: StructLayout[]): string {
  const out = [
    banner,
    '//\n',
    '// Field order is declaration order. Integers are host byte order (little-endian) unless marked\n',
    '// `bigEndian`; `signed` marks signed C types; `struct` names a nested struct, `count` an array length.\n',
    '\n',
    'export interface FieldLayout {\n',
    '  readonly offset: number;\n',
    '  readonly size: number;\n',
    '  readonly signed?: true;\n',
    '  readonly bigEndian?: true;\n',
    '  readonly struct?: string;\n',
    '  readonly count?: number;\n',
    '}\n',
    '\n',
    'export interface StructLayout {\n',
    '  readonly size: number;\n',
    '  readonly fields: Readonly<Record<string, FieldLayout>>;\n',
    '}\n',
  ];
  for (const s of structs) {
    out.push(`\n/** struct ${s.name} — ${s.header} */\n`);
    out.push(`export const ${s.name} = {\n  size: ${s.size},\n  fields: {\n`);
    for (const f of s.fields) {
      const extra = [
        f.signed ? 'signed: true' : '',
        f.bigEndian ? 'bigEndian: true' : '',
        f.struct ? `struct: '${f.struct}'` : '',
        f.count !== undefined ? `count: ${f.count}` : '',
      ].filter(Boolean);
      const props = [`offset: ${f.offset}`, `size: ${f.size}`, ...extra].join(', ');
      out.push(`    ${f.name}: { ${props} }, // ${f.type}\n`);
    }
    out.push('  },\n} as const satisfies StructLayout;\n');
  }
  return out.join('');
}

function renderNames(banner: string, groups: GroupConstants[]): string {
  const out = [banner];
  for (const t of NAME_TABLES) {
    const constants = groups
      .filter(({ group }) => ('names' in group ? group.names.some((n) => n.startsWith(t.prefix)) : group.prefix === t.prefix))
      .flatMap(({ constants }) => constants)
      .filter((c) => c.name.startsWith(t.prefix) && !t.exclude?.includes(c.name));
    const byValue = new Map<number, Constant>();
    for (const c of constants) {
      const held = byValue.get(c.value);
      if (!held || (held.alias && !c.alias)) byValue.set(c.value, c);
    }
    const entries = [...byValue.entries()].sort(([a], [b]) => a - b);
    out.push(`\nexport const ${t.table}: Readonly<Record<number, string>> = Object.freeze({\n`);
    for (const [value, c] of entries) out.push(`  ${value}: '${c.name}',\n`);
    out.push('});\n');
  }
  return out.join('');
}

function renderIndex(banner: string): string {
  return `${banner}\nexport * from './constants.js';\nexport * from './structs.js';\nexport * from './names.js';\n`;
}

// ---- command line ----------------------------------------------------------------------------------

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  try {
    const written = generate(process.argv[2] ? resolve(process.argv[2]) : PACKAGE_DIR);
    for (const f of written) process.stdout.write(`wrote ${f}\n`);
  } catch (err) {
    if (!(err instanceof GenError)) throw err;
    process.stderr.write(`gen: ${err.message}\n`);
    process.exit(1);
  }
}
