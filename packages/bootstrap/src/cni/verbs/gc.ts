// GC (spec 1.1): releases every reservation of this network whose attachment is not in
// `cni.dev/valid-attachments`, and removes their leftover host-side links and masquerade elements.
// Carries on past a failing step and reports the first failure at the end, as the spec asks.
import { ipamFor } from '../ipam/index.js';
import { hostRtnl } from '../pod-netns.js';
import type { CniRequest, Reply } from '../skel.js';
import { loadMasquerade } from '../load.js';
import { deleteLink, HOST_VETH_PREFIX, hostVethName } from '../wiring.js';

export async function gc(req: CniRequest): Promise<Reply> {
  const { conf, log } = req;
  const valid = conf.validAttachments ?? [];
  const failures: unknown[] = [];
  const attempt = async (what: string, fn: () => unknown) => {
    try {
      await fn();
    } catch (err) {
      log.info(`GC: ${what} failed: ${(err as Error).message}`);
      failures.push(err);
    }
  };
  await attempt('removing stale links', () => {
    const host = hostRtnl();
    if (host.link.find(conf.bridge) === undefined) return;
    const live = new Set(valid.map((a) => hostVethName(conf.name, a)));
    for (const link of host.link.list({ master: conf.bridge })) {
      if (link.name.startsWith(HOST_VETH_PREFIX) && !live.has(link.name) && deleteLink(host, link.name)) log.info(`GC: deleted ${link.name}`);
    }
  });
  if (conf.ipMasq) await attempt('removing stale masquerade elements', async () => (await loadMasquerade()).masqueradeFor(conf).gc(valid));
  await attempt('releasing stale reservations', async () => (await ipamFor(conf)).gc(req));
  if (failures.length > 0) throw failures[0];
  return undefined;
}
