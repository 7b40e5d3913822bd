// monitor(): change events from a throwaway namespace, caused by iproute2 (an independent client).
// Options refused before anything opens are checked in monitor.test.ts.
import { test as uvuTest } from 'uvu';
import * as assert from 'uvu/assert';
import type { Attrs } from '../src/netlink/codec.js';
import * as C from '../src/netlink/generated/index.js';
import { monitor, type MonitorEvent } from '../src/monitor.js';
import { NetlinkOptionsError } from '../src/netlink/errors.js';
import { InvalidNetnsNameError, NetnsNotFoundError } from '../src/netns.js';
import { openSocket } from '../src/rtnl.js';
import { ipJson, openFds, privileged, rejectsA, sh, tempNetns, throwsA } from '../src/public/testing.js';

const test = privileged(uvuTest);

/** Sockets this process holds open (to see that the monitor closes its own). */
const sockets = () => openFds((t) => t.startsWith('socket:')).length;

/** Collects events until `done` says so; fails after a few seconds instead of hanging. */
async function collect(events: AsyncIterable<MonitorEvent>, done: (seen: MonitorEvent[]) => boolean): Promise<MonitorEvent[]> {
  const seen: MonitorEvent[] = [];
  const deadline = Date.now() + 5000;
  for await (const ev of events) {
    seen.push(ev);
    if (done(seen)) return seen;
    if (Date.now() > deadline) break;
  }
  return seen;
}

/** `it` with the result of a next() already called on it in front. */
async function* prepend(first: Promise<IteratorResult<MonitorEvent>>, it: AsyncIterator<MonitorEvent>): AsyncGenerator<MonitorEvent> {
  const r = await first;
  if (r.done) return;
  yield r.value;
  for (let n = await it.next(); !n.done; n = await it.next()) yield n.value;
}

const describe = (ev: MonitorEvent): string => {
  if (ev.kind === 'overrun') return 'overrun';
  const a = ev.message.attrs;
  const what = ev.kind === 'link' ? a.IFLA_IFNAME : ev.kind === 'addr' ? a.IFA_LOCAL : ev.kind === 'route' ? a.RTA_DST : a.NDA_DST;
  return `${ev.action} ${ev.kind} ${String(what)}`;
};

test('link, address and route changes made by `ip` arrive as decoded events', async () => {
  const ns = tempNetns();
  const ac = new AbortController();
  try {
    const events = monitor({ netns: ns, groups: ['link', 'ipv4-addr', 'ipv4-route'], signal: ac.signal });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    // Change things only once the monitor is idle-polling, so the event loop has had to keep running.
    setTimeout(() => {
      sh(ns, 'ip', 'link', 'add', 'vA', 'type', 'veth', 'peer', 'name', 'vB');
      sh(ns, 'ip', 'link', 'set', 'vA', 'up');
      sh(ns, 'ip', 'addr', 'add', '10.5.0.1/24', 'dev', 'vA');
      sh(ns, 'ip', 'route', 'add', '10.6.0.0/16', 'via', '10.5.0.2', 'table', '100');
      sh(ns, 'ip', 'link', 'del', 'vB');
    }, 50);
    const seen = await collect(events, (s) => s.some((e) => e.kind === 'link' && e.action === 'del' && e.message.attrs.IFLA_IFNAME === 'vA'));
    clearInterval(timer);
    const names = ipJson(ns, 'link', 'show').map((l: { ifname: string }) => l.ifname);
    assert.equal(names, ['lo'], 'deleting vB took vA with it');
    const lines = seen.map(describe);
    for (const want of ['new link vA', 'new link vB', 'new addr 10.5.0.1', 'new route 10.6.0.0', 'del link vA']) {
      assert.ok(lines.includes(want), `saw "${want}" among: ${lines.join(', ')}`);
    }
    const route = seen.find((e) => e.kind === 'route' && e.action === 'new' && e.message.attrs.RTA_DST === '10.6.0.0');
    assert.ok(route && route.kind === 'route');
    assert.is((route.message.attrs as Attrs).RTA_GATEWAY, '10.5.0.2');
    assert.is(route.message.attrs.RTA_TABLE, 100);
    assert.ok(ticks > 0, 'the event loop kept running while the monitor waited');
  } finally {
    ac.abort();
    ns.delete();
  }
});

