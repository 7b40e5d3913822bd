// The errors @netboot/routes throws or reports. Each is a NetbootError with a `kind` (see
// @netboot/core/errors), so the agent and the CLI classify them without knowing the classes.
import { InvalidInputError, NetbootError } from '@netboot/core/errors';

/** A peer (or the local node) whose record cannot be routed as given: a bad IP, CIDR or MAC, a duplicate. */
export class InvalidPeerError extends InvalidInputError {
  readonly peer: string;
  constructor(peer: string, why: string) {
    super(`peer ${JSON.stringify(peer)}: ${why}`);
    this.peer = peer;
  }
}

/**
 * host-gw can only route to a node on a directly connected subnet (it sends pod traffic to the
 * peer's node IP as the next hop); the message names the peer and says which mode can reach it.
 */
export class UnreachablePeerError extends NetbootError {
  readonly kind = 'invalid' as const;
  readonly peer: string;
  readonly nodeIP: string;
  constructor(peer: string, nodeIP: string, connected: readonly string[]) {
    super(
      `peer ${JSON.stringify(peer)}: node IP ${nodeIP} is not on a directly connected subnet ` +
        `(${connected.length ? connected.join(', ') : 'none'}); host-gw needs the peers on one L2 segment — ` +
        `use mode 'cross-subnet' (host-gw where possible, VXLAN elsewhere) or 'vxlan'`,
    );
    this.peer = peer;
    this.nodeIP = nodeIP;
  }
}

/** The routing mode cannot run on this kernel (e.g. it has no IP-in-IP); nothing was changed. */
export class ModeUnavailableError extends NetbootError {
  readonly kind = 'invalid' as const;
  readonly mode: string;
  constructor(mode: string, why: string, options?: ErrorOptions) {
    super(`routing mode ${JSON.stringify(mode)} is not available: ${why}`, options);
    this.mode = mode;
  }
}

/** Network.run called while the same Network is already running. */
export class AlreadyRunningError extends NetbootError {
  readonly kind = 'conflict' as const;
}
