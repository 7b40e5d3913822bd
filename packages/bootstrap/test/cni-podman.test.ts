// A real runtime: podman 4.3 with its CNI backend runs containers on a netboot network. Each gets its
// IP, reaches its gateway and a second container; removing them (CNI DEL) leaves no link or address.
// Skips, saying why, where podman is not installed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { usePlugin } from './cni-fixture.js';
import { IMAGE, podmanMissing, setupPodman, teardownPodman } from './podman-fixture.js';

const onNode = usePlugin(test);
const missing = podmanMissing();

(missing ? test.skip : test)(`podman runs two containers on the netboot network that reach each other${missing ? ` (skipped: ${missing})` : ''}`, () =>
  onNode((node) => {
    const conf = node.conf({ cniVersion: '1.0.0' });
    const { cniVersion, name, ...plugin } = conf;
    const podman = setupPodman(node, { cniVersion, name, plugins: [plugin] });
    try {
      const r = podman.script(`
        P run -d --name a --network ${name} ${IMAGE} sleep 60 >/dev/null
        A=$(P inspect -f '{{(index .NetworkSettings.Networks "${name}").IPAddress}}' a)
        echo "a=$A"
        P run --rm --network ${name} ${IMAGE} sh -c "ip -o -4 addr show eth0; ping -c1 -W2 10.244.1.1 >/dev/null && echo gateway-ok; ping -c1 -W2 $A >/dev/null && echo peer-ok"
        P rm -f a >/dev/null
      `);
      assert.is(r.status, 0, r.stderr);
      assert.match(r.stdout, /a=10\.244\.1\.\d+/);
      assert.match(r.stdout, /eth0\s+inet 10\.244\.1\.\d+\/24/);
      assert.match(r.stdout, 'gateway-ok');
      assert.match(r.stdout, 'peer-ok');
      assert.equal(node.hostLinks(), [], 'podman rm (CNI DEL) removed every veth');
      assert.equal(node.reservations(), [], 'and released every address');
    } finally {
      teardownPodman(podman, node);
    }
  }),
);

test.run();
