// monitor() options refused before any socket opens: pure (the events themselves are in monitor.priv.test.ts).
import { test } from 'uvu';
import { monitor } from '../src/monitor.js';
import { NetlinkOptionsError } from '../src/netlink/errors.js';
import { throwsA } from '../src/public/testing/pure.js';

test('bad groups are refused before anything is opened', () => {
  throwsA(() => monitor({ groups: [] }), NetlinkOptionsError, /at least one group/);
  throwsA(() => monitor({ groups: ['links' as 'link'] }), NetlinkOptionsError, /unknown group "links"/);
  throwsA(() => monitor({ groups: ['link'], pollMs: 0 }), NetlinkOptionsError, /pollMs/);
});

test.run();
