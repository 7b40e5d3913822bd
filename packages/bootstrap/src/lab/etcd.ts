// The etcd datastore of a lab: Debian's etcd, one member, started inside the underlay namespace on the
// service address (192.168.1.1), so the agents reach it over their uplinks as on separate machines. Its
// data lives in the lab dir and goes with it.
import { join } from 'node:path';
import { NetbootError } from '@netboot/core/errors';
import { getIn } from './netns-http.js';
import { isRunning, spawnInNetns } from './processes.js';
import type { LabProcess } from './state.js';

/** etcd did not become healthy. */
class LabEtcdError extends NetbootError {
  readonly kind = 'unavailable' as const;
}

/**
 * `ip netns exec NETNS etcd --listen-client-urls http://IP:2379 …`; `record` gets the process before
 * this waits for `GET /health` to say so. Returns the client endpoint.
 */
export async function startLabEtcd(netns: string, ip: string, dir: string, record: (p: LabProcess) => void): Promise<string> {
  const endpoint = `http://${ip}:2379`;
  const peer = `http://${ip}:2380`;
  const log = join(dir, 'etcd.log');
  // biome-ignore format: flag/value pairs
  const proc = spawnInNetns('etcd', netns, ['etcd', '--name', 'lab', '--data-dir', join(dir, 'etcd'),
    '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `lab=${peer}`], log);
  record(proc);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const r = await getIn(netns, `${endpoint}/health`);
    if (r?.status === 200 && r.body.includes('"health":"true"')) return endpoint;
    if (!isRunning(proc) || Date.now() > deadline) throw new LabEtcdError(`etcd at ${endpoint} in ${netns} is not healthy; see ${log}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
