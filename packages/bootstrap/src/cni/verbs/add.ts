// ADD: reserve the IP, ensure the bridge, create the veth with its container end straight in
// CNI_NETNS, configure the container through a socket opened there, answer in the config's cniVersion.
// Every step that changes something pushes its undo, so a failed ADD leaves nothing behind.
import type { Rtnl } from '@netboot/core';
import { withCleanup } from '../cleanup.js';
import { CniCode, CniError } from '../errors.js';
import { ipamFor } from '../ipam/index.js';
import { NodeWatch } from '../node-watch.js';
import { checkPodNetns, hostRtnl, openPodNetns } from '../pod-netns.js';
import { type CniIp, type CniResult, formatResult } from '../result.js';
import type { CniRequest, Reply } from '../skel.js';
import { loadMasquerade } from '../load.js';
import {
  configureContainer,
  hostVethName,
  InterfaceTakenError,
  keptBridge,
  keptGateways,
  podRoutes,
  startVeth,
  uplink,
  type Veth,
  vethStep,
} from '../wiring.js';

const IPAM_UNDO = 'IPAM reservation';

export async function add(req: CniRequest): Promise<Reply> {
  const netns = req.env.netns!;
  // Error 3 before the node is touched; the pod's socket itself is opened while the kernel makes the veth.
  checkPodNetns(netns);
  let opened: Rtnl | undefined;
  const pod = () => (opened ??= openPodNetns(netns));
  try {
    return await addIn(req, netns, pod);
  } finally {
    // Only now: a failed ADD's unwinding may still ask the pod (startVeth's undo).
    opened?.close();
  }
}

async function addIn(req: CniRequest, netns: string, pod: () => Rtnl): Promise<Reply> {
  const { env, conf, log } = req;
  const host = hostRtnl();
  // A warm server's facts about the node (bridge, uplink), kept between calls; undefined in a plugin process.
  const facts = NodeWatch.current(host);
  const ipam = await ipamFor(conf);
  const result = await withCleanup(log, async (stack): Promise<CniResult> => {
    const mtu = conf.mtu ?? ipam.mtu(req) ?? (facts === undefined ? uplink(host) : (facts.uplink ??= uplink(host))).mtu;
    const bridge = keptBridge(host, conf, mtu, facts);
    const hostName = hostVethName(conf.name, env);
    // The kernel makes the pair while this thread opens the pod's socket (a namespace switch) and
    // IPAM reserves the address (file work): none of the three needs another.
    const veth = startVeth(host, pod, { hostName, ifname: env.ifname, netns, mtu, bridge, hairpin: conf.hairpinMode }, stack);
    pod();
    const reserved = await ipam.add(req);
    // Released after the veth is gone (the pair was started first): the pod must lose the address
    // before another ADD can be given it.
    stack.pushUnder(vethStep(hostName), IPAM_UNDO, () => ipam.del(req));
    const ips = reserved.ips;
    if (ips.length === 0) throw new CniError(CniCode.InvalidConfig, `IPAM plugin ${conf.ipam.type} returned no address`);
    let ends: Veth;
    try {
      ends = veth();
    } catch (err) {
      // A repeated ADD for a running pod: IPAM handed back the address the pod holds, which is not
      // this call's to release.
      if (err instanceof InterfaceTakenError && holdsAny(pod(), err.index, ips)) stack.drop(IPAM_UNDO);
      throw err;
    }
    keptGateways(host, conf, bridge, ips, facts);
    const routes = podRoutes(conf, ips, reserved.routes);
    configureContainer(pod(), ends.container.index, ips, routes);
    if (conf.ipMasq) await (await loadMasquerade()).masqueradeFor(conf).add(env, ips, stack);
    const dns = Object.keys(conf.dns).length > 0 ? conf.dns : reserved.dns;
    // A bridge takes a port's MAC when its first port joins (unless its MAC was set): read again,
    // unless the server's watch has seen no event of the bridge since it was kept.
    const bridgeMac =
      (facts === undefined ? undefined : NodeWatch.current(host)?.bridges.get(conf.bridge)?.link.address) ?? host.link.get(bridge.index).address;
    return {
      interfaces: [
        { name: bridge.name, mac: bridgeMac },
        { name: ends.host.name, mac: ends.host.address },
        { name: env.ifname, mac: ends.container.address, mtu, sandbox: netns },
      ],
      ips: ips.map((ip) => ({ ...ip, interface: 2 })),
      routes,
      dns,
    };
  });
  log.info(`added ${result.ips.map((ip) => ip.address).join(', ')}`);
  return formatResult(result, conf.cniVersion);
}

/** Whether the pod's interface `index` carries one of `ips`. */
function holdsAny(pod: Rtnl, index: number, ips: readonly CniIp[]): boolean {
  const held = new Set(pod.addr.list({ dev: index }).map((a) => a.address));
  return ips.some((ip) => held.has(ip.address.split('/')[0]!));
}
