// The ADD result, held in spec 1.1.0's shape and written in whichever cniVersion the config asks for;
// and prevResult, read back from any supported version. What changed between versions:
//   0.3.x/0.4.0  ips[].version ("4"/"6") is required
//   1.0.0        ips[].version removed
//   1.1.0        interfaces[].mtu/socketPath/pciID and routes[].mtu/advmss/priority/table/scope added
import { parseIp, parsePrefix } from '@netboot/core/ip';
import { configError } from './errors.js';
import { type CniVersion, versionAtLeast } from './versions.js';

export interface CniInterface {
  name: string;
  mac?: string;
  /** 1.1.0 */
  mtu?: number;
  /** The namespace path, for interfaces inside the container. */
  sandbox?: string;
  /** 1.1.0 */
  socketPath?: string;
  /** 1.1.0 */
  pciID?: string;
}

export interface CniIp {
  /** 'address/prefixLen' */
  address: string;
  gateway?: string;
  /** Index into `interfaces`; absent in IPAM results. */
  interface?: number;
}

export interface CniRoute {
  dst: string;
  gw?: string;
  /** The fields below are 1.1.0. */
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

export interface CniDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

/** A result (or an IPAM result, which has no interfaces) without its cniVersion. */
export interface CniResult {
  interfaces?: CniInterface[];
  ips: CniIp[];
  routes: CniRoute[];
  dns: CniDns;
}

const V11_INTERFACE_FIELDS = ['mtu', 'socketPath', 'pciID'] as const;
const V11_ROUTE_FIELDS = ['mtu', 'advmss', 'priority', 'table', 'scope'] as const;

function without<T extends object>(o: T, keys: readonly string[]): T {
  const copy = { ...o } as Record<string, unknown>;
  for (const k of keys) delete copy[k];
  return copy as T;
}

/** The JSON object for `result` in `version`. */
export function formatResult(result: CniResult, version: CniVersion): Record<string, unknown> {
  const v11 = versionAtLeast(version, '1.1.0');
  const v10 = versionAtLeast(version, '1.0.0');
  const out: Record<string, unknown> = { cniVersion: version };
  if (result.interfaces !== undefined) out.interfaces = v11 ? result.interfaces : result.interfaces.map((i) => without(i, V11_INTERFACE_FIELDS));
  out.ips = v10 ? result.ips : result.ips.map((ip) => ({ version: String(parsePrefix(ip.address).family), ...ip }));
  out.routes = v11 ? result.routes : result.routes.map((r) => without(r, V11_ROUTE_FIELDS));
  out.dns = result.dns;
  return out;
}

// Readers for untrusted JSON: each names the field path in its error 7.
type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(o: Json, key: string, field: string, required: boolean, check?: (s: string) => unknown): string | undefined {
  const v = o[key];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string') throw configError(`${field}.${key}`, 'expected a string', v);
  if (check) {
    try {
      check(v);
    } catch (err) {
      throw configError(`${field}.${key}`, (err as Error).message);
    }
  }
  return v;
}

function int(o: Json, key: string, field: string): number | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw configError(`${field}.${key}`, 'expected a non-negative integer', v);
  return v;
}

function list(o: Json, key: string, field: string): unknown[] {
  const v = o[key];
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw configError(`${field}.${key}`, 'expected a list', v);
  return v;
}

function stringList(o: Json, key: string, field: string): string[] | undefined {
  if (o[key] === undefined) return undefined;
  return list(o, key, field).map((s, i) => {
    if (typeof s !== 'string') throw configError(`${field}.${key}[${i}]`, 'expected a string', s);
    return s;
  });
}

function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** A route object (`{dst, gw, …}`), as results and host-local's `routes` write it. */
export function parseRoute(v: unknown, field: string): CniRoute {
  if (!isObject(v)) throw configError(field, 'expected an object', v);
  return defined({
    dst: str(v, 'dst', field, true, parsePrefix)!,
    gw: str(v, 'gw', field, false, parseIp),
    mtu: int(v, 'mtu', field),
    advmss: int(v, 'advmss', field),
    priority: int(v, 'priority', field),
    table: int(v, 'table', field),
    scope: int(v, 'scope', field),
  });
}

/** A `dns` object. */
export function parseDns(v: unknown, field: string): CniDns {
  if (v === undefined) return {};
  if (!isObject(v)) throw configError(field, 'expected an object', v);
  return defined({
    nameservers: stringList(v, 'nameservers', field),
    domain: str(v, 'domain', field, false),
    search: stringList(v, 'search', field),
    options: stringList(v, 'options', field),
  });
}

/**
 * A result of any supported version (prevResult, or a delegated IPAM plugin's output) in 1.1.0's shape;
 * `version` fields are dropped, unknown fields ignored. `field` names it in errors ('prevResult').
 */
export function parseResult(v: unknown, field: string): CniResult {
  if (!isObject(v)) throw configError(field, 'expected a result object', v);
  const interfaces =
    v.interfaces === undefined
      ? undefined
      : list(v, 'interfaces', field).map((raw, i) => {
          const f = `${field}.interfaces[${i}]`;
          if (!isObject(raw)) throw configError(f, 'expected an object', raw);
          return defined({
            name: str(raw, 'name', f, true)!,
            mac: str(raw, 'mac', f, false),
            mtu: int(raw, 'mtu', f),
            sandbox: str(raw, 'sandbox', f, false),
            socketPath: str(raw, 'socketPath', f, false),
            pciID: str(raw, 'pciID', f, false),
          });
        });
  const ips = list(v, 'ips', field).map((raw, i) => {
    const f = `${field}.ips[${i}]`;
    if (!isObject(raw)) throw configError(f, 'expected an object', raw);
    const ip = defined({
      address: str(raw, 'address', f, true, parsePrefix)!,
      gateway: str(raw, 'gateway', f, false, parseIp),
      interface: int(raw, 'interface', f),
    });
    if (ip.interface !== undefined && (interfaces === undefined || ip.interface >= interfaces.length)) {
      throw configError(`${f}.interface`, `is not an index into ${field}.interfaces`, ip.interface);
    }
    return ip;
  });
  const routes = list(v, 'routes', field).map((raw, i) => parseRoute(raw, `${field}.routes[${i}]`));
  return { ...(interfaces === undefined ? {} : { interfaces }), ips, routes, dns: parseDns(v.dns, `${field}.dns`) };
}
