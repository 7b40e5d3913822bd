// The node IP when none is configured: the addresses of the device the default route leaves through
// (`ip -j route show default`, then `ip -j addr show dev DEV scope global`), IPv4 first — what
// flanneld's `--iface` default and kubelet's node IP detection pick.
import type { Rtnl } from '@netboot/core';
import { InvalidInputError } from '@netboot/core/errors';

/** No default route, or no global address on its device: the node IP must be given. */
class NodeIpNotFoundError extends InvalidInputError {}

export function detectNodeIPs(rtnl: Rtnl): string[] {
  const ips: string[] = [];
  for (const family of [4, 6] as const) {
    const route = rtnl.route.list({ dst: 'default', family }).find((r) => r.dev !== undefined || r.nexthops?.[0]?.dev !== undefined);
    const dev = route?.dev ?? route?.nexthops?.[0]?.dev;
    if (dev === undefined) continue;
    const addr = rtnl.addr.list({ dev, family }).find((a) => a.scope === 'global');
    if (addr !== undefined) ips.push(addr.address);
  }
  if (ips.length === 0) throw new NodeIpNotFoundError('cannot detect the node IP: no default route with a global address on its device; give --node-ip');
  return ips;
}
