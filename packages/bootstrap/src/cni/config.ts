// The network configuration on stdin, with the `bridge` plugin's field names and netboot's defaults.
// Unknown top-level fields are ignored (the spec requires it); a known field with a wrong type or value
// is error 7 naming the field. The raw object is kept: a delegated IPAM plugin gets the whole config.
import { networkOf, parseIp, parsePrefix } from '@netboot/core/ip';
import { type Attachment, validateIfname, validateNetworkName } from '@netboot/ipam';
import { CniCode, CniError, configError } from './errors.js';
import { DEFAULT_SERVER_SOCKET } from './forward.js';
import { type CniDns, type CniResult, type CniRoute, parseDns, parseResult, parseRoute } from './result.js';
import { type CniVersion, isSupportedVersion, SUPPORTED_VERSIONS } from './versions.js';

/** Where the node agent writes this node's lease (subnets, MTU) for the plugin. */
const DEFAULT_LEASE_FILE = '/run/netboot/subnet.json';
/** host-local's default dataDir, so both plugins share reservations. */
const DEFAULT_DATA_DIR = '/var/lib/cni/networks';

/** One host-local range: a subnet and optionally where allocation starts/ends and the gateway. */
export interface RangeConf {
  subnet: string;
  rangeStart?: string;
  rangeEnd?: string;
  gateway?: string;
}

/** `ipam.type: "netboot"`: node-local allocation in the host-local-compatible store. */
export interface NetbootIpamConf {
  type: 'netboot';
  /** One range set per family; undefined → the subnets of the node lease file. */
  ranges: RangeConf[][] | undefined;
  routes: CniRoute[];
  dataDir: string;
  resolvConf: string | undefined;
  leaseFile: string;
}

/** Any other `ipam.type`: the plugin of that name from CNI_PATH does the work. */
export interface DelegatedIpamConf {
  type: string;
}

export type IpamConf = NetbootIpamConf | DelegatedIpamConf;

export type { Attachment };

export interface NetConf {
  cniVersion: CniVersion;
  name: string;
  type: string;
  /** Bridge device name (default cni0). */
  bridge: string;
  /** Give the bridge the gateway address (default true). */
  isGateway: boolean;
  /** Add a default route via the gateway in the container (default true; implies isGateway). */
  isDefaultGateway: boolean;
  /** Masquerade the pods' traffic to destinations outside their subnet (default false). */
  ipMasq: boolean;
  /** Bridge and veth MTU; undefined → the node lease's, else the uplink's. */
  mtu: number | undefined;
  hairpinMode: boolean;
  promiscMode: boolean;
  ipam: IpamConf;
  dns: CniDns;
  /** Also log to this file (logs always go to stderr). */
  logFile: string | undefined;
  /** The warm CNI server's socket the plugin forwards to (default /run/netboot/cni.sock); false: never. */
  server: string | false;
  prevResult: CniResult | undefined;
  /** GC: the attachments the runtime still uses (`cni.dev/valid-attachments`, or `cni.dev/attachments`). */
  validAttachments: Attachment[] | undefined;
  /** The config exactly as received, for delegated plugins. */
  raw: Record<string, unknown>;
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function bool(o: Json, key: string, fallback: boolean, prefix = ''): boolean {
  const v = o[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw configError(prefix + key, 'expected true or false', v);
  return v;
}

function optString(o: Json, key: string, prefix = ''): string | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw configError(prefix + key, 'expected a non-empty string', v);
  return v;
}

function checked<T>(field: string, value: unknown, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw configError(field, (err as Error).message.replace(/^invalid [^:]*: /, ''), value);
  }
}

/** A subnet in CIDR form with no host bits set ('10.244.1.0/24'). */
function subnetOf(field: string, v: unknown): string {
  if (typeof v !== 'string') throw configError(field, 'expected a subnet such as "10.244.1.0/24"', v);
  const p = checked(field, v, () => parsePrefix(v));
  const canonical = `${p.address}/${p.prefixLen}`;
  const network = networkOf(canonical);
  if (network !== canonical) throw configError(field, `host bits are set (the network is ${network})`, v);
  return canonical;
}

