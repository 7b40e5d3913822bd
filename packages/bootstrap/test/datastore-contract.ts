// The Datastore contract: what the agent relies on from every datastore (file, etcd, Kubernetes API),
// as one suite run against each (datastore-*.test.ts). A fixture also acts as "the outside world":
// an operator or another component adding or removing a node, with that datastore's own tools.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Cidr } from '@netboot/ipam';
import type { Datastore, NodeLease, NodeRecord, PeerEvent } from '../src/datastore/index.js';

export interface DatastoreFixture {
  /** A datastore as node `node`'s agent opens it. */
  open(node: string): Promise<Datastore>;
  /** What must exist before `node`'s agent starts (a Node object, a file entry); nothing for etcd. */
  addNode(node: string): Promise<void>;
  /** Removes `node`'s record from the outside (`kubectl delete node`, `etcdctl del`, editing the file). */
  removeNode(node: string): Promise<void>;
  /**
   * Gives `node` another subnet from the outside: its file entry edited, its pool disabled beside a new
   * one (etcd), its Node re-created (Kubernetes assigns spec.podCIDRs once per Node). Runs last: it may
   * change what other nodes get.
   */
  moveNode(node: string): Promise<void>;
  /** Every pod subnet lies in this CIDR. */
  clusterCIDR: string;
  close(): Promise<void>;
}

/** A watch folded into the peer map a consumer would keep, with a way to wait for a condition. */
export class PeerView {
  readonly peers = new Map<string, NodeRecord>();
  readonly events: PeerEvent[] = [];
  readonly #stop = new AbortController();
  readonly #done: Promise<void>;

  constructor(ds: Datastore) {
    this.#done = (async () => {
      for await (const e of ds.watch(this.#stop.signal)) {
        this.events.push(e);
        if (e.type === 'sync') {
          this.peers.clear();
          for (const p of e.peers) this.peers.set(p.name, p);
        } else if (e.type === 'upsert') this.peers.set(e.peer.name, e.peer);
        else if (e.type === 'remove') this.peers.delete(e.name);
      }
    })();
  }

  /** Resolves once `check()` holds; fails after `ms` saying what was seen. */
  async until(what: string, check: () => boolean, ms = 30_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!check()) {
      if (Date.now() > deadline) assert.unreachable(`${what}: not seen within ${ms} ms; events: ${JSON.stringify(this.events).slice(-1500)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#done;
  }
}

/** The leases a datastore hands its node's agent (`leases()` read on), with a way to wait for the latest to change. */
export class LeaseView {
  readonly seen: NodeLease[] = [];
  readonly #stop = new AbortController();
  readonly #done: Promise<void>;

  /** `ms`: how long `until` waits. */
  constructor(
    ds: Datastore,
    readonly ms = 30_000,
  ) {
    this.#done = (async () => {
      for await (const lease of ds.leases(this.#stop.signal)) this.seen.push(lease);
    })();
  }

  /** The latest lease once it satisfies `check` (any lease without one); fails saying what was seen. */
  async until(what: string, check: (l: NodeLease) => boolean = () => true): Promise<NodeLease> {
    const deadline = Date.now() + this.ms;
    while (this.seen.length === 0 || !check(this.seen.at(-1)!)) {
      if (Date.now() > deadline) assert.unreachable(`${what}: not within ${this.ms} ms; seen ${JSON.stringify(this.seen)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.seen.at(-1)!;
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#done;
  }
}

/** The datastore's first lease for its node (`leases()` read once, then stopped); fails after `ms`. */
export async function firstLease(ds: Datastore, ms = 60_000): Promise<NodeLease> {
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(new Error(`no lease within ${ms} ms`)), ms);
  try {
    for await (const lease of ds.leases(stop.signal)) return lease;
    throw stop.signal.reason ?? new Error('leases() ended without a lease');
  } finally {
    clearTimeout(timer);
    stop.abort();
  }
}

/** `cidr` lies wholly inside `outer`. */
function inside(cidr: string, outer: string): boolean {
  return Cidr.parse(outer).contains(Cidr.parse(cidr));
}

const record = (name: string, podCIDRs: string[], ip: string): NodeRecord => ({
  name,
  nodeIPs: [ip],
  podCIDRs,
  vtepMac: '0a:58:0a:00:00:01',
  mode: 'vxlan',
});

