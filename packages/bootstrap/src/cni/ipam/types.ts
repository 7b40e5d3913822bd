// What the plugin asks of IPAM, whether netboot's own (node-local files) or a delegated plugin.
import type { CniRequest } from '../skel.js';
import type { CniResult } from '../result.js';

export interface IpamPlugin {
  /** ADD: reserve (or get back) the attachment's addresses. */
  add(req: CniRequest): Promise<CniResult>;
  /** The pod MTU the node lease sets (undefined: none), known before ADD reserves anything. */
  mtu(req: CniRequest): number | undefined;
  /** DEL: release them; nothing reserved is not an error. */
  del(req: CniRequest): Promise<void>;
  /** CHECK: what differs between the reservation and prevResult (empty: nothing). */
  check(req: CniRequest, prev: CniResult): Promise<string[]>;
  /** The addresses the attachment holds now (for DEL's cleanup when there is no prevResult). */
  held(req: CniRequest): Promise<string[]>;
  /** STATUS: throws error 50 with the reason when an ADD could not succeed. */
  status(req: CniRequest): Promise<void>;
  /** GC: release every reservation of this network not in the valid list. */
  gc(req: CniRequest): Promise<void>;
}