function ipIn(field: string, v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw configError(field, 'expected an IP address', v);
  return checked(field, v, () => parseIp(v).address);
}

function parseRange(v: unknown, field: string): RangeConf {
  if (!isObject(v)) throw configError(field, 'expected an object with "subnet"', v);
  const range: RangeConf = { subnet: subnetOf(`${field}.subnet`, v.subnet) };
  for (const key of ['rangeStart', 'rangeEnd', 'gateway'] as const) {
    const ip = ipIn(`${field}.${key}`, v[key]);
    if (ip !== undefined) range[key] = ip;
  }
  return range;
}

function parseRanges(ipam: Json): RangeConf[][] | undefined {
  // host-local's legacy single-range form: subnet/rangeStart/rangeEnd/gateway directly under ipam.
  if (ipam.subnet !== undefined) {
    if (ipam.ranges !== undefined) throw configError('ipam.subnet', 'cannot be combined with ipam.ranges');
    return [[parseRange(ipam, 'ipam')]];
  }
  if (ipam.ranges === undefined) return undefined;
  if (!Array.isArray(ipam.ranges) || ipam.ranges.length === 0) throw configError('ipam.ranges', 'expected a non-empty list of range sets', ipam.ranges);
  return ipam.ranges.map((set, i) => {
    if (!Array.isArray(set) || set.length === 0) throw configError(`ipam.ranges[${i}]`, 'expected a non-empty list of ranges', set);
    return set.map((r, j) => parseRange(r, `ipam.ranges[${i}][${j}]`));
  });
}

function parseIpam(v: unknown): IpamConf {
  if (!isObject(v)) throw configError('ipam', 'expected an object with "type"', v);
  const type = optString(v, 'type', 'ipam.');
  if (type === undefined) throw configError('ipam.type', 'is required ("netboot", or an IPAM plugin in CNI_PATH such as "host-local")');
  if (type !== 'netboot') return { type };
  const routes = v.routes === undefined ? [] : Array.isArray(v.routes) ? v.routes.map((r, i) => parseRoute(r, `ipam.routes[${i}]`)) : [];
  if (v.routes !== undefined && !Array.isArray(v.routes)) throw configError('ipam.routes', 'expected a list', v.routes);
  return {
    type,
    ranges: parseRanges(v),
    routes,
    dataDir: optString(v, 'dataDir', 'ipam.') ?? DEFAULT_DATA_DIR,
    resolvConf: optString(v, 'resolvConf', 'ipam.'),
    leaseFile: optString(v, 'leaseFile', 'ipam.') ?? DEFAULT_LEASE_FILE,
  };
}

function parseAttachments(v: unknown, field: string): Attachment[] {
  if (!Array.isArray(v)) throw configError(field, 'expected a list of {"containerID", "ifname"}', v);
  return v.map((a, i) => {
    if (!isObject(a) || typeof a.containerID !== 'string' || typeof a.ifname !== 'string') {
      throw configError(`${field}[${i}]`, 'expected {"containerID": string, "ifname": string}', a);
    }
    return { containerId: a.containerID, ifname: a.ifname };
  });
}

/** `server`: the warm CNI server's socket (forward.ts reads the same field before this runs). */
function serverOf(v: unknown): string | false {
  if (v === undefined) return DEFAULT_SERVER_SOCKET;
  if (v === false) return false;
  if (typeof v !== 'string' || !v.startsWith('/'))
    throw configError('server', 'expected the CNI server socket as an absolute path, or false to never forward', v);
  return v;
}

/** The cniVersion of a decoded config, or error 1 naming what is supported. */
function configVersion(raw: Json): CniVersion {
  const v = raw.cniVersion;
  if (!isSupportedVersion(v)) {
    const got = v === undefined ? 'no cniVersion' : `cniVersion ${JSON.stringify(v)}`;
    throw new CniError(CniCode.IncompatibleVersion, `config has ${got}; netboot supports ${SUPPORTED_VERSIONS.join(', ')}`);
  }
  return v;
}