export function datastoreContract(name: string, start: () => Promise<DatastoreFixture>): void {
  const test = suite(`Datastore contract: ${name}`);
  let fx: DatastoreFixture;
  const open: Datastore[] = [];
  const views: PeerView[] = [];
  test.before(async () => {
    fx = await start();
  });
  test.after(async () => {
    await fx?.close();
  });
  test.after.each(async () => {
    for (const v of views.splice(0)) await v.stop();
    for (const d of open.splice(0)) await d.close();
  });
  const as = async (node: string) => {
    await fx.addNode(node);
    const ds = await fx.open(node);
    open.push(ds);
    return ds;
  };
  const watch = (ds: Datastore) => {
    const v = new PeerView(ds);
    views.push(v);
    return v;
  };

  test('lease: the node gets pod subnets in the cluster CIDR, the same ones again, and another node different ones', async () => {
    const a = await as('lease-a');
    const lease = await firstLease(a);
    const cidrs = lease.podCIDRs;
    assert.ok(cidrs.length > 0, 'at least one subnet');
    assert.equal(lease.disabled, [], 'none disabled');
    for (const c of cidrs) assert.ok(inside(c, fx.clusterCIDR), `${c} inside ${fx.clusterCIDR}`);
    assert.equal((await firstLease(a)).podCIDRs, cidrs, 'leasing again gives the same subnets');
    const b = await as('lease-b');
    const other = (await firstLease(b)).podCIDRs;
    assert.ok(
      other.every((c) => !cidrs.includes(c)),
      `${other} differs from ${cidrs}`,
    );
  });

  test('watch: starts with a sync; a published record arrives, an update replaces it, an outside removal removes it', async () => {
    const a = await as('watch-a');
    const b = await as('watch-b');
    const view = watch(b);
    await view.until('the first sync', () => view.events.some((e) => e.type === 'sync'));
    assert.is(view.events[0]!.type, 'sync', 'the first event is a sync');
    const cidrs = (await firstLease(a)).podCIDRs;
    await a.publish(record('watch-a', cidrs, '192.168.1.11'));
    await view.until('watch-a published', () => view.peers.get('watch-a')?.nodeIPs[0] === '192.168.1.11');
    const seen = view.peers.get('watch-a')!;
    assert.equal(seen.podCIDRs, cidrs);
    assert.is(seen.vtepMac, '0a:58:0a:00:00:01');
    assert.is(seen.mode, 'vxlan');
    assert.is(seen.health, undefined, 'a record without health stays valid');
    const health = { ready: false, reconciledAt: '2026-01-02T03:04:05.000Z', errors: 2, waitingFor: 'the first reconcile' };
    await a.publish({ ...record('watch-a', cidrs, '192.168.1.21'), health });
    await view.until('watch-a moved', () => view.peers.get('watch-a')?.nodeIPs[0] === '192.168.1.21');
    assert.equal(view.peers.get('watch-a')!.health, health, 'the health summary round-trips');
    await fx.removeNode('watch-a');
    await view.until('watch-a removed', () => !view.peers.has('watch-a'));
  });

  test('watch: a new watch syncs what was published before it started; records without an IP are never peers', async () => {
    const a = await as('late-a');
    await as('late-b'); // exists, publishes nothing: not routable yet
    const cidrs = (await firstLease(a)).podCIDRs;
    await a.publish(record('late-a', cidrs, '192.168.1.12'));
    const c = await as('late-c');
    const view = watch(c);
    await view.until('a sync holding late-a', () => {
      const s = view.events.find((e) => e.type === 'sync');
      return s?.type === 'sync' && s.peers.some((p) => p.name === 'late-a');
    });
    assert.not.ok(view.peers.has('late-b'), 'late-b has no node IP: not a peer');
  });

  test('leases: the node’s subnets changed from the outside arrive as a new lease on the same iteration', async () => {
    const a = await as('move-a');
    const stop = new AbortController();
    const seen: NodeLease[] = [];
    const reading = (async () => {
      for await (const lease of a.leases(stop.signal)) seen.push(lease);
    })();
    try {
      const deadline = (ms: number) => Date.now() + ms;
      for (const end = deadline(60_000); seen.length === 0; ) {
        if (Date.now() > end) assert.unreachable('no first lease');
        await new Promise((r) => setTimeout(r, 50));
      }
      const before = seen[0]!;
      const open = (l: NodeLease) => l.podCIDRs.filter((c) => !l.disabled.includes(c));
      /** New pods get another subnet: an open one, none of the first lease's. */
      const moved = (l: NodeLease) => open(l).length > 0 && open(l).every((c) => !open(before).includes(c));
      await fx.moveNode('move-a');
      // A move may be more than one change (etcd: a second pool, then the first one disabled), and each
      // may arrive as a lease of its own (the pools changed): wait for the one that moves the node.
      for (const end = deadline(60_000); !seen.some(moved); ) {
        if (Date.now() > end) assert.unreachable(`no lease with another open subnet than ${JSON.stringify(before)}; seen ${JSON.stringify(seen)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      stop.abort();
      await reading;
    }
  });

  test.run();
}
