// Picks the IPAM for a config: netboot's own, or the named plugin from CNI_PATH. Each is loaded only
// when used: the delegate needs child_process (~3 ms to load), netboot's own needs the file store.
import type { NetbootIpamConf, NetConf } from '../config.js';
import { lazy } from '../lazy.js';
import type { IpamPlugin } from './types.js';

const netboot = lazy(() => import('./netboot.js'));
const delegate = lazy(() => import('./delegate.js'));

export async function ipamFor(conf: NetConf): Promise<IpamPlugin> {
  if (conf.ipam.type === 'netboot') return (await netboot()).netbootIpam(conf.ipam as NetbootIpamConf);
  return (await delegate()).delegatedIpam(conf.ipam.type);
}