/** Decodes stdin: error 6 if it is not a JSON object. */
export function decodeConfig(stdin: string): Json {
  let raw: unknown;
  try {
    raw = JSON.parse(stdin);
  } catch (err) {
    throw new CniError(CniCode.DecodeFailure, `cannot decode the network configuration on stdin: ${(err as Error).message}`);
  }
  if (!isObject(raw)) throw new CniError(CniCode.DecodeFailure, 'the network configuration on stdin must be a JSON object');
  return raw;
}

/** Reads a decoded network configuration. */
export function parseConfig(raw: Json): NetConf {
  const cniVersion = configVersion(raw);
  const name = checked('name', raw.name, () => validateNetworkName(raw.name));
  const type = optString(raw, 'type');
  if (type === undefined) throw configError('type', 'is required');
  const bridge = raw.bridge === undefined ? 'cni0' : checked('bridge', raw.bridge, () => validateIfname(raw.bridge));
  const isDefaultGateway = bool(raw, 'isDefaultGateway', true);
  const isGateway = bool(raw, 'isGateway', true);
  if (isDefaultGateway && !isGateway && raw.isGateway !== undefined) {
    throw configError('isGateway', 'must be true when isDefaultGateway is true (the default route needs the bridge as gateway)', false);
  }
  let mtu: number | undefined;
  if (raw.mtu !== undefined) {
    if (typeof raw.mtu !== 'number' || !Number.isInteger(raw.mtu) || raw.mtu < 68 || raw.mtu > 65535)
      throw configError('mtu', 'expected an integer 68..65535', raw.mtu);
    mtu = raw.mtu;
  }
  const validKey = raw['cni.dev/valid-attachments'] !== undefined ? 'cni.dev/valid-attachments' : 'cni.dev/attachments';
  return {
    cniVersion,
    name,
    type,
    bridge,
    isGateway: isGateway || isDefaultGateway,
    isDefaultGateway,
    ipMasq: bool(raw, 'ipMasq', false),
    mtu,
    hairpinMode: bool(raw, 'hairpinMode', false),
    promiscMode: bool(raw, 'promiscMode', false),
    ipam: parseIpam(raw.ipam),
    dns: parseDns(raw.dns, 'dns'),
    logFile: optString(raw, 'logFile'),
    server: serverOf(raw.server),
    prevResult: raw.prevResult === undefined ? undefined : parseResult(raw.prevResult, 'prevResult'),
    validAttachments: raw[validKey] === undefined ? undefined : parseAttachments(raw[validKey], validKey),
    raw,
  };
}

/** CNI_ARGS keys this plugin knows; others are error 2 unless `IgnoreUnknown` is set, as in the reference. */
const KNOWN_ARGS = new Set(['IgnoreUnknown', 'IP', 'K8S_POD_NAMESPACE', 'K8S_POD_NAME', 'K8S_POD_INFRA_CONTAINER_ID', 'K8S_POD_UID']);

/** Checks CNI_ARGS; returns the addresses asked for with `IP=a,b` (host-local's convention). */
export function requestedIps(args: Record<string, string>): string[] {
  const ignoreUnknown = ['1', 'true'].includes((args.IgnoreUnknown ?? '').toLowerCase());
  for (const [key, value] of Object.entries(args)) {
    if (!KNOWN_ARGS.has(key) && !ignoreUnknown) {
      throw new CniError(CniCode.UnsupportedField, `CNI_ARGS ${key}=${JSON.stringify(value)} is not supported (set IgnoreUnknown=1 to ignore it)`);
    }
  }
  if (args.IP === undefined || args.IP === '') return [];
  return args.IP.split(',').map((ip) => {
    try {
      return parseIp(ip.trim()).address;
    } catch {
      throw new CniError(CniCode.InvalidEnvironment, `CNI_ARGS IP=${JSON.stringify(args.IP)} is not a list of IP addresses`);
    }
  });
}
