// `ipam.type: "netboot"`: node-local allocation in @netboot/ipam's host-local-compatible file store,
// from `ipam.ranges` or, without them, from the subnets of the node lease file.
import { readFileSync } from 'node:fs';
import type { PodIpam } from '@netboot/ipam';
import { FileStore, LocalIpam } from '@netboot/ipam/file';
import { type NetbootIpamConf, requestedIps } from '../config.js';
import { CniCode, CniError } from '../errors.js';
import { readLease } from '../lease.js';
import { onRelease } from '../kept.js';
import type { CniDns, CniResult } from '../result.js';
import type { CniRequest } from '../skel.js';
import type { IpamPlugin } from './types.js';

/** resolv.conf's nameserver/domain/search/options lines as a CNI dns object (host-local's `resolvConf`). */
export function parseResolvConf(text: string): CniDns {
  const dns: CniDns = {};
  for (const line of text.split('\n')) {
    const [key, ...values] = line.trim().split(/\s+/);
    if (key === 'nameserver' && values[0]) (dns.nameservers ??= []).push(values[0]);
    else if (key === 'domain' && values[0]) dns.domain = values[0];
    else if (key === 'search') dns.search = values;
    else if (key === 'options') (dns.options ??= []).push(...values);
  }
  return dns;
}

/**
 * The plugin's store is not `durable` (no fsync of reservations or the directory): a pod's address
 * only matters while its namespace exists, and a power loss or kernel crash, the only thing fsync
 * guards against, takes every pod with it. A plugin killed mid-write is still safe (the temp file +
 * link/rename stay). host-local, whose layout this is, does not fsync either; on this ext4 VM the two
 * fsyncs cost ADD and DEL 2–40 ms each, depending on what else is writing.
 */
/**
 * Stores and allocators kept between calls, per directory (and ranges): a warm server (server.ts)
 * then keeps the store's index and the allocator's bitmap in memory, and a call only checks them
 * against the directory under the lock (FileStore re-reads what another writer changed) instead of
 * building both again. A plugin process makes each once.
 */
const kept = new Map<string, { store: FileStore; ipams: Map<string, LocalIpam> }>();

/** Every kept store's descriptors closed and the stores forgotten (kept.ts): the next call builds them again. */
async function releaseStores(): Promise<void> {
  const stores = [...kept.values()].map((k) => k.store);
  kept.clear();
  await Promise.all(stores.map((s) => s.close()));
}

function keptStore(conf: NetbootIpamConf, network: string): { store: FileStore; ipams: Map<string, LocalIpam> } {
  const key = `${conf.dataDir}\0${network}`;
  let k = kept.get(key);
  if (k === undefined) {
    // keepOpen: a warm server holds the lock file and the cursor open instead of opening them per call.
    k = { store: new FileStore(conf.dataDir, network, { durable: false, keepOpen: true }), ipams: new Map() };
    kept.set(key, k);
    onRelease(releaseStores);
  }
  return k;
}

const store = (conf: NetbootIpamConf, network: string) => keptStore(conf, network).store;

function keptIpam(conf: NetbootIpamConf, network: string, ranges: NonNullable<NetbootIpamConf['ranges']>): LocalIpam {
  const k = keptStore(conf, network);
  const key = JSON.stringify(ranges);
  let ipam = k.ipams.get(key);
  if (ipam === undefined) {
    ipam = new LocalIpam(k.store, ranges);
    k.ipams.set(key, ipam);
  }
  return ipam;
}

export function netbootIpam(conf: NetbootIpamConf): IpamPlugin {
  let opened: { ipam: PodIpam; mtu: number | undefined } | undefined;
  // Opened on first use, so DEL can fall back to the store alone when the lease is gone (withoutLease).
  const open = (req: CniRequest) => {
    if (opened) return opened;
    const lease = conf.ranges === undefined ? readLease(conf.leaseFile) : undefined;
    const ranges = conf.ranges ?? lease!.subnets.map((subnet) => [{ subnet }]);
    let ipam: PodIpam;
    try {
      ipam = keptIpam(conf, req.conf.name, ranges);
    } catch (err) {
      const source = conf.ranges === undefined ? `node lease ${conf.leaseFile}` : 'ipam.ranges';
      throw new CniError(CniCode.InvalidConfig, `${source}: ${(err as Error).message}`, { cause: err });
    }
    opened = { ipam, mtu: lease?.mtu };
    return opened;
  };
  const attachment = (req: CniRequest) => ({ containerId: req.env.containerId, ifname: req.env.ifname });
  /**
   * DEL must succeed even when the lease file is gone (the agent stopped, the node is being drained):
   * reading by attachment (DEL's masquerade step) needs only the store, so without a lease the store
   * is used directly.
   */
  const withoutLease = async <T>(req: CniRequest, viaIpam: (ipam: PodIpam) => Promise<T>, viaStore: (store: FileStore) => T): Promise<T> => {
    try {
      return await viaIpam(open(req).ipam);
    } catch (err) {
      if (!(err instanceof CniError && err.code === CniCode.TryAgainLater && conf.ranges === undefined)) throw err;
      const fileStore = store(conf, req.conf.name);
      return fileStore.withLock(() => viaStore(fileStore));
    }
  };
  const held = (req: CniRequest) =>
    withoutLease(
      req,
      async (ipam) => (await ipam.reservations()).filter((r) => r.containerId === req.env.containerId && r.ifname === req.env.ifname).map((r) => r.ip),
      (store) => store.getById(attachment(req)),
    );

  return {
    mtu: (req) => open(req).mtu,
    async add(req): Promise<CniResult> {
      const ips = requestedIps(req.env.args);
      const { ipam } = open(req);
      const addresses = await ipam.allocate(attachment(req), ips.length > 0 ? { ips } : {});
      const dns = conf.resolvConf === undefined ? {} : parseResolvConf(readFileSync(conf.resolvConf, 'utf8'));
      return { ips: addresses.map((a) => ({ address: `${a.ip}/${a.prefixLen}`, gateway: a.gateway })), routes: conf.routes, dns };
    },
    async del(req) {
      // Releasing by attachment needs only the store: no lease, no ranges, no allocator state to build.
      // The kept store has read the directory (here or in an earlier call) and keeps that index while
      // the directory is unchanged.
      const fileStore = store(conf, req.conf.name);
      await fileStore.withLock(() => fileStore.releaseById(attachment(req)));
    },
    held,
    async check(req, prev) {
      const have = new Set(await held(req));
      const want = prev.ips.map((ip) => ip.address.split('/')[0]!);
      const problems = want
        .filter((ip) => !have.has(ip))
        .map((ip) => `address ${ip} is not reserved for ${req.env.containerId}/${req.env.ifname} in ${conf.dataDir}/${req.conf.name}`);
      for (const ip of have) if (!want.includes(ip)) problems.push(`${req.env.containerId}/${req.env.ifname} also holds ${ip}, which prevResult does not list`);
      return problems;
    },
    async status(req) {
      try {
        const { pools } = await open(req).ipam.usage();
        const full = pools.filter((p) => p.free === 0).map((p) => p.cidr);
        if (full.length > 0)
          throw new CniError(CniCode.NotAvailable, `no free address left in ${full.join(', ')}: pods must be deleted before new ones can start`);
      } catch (err) {
        if (err instanceof CniError && err.code === CniCode.NotAvailable) throw err;
        throw new CniError(CniCode.NotAvailable, `netboot IPAM is not usable: ${(err as Error).message}`, { cause: err });
      }
    },
    async gc(req) {
      await open(req).ipam.gc(req.conf.validAttachments ?? []);
    },
  };
}
