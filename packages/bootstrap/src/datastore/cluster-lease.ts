// A node's lease from @netboot/ipam's ClusterIpam, on whatever KvStore holds it (etcd, or a ConfigMap
// under the Kubernetes datastore): one block per family from an enabled pool (claimed when the node has
// none there: after its pool was disabled, from the next one), then the blocks it still holds elsewhere
// — in a disabled pool, kept until the pool is deleted — which are `disabled`.
import { ClusterIpam, type IpPoolSpec, type KvStore, PoolExistsError } from '@netboot/ipam';
import type { NodeLease } from './types.js';

/** Set once the configured pools were created, so a pool an operator deleted is not created again by a restart. */
const POOLS_CREATED = '/netboot/pools-created';

export async function claimLease(kv: KvStore, node: string, pools: readonly IpPoolSpec[]): Promise<NodeLease> {
  const ipam = new ClusterIpam(kv);
  if (pools.length > 0 && (await kv.get(POOLS_CREATED)) === undefined) {
    const have = new Set((await ipam.listPools()).map((p) => p.name));
    for (const spec of pools) {
      if (have.has(spec.name)) continue;
      await ipam.createPool(spec).catch((e: unknown) => {
        if (!(e instanceof PoolExistsError)) throw e; // another agent created it first
      });
    }
    await kv.commit([{ op: 'put', key: POOLS_CREATED, value: new Date().toISOString() }]);
  }
  const all = await ipam.listPools();
  const families = new Set(all.filter((p) => !p.disabled).map((p) => (p.cidr.includes(':') ? 6 : 4)));
  const open: string[] = [];
  for (const family of [...families].sort()) open.push((await ipam.claimBlock(node, { family })).cidr);
  const held = (await ipam.listBlocks({ node })).map((b) => b.cidr).filter((c) => !open.includes(c));
  return { podCIDRs: [...open, ...held], disabled: held, pools: all.map((p) => ({ cidr: p.cidr, disabled: p.disabled, natOutgoing: p.natOutgoing })) };
}