test('accept: only the events it passes are decoded and yielded; it reads their headers and attributes raw', async () => {
  const ns = tempNetns();
  const ac = new AbortController();
  try {
    const judged: string[] = [];
    const events = monitor({
      netns: ns,
      groups: ['link', 'ipv4-route'],
      signal: ac.signal,
      accept: (e) => {
        if (e.kind === 'route') {
          const dst = e.attr(12, C.RTA_DST);
          judged.push(
            `route table ${e.table} protocol ${e.protocol} family ${e.family} /${e.dstLen} ${dst < 0 ? '-' : [...e.buf.subarray(dst, dst + 4)].join('.')}`,
          );
          return e.table === 100;
        }
        judged.push(`link ${e.type === C.RTM_NEWLINK ? 'new' : 'del'} ${e.ifindex}`);
        return false;
      },
    });
    setTimeout(() => {
      sh(ns, 'ip', 'link', 'add', 'vA', 'up', 'type', 'veth', 'peer', 'name', 'vB');
      sh(ns, 'ip', 'addr', 'add', '10.5.0.1/24', 'dev', 'vA');
      sh(ns, 'ip', 'route', 'add', '10.7.0.0/16', 'via', '10.5.0.2', 'proto', '77');
      sh(ns, 'ip', 'route', 'add', '10.6.0.0/16', 'via', '10.5.0.2', 'table', '100', 'proto', '77');
    }, 50);
    const seen = await collect(events, (s) => s.some((e) => e.kind === 'route' && e.message.attrs.RTA_DST === '10.6.0.0'));
    const index = ipJson(ns, 'link', 'show', 'vA')[0].ifindex;
    assert.equal(seen.map(describe), ['new route 10.6.0.0'], 'only the route accept passed');
    assert.ok(judged.includes(`link new ${index}`), `judged vA's link event by its ifindex: ${judged.join(', ')}`);
    assert.ok(judged.includes('route table 254 protocol 77 family 2 /16 10.7.0.0'), judged.join(', '));
    assert.ok(judged.includes('route table 100 protocol 77 family 2 /16 10.6.0.0'), judged.join(', '));
  } finally {
    ac.abort();
    ns.delete();
  }
});

test('abort ends the iteration and closes the socket; so does break', async () => {
  const ns = tempNetns();
  try {
    const before = sockets();
    const ac = new AbortController();
    const events = monitor({ netns: ns, groups: ['link'], signal: ac.signal });
    setTimeout(() => ac.abort(), 30);
    const seen: MonitorEvent[] = [];
    for await (const ev of events) {
      seen.push(ev);
    }
    assert.is(seen.length, 0, 'nothing changed in the namespace');
    assert.is(sockets(), before, 'closed after abort');

    // The first next() opens and joins synchronously: a change made right after it is seen.
    const it = monitor({ netns: ns, groups: ['link'] })[Symbol.asyncIterator]();
    const first = it.next();
    assert.is(sockets(), before + 1, 'open once iteration started');
    sh(ns, 'ip', 'link', 'add', 'vA', 'type', 'veth', 'peer', 'name', 'vB');
    const ev = await first;
    assert.is(ev.done, false);
    assert.is((ev.value as MonitorEvent).kind, 'link');
    await it.return?.();
    assert.is(sockets(), before, 'closed after break');
  } finally {
    ns.delete();
  }
});

test("wait: 'worker': once quiet, an event is read as it comes (no timer due for a minute); an abort ends the wait at once and closes the socket", async () => {
  const ns = tempNetns();
  try {
    const before = sockets();
    // Quiet from the start (quietMs 0), a minute between timer reads: only the worker's wait can be this prompt.
    const it = monitor({ netns: ns, groups: ['link'], wait: 'worker', quietMs: 0, pollMs: 60_000 })[Symbol.asyncIterator]();
    const first = it.next();
    await new Promise((r) => setTimeout(r, 50)); // the wait is under way
    const t0 = performance.now();
    sh(ns, 'ip', 'link', 'add', 'vA', 'type', 'veth', 'peer', 'name', 'vB');
    const ev = await first;
    assert.is(ev.done, false);
    assert.is((ev.value as MonitorEvent).kind, 'link');
    assert.ok(performance.now() - t0 < 1000, `the event came at once (${performance.now() - t0} ms)`);
    await it.return?.();
    assert.is(sockets(), before, 'closed after break');

    const ac = new AbortController();
    const waiting = monitor({ netns: ns, groups: ['link'], signal: ac.signal, wait: 'worker', quietMs: 0, pollMs: 60_000 });
    const done = (async () => {
      for await (const _ of waiting);
    })();
    await new Promise((r) => setTimeout(r, 200)); // in the worker's wait
    const t1 = performance.now();
    ac.abort();
    await done;
    assert.ok(performance.now() - t1 < 1000, `ended ${performance.now() - t1} ms after the abort`);
    assert.is(sockets(), before, 'closed after abort');
    throwsA(() => monitor({ groups: ['link'], wait: 'sometimes' as 'timer' }), NetlinkOptionsError, /wait must be/);
  } finally {
    ns.delete();
  }
});

