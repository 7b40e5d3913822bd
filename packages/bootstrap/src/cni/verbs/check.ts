// CHECK: compares the container's interface, addresses, routes and MTU, the host side, and the IPAM
// reservation with prevResult; every mismatch is named in one error (100).
import type { Link, Rtnl } from '@netboot/core';
import { parsePrefix } from '@netboot/core/ip';
import { CniCode, CniError, configError } from '../errors.js';
import { ipamFor } from '../ipam/index.js';
import { hostRtnl, openPodNetns } from '../pod-netns.js';
import type { CniResult } from '../result.js';
import type { CniRequest, Reply } from '../skel.js';
import { hostVethName } from '../wiring.js';

function checkContainer(pod: Rtnl, ifname: string, prev: CniResult, problems: string[]): Link | undefined {
  const link = pod.link.find(ifname);
  if (link === undefined) {
    problems.push(`interface ${ifname} is missing in the container`);
    return undefined;
  }
  const want = prev.interfaces?.find((i) => i.name === ifname && i.sandbox !== undefined);
  if (want?.mac !== undefined && want.mac !== link.address) problems.push(`${ifname} has MAC ${link.address}, prevResult says ${want.mac}`);
  if (want?.mtu !== undefined && want.mtu !== link.mtu) problems.push(`${ifname} has MTU ${link.mtu}, prevResult says ${want.mtu}`);
  if (!link.up) problems.push(`${ifname} is down`);
  const have = new Set(pod.addr.list({ dev: link.index }).map((a) => a.cidr));
  for (const ip of prev.ips) {
    const p = parsePrefix(ip.address);
    if (!have.has(`${p.address}/${p.prefixLen}`)) problems.push(`address ${ip.address} is missing on ${ifname}`);
  }
  for (const r of prev.routes) {
    const family = parsePrefix(r.dst).family;
    const found = pod.route
      .list({ dst: r.dst, family })
      .some((k) => (r.gw === undefined || k.gateway === r.gw) && (k.dev === undefined || k.dev === link.index));
    if (!found) problems.push(`route ${r.dst}${r.gw ? ` via ${r.gw}` : ''} is missing in the container`);
  }
  return link;
}

/** The bridge and the host end; its MTU must be the container end's (a mismatch drops large frames). */
function checkHost(host: Rtnl, bridgeName: string, hostName: string, container: Link | undefined, problems: string[]): void {
  const bridge = host.link.find(bridgeName);
  if (bridge === undefined) {
    problems.push(`bridge ${bridgeName} is missing`);
    return;
  }
  const veth = host.link.find(hostName);
  if (veth === undefined) problems.push(`host interface ${hostName} is missing`);
  else if (veth.master !== bridge.index) problems.push(`host interface ${hostName} is not attached to ${bridgeName}`);
  else if (!veth.up) problems.push(`host interface ${hostName} is down`);
  else if (container !== undefined && container.mtu !== veth.mtu)
    problems.push(`host interface ${hostName} has MTU ${veth.mtu}, the container's ${container.name} ${container.mtu}`);
}

export async function check(req: CniRequest): Promise<Reply> {
  const { env, conf } = req;
  const prev = conf.prevResult;
  if (prev === undefined) throw configError('prevResult', 'is required for CHECK (the result of the ADD being checked)');
  const problems: string[] = [];
  let container: Link | undefined;
  {
    using pod = openPodNetns(env.netns!);
    container = checkContainer(pod, env.ifname, prev, problems);
  }
  {
    const host = hostRtnl();
    checkHost(host, conf.bridge, hostVethName(conf.name, env), container, problems);
  }
  problems.push(...(await (await ipamFor(conf)).check(req, prev)));
  if (problems.length > 0) throw new CniError(CniCode.CheckFailed, `CHECK of ${env.containerId}/${env.ifname} failed: ${problems.join('; ')}`);
  return undefined;
}
