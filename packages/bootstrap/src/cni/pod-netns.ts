// Sockets in the pod's namespace (CNI_NETNS) and the host's (the plugin's own).
import { Rtnl } from '@netboot/core';
import { CniCode, CniError } from './errors.js';

/**
 * An Rtnl whose socket lives in CNI_NETNS; error 3 (unknown container) when the path is not there or
 * not a network namespace. Only the socket's creation switches namespace.
 */
export function openPodNetns(netns: string): Rtnl {
  try {
    return Rtnl.open({ netns });
  } catch (err) {
    throw new CniError(CniCode.UnknownContainer, `cannot open CNI_NETNS ${netns}: ${(err as Error).message}`, { cause: err });
  }
}
