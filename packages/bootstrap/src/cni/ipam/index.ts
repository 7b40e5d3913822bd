// Picks the IPAM for a config: netboot's own, or the named plugin from CNI_PATH.
import type { NetbootIpamConf, NetConf } from '../config.js';
import { delegatedIpam } from './delegate.js';
import { netbootIpam } from './netboot.js';
import type { IpamPlugin } from './types.js';

export type { IpamAdd, IpamPlugin } from './types.js';

export function ipamFor(conf: NetConf): IpamPlugin {
  return conf.ipam.type === 'netboot' ? netbootIpam(conf.ipam as NetbootIpamConf) : delegatedIpam(conf.ipam.type);
}
