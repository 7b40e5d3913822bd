// The generated rtnetlink bindings: values that cannot be wrong, and `pnpm gen` reproducing the
// committed files byte for byte (so nobody hand-edits them and the generator stays deterministic).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as gen from '../src/netlink/generated/index.js';
import * as libc from '../src/ffi/generated.js';
import { FFI_OUT, generate, NETLINK_OUT } from '../gen/generate.js';
import { withTempDir } from '../src/public/testing/pure.js';

const PACKAGE_DIR = join(import.meta.dirname, '..');

test('message types and attribute numbers', () => {
  assert.is(gen.RTM_NEWLINK, 16);
  assert.is(gen.RTM_NEWROUTE, 24);
  assert.is(gen.NLMSG_ERROR, 2);
  assert.is(gen.NLMSG_DONE, 3);
  assert.is(gen.IFLA_IFNAME, 3);
  assert.is(gen.NLM_F_REQUEST, 1);
  assert.is(gen.NLM_F_DUMP, 0x300);
  assert.is(gen.NLA_F_NESTED, 0x8000);
  assert.is(gen.RT_TABLE_MAIN, 254);
  assert.is(gen.RT_TABLE_MAX, 0xffffffff, 'values above 2^31 stay plain positive numbers');
  assert.is(gen.AF_NETLINK, 16);
  assert.is(gen.NETLINK_ROUTE, 0);
});

test('enum-size sentinels are left out', () => {
  const names = Object.keys(gen);
  for (const sentinel of ['IFLA_MAX', 'RTA_MAX', 'IFLA_INFO_MAX', 'RTM_NR_MSGTYPES', '__IFLA_MAX']) {
    assert.not.ok(names.includes(sentinel), sentinel);
  }
});

test('struct sizes and offsets', () => {
  assert.is(gen.nlmsghdr.size, 16);
  assert.is(gen.ifinfomsg.size, 16);
  assert.is(gen.rtmsg.size, 12);
  assert.is(gen.ndmsg.size, 12);
  assert.is(gen.rtmsg.fields.rtm_table.offset, 4);
  assert.equal(gen.ifinfomsg.fields.ifi_index, { offset: 4, size: 4, signed: true });
  assert.equal(Object.keys(gen.nlmsghdr.fields), ['nlmsg_len', 'nlmsg_type', 'nlmsg_flags', 'nlmsg_seq', 'nlmsg_pid']);
  assert.equal(gen.ifla_vxlan_port_range.fields.low, { offset: 0, size: 2, bigEndian: true });
});

test('reverse name tables', () => {
  assert.is(gen.RTM_NAMES[16], 'RTM_NEWLINK', 'RTM_BASE shares 16 but is not a message type');
  assert.is(gen.NLMSG_NAMES[4], 'NLMSG_OVERRUN', 'NLMSG_ALIGNTO shares 4 but is not a message type');
  assert.is(gen.RT_SCOPE_NAMES[253], 'RT_SCOPE_LINK');
  assert.is(gen.AF_NAMES[10], 'AF_INET6');
  assert.is(gen.NUD_NAMES[0x80], 'NUD_PERMANENT');
});

test('libc constants sit beside the FFI, not among the netlink bindings', () => {
  assert.is(libc.CLONE_NEWNET, 0x40000000);
  assert.is(libc.LOCK_EX, 2);
  assert.is(libc.MNT_DETACH, 2);
  assert.is(libc.SYS_gettid, 186, 'x86_64');
  for (const name of Object.keys(libc)) assert.not.ok(name in gen, `${name} is not in netlink/generated`);
});

test('re-running the generator reproduces the committed files byte for byte', () =>
  withTempDir((out) => {
    const written = generate(out)
      .map((p) => relative(out, p))
      .sort();
    const committed = [...readdirSync(join(PACKAGE_DIR, NETLINK_OUT)).map((f) => join(NETLINK_OUT, f)), FFI_OUT].sort();
    assert.equal(written, committed, 'same set of files');
    for (const file of written) {
      const fresh = readFileSync(join(out, file), 'utf8');
      assert.ok(fresh === readFileSync(join(PACKAGE_DIR, file), 'utf8'), `${file} differs from a fresh 'pnpm gen'`);
    }
  }, 'nbt-gen-'));

test.run();
