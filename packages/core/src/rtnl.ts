// One rtnetlink socket in one namespace, with the four object APIs on top of it. Open one Rtnl per
// namespace you manage and keep it: the socket stays bound to the namespace it was created in, so
// later calls need no namespace switching at all.
import { NetlinkSocket, type OpenOptions } from './netlink/socket.js';
import { SyscallError } from './base/errno.js';
import { NotANetnsError, netnsPath, withNetnsFd, type NetnsRef } from './netns.js';
import { AddrApi } from './addr.js';
import { LinkApi } from './link.js';
import { NeighApi } from './neigh.js';
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

export class Rtnl implements Disposable {
  readonly socket: NetlinkSocket;
  /** `ip link …` */
  readonly link: LinkApi;
  /** `ip addr …` */
  readonly addr: AddrApi;
  /** `ip route …` */
  readonly route: RouteApi;
  /** `ip neigh …` and `bridge fdb …` */
  readonly neigh: NeighApi;

  /** Opens a socket in `opts.netns` (default: the caller's namespace). `using rtnl = Rtnl.open(…)` closes it. */
  static open(opts: RtnlOpenOptions = {}): Rtnl {
    return new Rtnl(openSocket(opts));
  }

  /** Wraps a socket the caller opened; close() then closes that socket. */
  constructor(socket: NetlinkSocket) {
    this.socket = socket;
    this.link = new LinkApi(socket);
    this.addr = new AddrApi(socket);
    this.route = new RouteApi(socket);
    this.neigh = new NeighApi(socket);
  }

  close(): void {
    this.socket.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
