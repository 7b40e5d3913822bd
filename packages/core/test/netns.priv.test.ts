// Namespaces against iproute2: what we create `ip netns list` sees, what we delete it no longer does,
// and runIn always leaves the thread where it found it. Names and paths refused before anything is
// touched are checked in netns.test.ts.
import { test as uvuTest } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import {
  AsyncInNetnsError,
  createNetns,
  currentNetns,
  deleteNetns,
  listNetns,
  NetnsExistsError,
  NetnsNotFoundError,
  openNetns,
  runIn,
  sameNetns,
} from '../src/netns.js';
import { ipJson, privileged, tempNetns, throwsA, withNetns } from '../src/public/testing.js';
import { errorKind } from '../src/base/errors.js';

const test = privileged(uvuTest);

const threadNs = (): number => statSync('/proc/thread-self/ns/net').ino;
const ipNetnsList = (): string[] =>
  execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ')[0]!);
const randomName = (): string => `nbt-${randomBytes(4).toString('hex')}`;

test('createNetns / listNetns / deleteNetns agree with `ip netns list`', () => {
  const name = randomName();
  const ns = createNetns(name);
  try {
    assert.is(ns.name, name);
    assert.is(ns.path, `/run/netns/${name}`);
    assert.ok(ipNetnsList().includes(name), 'ip netns list shows it');
    assert.ok(listNetns().includes(name), 'listNetns shows it');
    // Like `ip netns add`: only lo, and it is down.
    const links = ipJson(name, 'link', 'show');
    assert.equal(
      links.map((l: { ifname: string }) => l.ifname),
      ['lo'],
    );
    assert.is(links[0].operstate, 'DOWN');
    assert.is(errorKind(throwsA(() => createNetns(name), NetnsExistsError)), 'exists');
  } finally {
    deleteNetns(name);
  }
  assert.not.ok(ipNetnsList().includes(name), 'gone from ip netns list');
  assert.not.ok(listNetns().includes(name), 'gone from listNetns');
});

test('a namespace made by `ip netns add` is usable, and deleteNetns removes it', () => {
  const name = randomName();
  execFileSync('ip', ['netns', 'add', name]);
  try {
    assert.ok(listNetns().includes(name));
    assert.ok(sameNetns(openNetns(name), `/run/netns/${name}`));
  } finally {
    deleteNetns(name);
  }
  assert.not.ok(ipNetnsList().includes(name));
});

test('runIn switches into the namespace and back', async () => {
  await withNetns(1, (ns) => {
    const before = threadNs();
    const inside = runIn(ns, () => threadNs());
    assert.is.not(inside, before);
    assert.is(inside, statSync(ns.path).ino);
    assert.is(threadNs(), before);
    // A child started while switched inherits the namespace, which `ip link` shows: only lo.
    const out = runIn(ns, () => execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' }));
    assert.equal(out.trim().split('\n').length, 1);
    assert.match(out, /: lo:/);
  });
});

test('runIn restores the namespace when fn throws', async () => {
  await withNetns(1, (ns) => {
    const before = threadNs();
    assert.throws(
      () =>
        runIn(ns, () => {
          throw new Error('boom');
        }),
      /boom/,
    );
    assert.is(threadNs(), before);
  });
});

test('nested runIn restores the outer namespace', async () => {
  await withNetns(2, (a, b) => {
    const before = threadNs();
    const seen = runIn(a, () => {
      const inner = runIn(b, () => threadNs());
      return { inner, outerAfter: threadNs() };
    });
    assert.is(seen.inner, statSync(b.path).ino);
    assert.is(seen.outerAfter, statSync(a.path).ino);
    assert.is(threadNs(), before);
  });
});

test('runIn refuses an async callback, after switching back', async () => {
  await withNetns(1, (ns) => {
    const before = threadNs();
    assert.is(errorKind(throwsA(() => runIn(ns, async () => 1), AsyncInNetnsError)), 'internal');
    assert.is(threadNs(), before);
  });
});

test('currentNetns names the namespace the thread is in; sameNetns compares identity', async () => {
  await withNetns(2, (a, b) => {
    const inA = runIn(a, () => currentNetns());
    assert.is(inA.name, a.name);
    assert.ok(sameNetns(inA, a));
    assert.not.ok(sameNetns(a, b));
    assert.ok(sameNetns(a, a.name));
    assert.ok(sameNetns(currentNetns(), '/proc/self/ns/net'));
    assert.not.ok(sameNetns(currentNetns(), a));
  });
});

test('a vanished namespace gives NetnsNotFoundError naming it', () => {
  const ns = tempNetns();
  const opened = openNetns(ns.name);
  execFileSync('ip', ['netns', 'del', ns.name]);
  const named = new RegExp(ns.name);
  for (const [what, attempt] of [
    ['openNetns', () => openNetns(ns.name)],
    ['runIn', () => runIn(opened, () => 1)],
    ['deleteNetns', () => deleteNetns(ns.name)],
  ] as const) {
    assert.is(throwsA(attempt, NetnsNotFoundError, named, what).kind, 'not-found');
  }
  ns.delete(); // idempotent fixture
});

test.run();
