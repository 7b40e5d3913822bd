// monitor() with a namespace: the protocol layer's monitor (netlink/monitor.ts) knows sockets, not
// namespace names; this resolves `netns` when iteration opens the socket.
import { monitor as watch, type MonitorEvent, type MonitorOptions } from './netlink/monitor.js';
import { netnsPath, type NetnsRef } from './netns.js';
import { openSocket } from './rtnl.js';

export type { MonitorEvent, MonitorGroup } from './netlink/monitor.js';
export { RawEvent } from './netlink/monitor.js';

export interface NetnsMonitorOptions extends Omit<MonitorOptions, 'open'> {
  /** Namespace to watch (name under /run/netns, a path, or a Netns); default: the caller's. */
  netns?: NetnsRef;
}

/**
 * Streams link/address/route/neighbour changes in `opts.netns`, like `ip -n <ns> monitor link
 * address route neigh`. A bad name is refused here; a namespace that is not there is reported
 * (NetnsNotFoundError) by the first `next()`, which is when the socket opens.
 */
export function monitor(opts: NetnsMonitorOptions): AsyncIterable<MonitorEvent> {
  const { netns, ...rest } = opts;
  if (netns === undefined) return watch(rest);
  netnsPath(netns); // validates a name now, not at the first next()
  return watch({ ...rest, open: (socketOpts) => openSocket({ ...socketOpts, netns }) });
}
