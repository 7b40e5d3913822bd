// monitor() options refused before any socket opens, and RawEvent's header reads: pure (the events
// themselves are in monitor.priv.test.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { monitor } from '../src/monitor.js';
import { NetlinkOptionsError } from '../src/netlink/errors.js';
import { RawEvent } from '../src/netlink/monitor.js';
import { throwsA } from '../src/public/testing/pure.js';

test('bad groups are refused before anything is opened', () => {
  throwsA(() => monitor({ groups: [] }), NetlinkOptionsError, /at least one group/);
  throwsA(() => monitor({ groups: ['links' as 'link'] }), NetlinkOptionsError, /unknown group "links"/);
  throwsA(() => monitor({ groups: ['link'], pollMs: 0 }), NetlinkOptionsError, /pollMs/);
});

test('RawEvent.attr finds a whole attribute and refuses one that runs past its message', () => {
  // nlmsghdr (16) + rtmsg (12) + RTA_TABLE (type 15, 8 bytes) + RTA_PRIORITY (type 6) claiming 8 bytes of 6.
  const buf = Buffer.alloc(16 + 12 + 8 + 6);
  buf.writeUInt16LE(24, 4); // RTM_NEWROUTE
  buf.writeUInt16LE(8, 28);
  buf.writeUInt16LE(15, 30);
  buf.writeUInt32LE(254, 32);
  buf.writeUInt16LE(8, 36);
  buf.writeUInt16LE(6, 38);
  const e = new RawEvent();
  e.buf = buf;
  e.end = buf.length;
  assert.is(e.attr(12, 15), 32);
  assert.is(buf.readUInt32LE(e.attr(12, 15)), 254);
  assert.is(e.attr(12, 6), -1, 'the truncated RTA_PRIORITY');
  assert.is(e.attr(12, 7), -1, 'an absent attribute');
});

test.run();
