// ADD: reserve the IP, ensure the bridge, create the veth with its container end straight in
// CNI_NETNS, configure the container through a socket opened there, answer in the config's cniVersion.
// Every step that changes something pushes its undo, so a failed ADD leaves nothing behind.
import { withCleanup } from '../cleanup.js';
import { CniCode, CniError } from '../errors.js';
import { ipamFor } from '../ipam/index.js';
import { hostRtnl, openPodNetns } from '../pod-netns.js';
import { type CniResult, formatResult } from '../result.js';
import type { CniRequest, Reply } from '../skel.js';
import { loadMasquerade } from '../load.js';
import { addVeth, configureContainer, ensureBridge, hostVethName, podRoutes, uplinkMtu } from '../wiring.js';

export async function add(req: CniRequest): Promise<Reply> {
  const { env, conf, log } = req;
  const netns = env.netns!;
  using pod = openPodNetns(netns);
  // Checked before anything is reserved: a repeated ADD for a running pod must not touch its address.
  if (pod.link.find(env.ifname) !== undefined) {
    throw new CniError(CniCode.Conflict, `interface ${env.ifname} already exists in ${netns}: DEL the attachment first, or use another CNI_IFNAME`);
  }
  const host = hostRtnl();
  const ipam = await ipamFor(conf);
  const result = await withCleanup(log, async (stack): Promise<CniResult> => {
    const reserved = await ipam.add(req);
    stack.push('IPAM reservation', () => ipam.del(req));
    const ips = reserved.result.ips;
    if (ips.length === 0) throw new CniError(CniCode.InvalidConfig, `IPAM plugin ${conf.ipam.type} returned no address`);
    const mtu = conf.mtu ?? reserved.mtu ?? uplinkMtu(host);
    const bridge = ensureBridge(host, conf, ips, mtu);
    const hostName = hostVethName(conf.name, env);
    const veth = addVeth(host, pod, { hostName, ifname: env.ifname, netns, mtu, bridge, hairpin: conf.hairpinMode }, stack);
    const routes = podRoutes(conf, ips, reserved.result.routes);
    configureContainer(pod, veth.container.index, ips, routes);
    if (conf.ipMasq) await (await loadMasquerade()).masqueradeFor(conf).add(env, ips, stack);
    const dns = Object.keys(conf.dns).length > 0 ? conf.dns : reserved.result.dns;
    return {
      interfaces: [
        // Read again: a bridge takes a port's MAC when its first port joins.
        { name: bridge.name, mac: host.link.get(bridge.index).address },
        { name: veth.host.name, mac: veth.host.address },
        { name: env.ifname, mac: veth.container.address, mtu, sandbox: netns },
      ],
      ips: ips.map((ip) => ({ ...ip, interface: 2 })),
      routes,
      dns,
    };
  });
  log.info(`added ${result.ips.map((ip) => ip.address).join(', ')}`);
  return formatResult(result, conf.cniVersion);
}
