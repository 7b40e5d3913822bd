// One rtnetlink socket in one namespace, with the object APIs on top of it. Open one Rtnl per
// namespace you manage and keep it: the socket stays bound to the namespace it was created in, so
// later calls need no namespace switching at all.
import { NetlinkSocket, type OpenOptions, type Transport } from './netlink/socket.js';
import { SyscallError } from './base/errno.js';
import { NotANetnsError, netnsPath, withNetnsFd, type NetnsRef } from './netns.js';
import { AddrApi } from './addr.js';
import { LinkApi } from './link.js';
import { NeighApi } from './neigh.js';
import { NexthopApi } from './nexthop.js';
import { RouteApi } from './route.js';

export interface RtnlOpenOptions extends Omit<OpenOptions, 'netnsFd'> {
  /** Namespace to open the socket in (name under /run/netns, a path, or a Netns); default: the caller's. */
  netns?: NetnsRef;
}

/**
 * A NetlinkSocket in `opts.netns` (default: the caller's namespace): the namespace is opened only
 * while the socket is created (NetnsNotFoundError if it is not there, NotANetnsError if the path is
 * some other file). The caller closes the socket.
 */
export function openSocket(opts: RtnlOpenOptions = {}): NetlinkSocket {
  const { netns, ...rest } = opts;
  if (netns === undefined) return NetlinkSocket.open(rest);
  try {
    return withNetnsFd(netns, (netnsFd) => NetlinkSocket.open({ ...rest, netnsFd }));
  } catch (err) {
    // setns refuses an fd that is not a network namespace, as runIn finds too.
    if (err instanceof SyscallError && err.call === 'setns' && err.code === 'EINVAL') throw new NotANetnsError(netnsPath(netns));
    throw err;
  }
}

/**
 * The object APIs over one transport: a NetlinkSocket (`Rtnl.open`), or anything else that
 * speaks `Transport`, such as a test's RequestRecorder (`new Rtnl(recorder)`), so code written against
 * an Rtnl is tested without a kernel.
 */
export class Rtnl<T extends Transport & { close?(): void } = NetlinkSocket> implements Disposable {
  readonly socket: T;
  /** `ip link …` */
  readonly link: LinkApi;
  /** `ip addr …` */
  readonly addr: AddrApi;
  /** `ip route …` */
  readonly route: RouteApi;
  /** `ip neigh …` and `bridge fdb …` */
  readonly neigh: NeighApi;
  /** `ip nexthop …` */
  readonly nexthop: NexthopApi;

  /** Opens a socket in `opts.netns` (default: the caller's namespace). `using rtnl = Rtnl.open(…)` closes it. */
  static open(opts: RtnlOpenOptions = {}): Rtnl {
    return new Rtnl(openSocket(opts));
  }

  /** Wraps a socket (or other transport) the caller opened; close() then closes it, if it can be. */
  constructor(socket: T) {
    this.socket = socket;
    this.link = new LinkApi(socket);
    this.addr = new AddrApi(socket);
    this.route = new RouteApi(socket);
    this.neigh = new NeighApi(socket);
    this.nexthop = new NexthopApi(socket);
  }

  close(): void {
    this.socket.close?.();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
