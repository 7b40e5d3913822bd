// DEL: best effort and idempotent. Succeeds when the netns, the link or the reservation is already
// gone, when called twice, without CNI_NETNS, with or without prevResult. Releases the IP last, so the
// address cannot go to a new pod while this one's link or masquerade element still exists.
import { ipamFor } from '../ipam/index.js';
import { hostRtnl } from '../pod-netns.js';
import type { CniRequest, Reply } from '../skel.js';
import { loadMasquerade } from '../load.js';
import { deleteLink, hostVethName } from '../wiring.js';

export async function del(req: CniRequest): Promise<Reply> {
  const { env, conf, log } = req;
  const ipam = await ipamFor(conf);
  if (conf.ipMasq) {
    const ips = conf.prevResult?.ips.map((ip) => ip.address.split('/')[0]!) ?? (await ipam.held(req));
    await (await loadMasquerade()).masqueradeFor(conf).del(env, ips);
  }
  // Deleting the host end takes the container end with it, wherever the namespace is (or was).
  const name = hostVethName(conf.name, env);
  if (deleteLink(hostRtnl(), name)) log.info(`deleted ${name}`);
  await ipam.del(req);
  return undefined;
}