test('an overrun of the socket buffer surfaces as { kind: "overrun" }', async () => {
  const ns = tempNetns();
  const sock = openSocket({ netns: ns });
  const ac = new AbortController();
  try {
    sh(ns, 'ip', 'link', 'add', 'vA', 'type', 'veth', 'peer', 'name', 'vB');
    sh(ns, 'ip', 'link', 'set', 'vA', 'up');
    const oif = ipJson(ns, 'link', 'show', 'dev', 'vA')[0].ifindex as number;
    // The smallest buffer the kernel allows, then far more route events than fit, before reading any.
    const events = monitor({ netns: ns, groups: ['ipv4-route'], signal: ac.signal, receiveBufferBytes: 1 })[Symbol.asyncIterator]();
    const first = events.next(); // opens the socket and joins the group, before the burst
    const results = sock.batch(
      Array.from({ length: 500 }, (_, i) => ({
        type: C.RTM_NEWROUTE,
        flags: C.NLM_F_CREATE | C.NLM_F_EXCL,
        header: {
          rtm_family: C.AF_INET,
          rtm_dst_len: 32,
          rtm_table: C.RT_TABLE_MAIN,
          rtm_protocol: C.RTPROT_STATIC,
          rtm_scope: C.RT_SCOPE_LINK,
          rtm_type: C.RTN_UNICAST,
        },
        attrs: { RTA_DST: `10.9.${i >> 8}.${i & 255}`, RTA_OIF: oif },
      })),
    );
    assert.ok(results.every((r) => r === undefined));
    const seen = await collect({ [Symbol.asyncIterator]: () => prepend(first, events) }, (s) => s.some((e) => e.kind === 'overrun'));
    assert.ok(
      seen.some((e) => e.kind === 'overrun'),
      `an overrun among ${seen.length} events`,
    );
    assert.ok(seen.filter((e) => e.kind === 'route').length < 500, 'some events were lost, as reported');
  } finally {
    ac.abort();
    sock.close();
    ns.delete();
  }
});

test('a signal that is already aborted: no events and no socket left open, even when never iterated', async () => {
  const ns = tempNetns();
  try {
    const before = sockets();
    monitor({ netns: ns, groups: ['link'], signal: AbortSignal.abort() }); // never iterated
    const events = monitor({ netns: ns, groups: ['link'], signal: AbortSignal.abort() });
    const seen: MonitorEvent[] = [];
    for await (const ev of events) seen.push(ev);
    assert.equal(seen, []);
    assert.is(sockets(), before, 'no socket leaked');
  } finally {
    ns.delete();
  }
});

test('a monitor never iterated, or returned before its first next(), opens nothing', async () => {
  const ns = tempNetns();
  try {
    const before = sockets();
    monitor({ netns: ns, groups: ['link'] }); // never iterated, no signal
    monitor({ groups: ['link', 'neigh'] });
    const it = monitor({ netns: ns, groups: ['link'] })[Symbol.asyncIterator]();
    assert.equal(await it.return?.(), { done: true, value: undefined });
    assert.is(sockets(), before, 'no socket left open');
  } finally {
    ns.delete();
  }
});

test('a namespace that is not there: NetnsNotFoundError at the first next(); a bad name at once', async () => {
  const before = sockets();
  const it = monitor({ netns: 'nbt-not-there-m6', groups: ['link'] })[Symbol.asyncIterator]();
  await rejectsA(it.next(), NetnsNotFoundError, undefined, 'first next()');
  throwsA(() => monitor({ netns: 'a/b', groups: ['link'] }), InvalidNetnsNameError, /invalid network namespace name/);
  assert.is(sockets(), before);
});

test.run();
