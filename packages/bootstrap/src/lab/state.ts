// What `netboot lab up` made, written as it goes so `lab check` can probe it and `lab down` can remove
// it — also after an `up` that crashed half-way. One JSON file per lab under LAB_RUN_DIR/<name>/.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NetbootError } from '@netboot/core/errors';
import type { ModeName } from '@netboot/routes';

/** Labs keep their state, logs, CNI data and lease files here, one directory per lab. */
export const LAB_RUN_DIR = '/run/netboot-lab';

export type LabDatastore = 'file' | 'etcd' | 'kubernetes';

interface LabPod {
  /** `node1-pod1`…, unique in the lab. */
  name: string;
  /** The node whose CNI ADD made it. */
  node: string;
  /** Its network namespace name (under /run/netns). */
  netns: string;
  containerId: string;
  ifname: string;
  /** Addresses the plugin's result gave it (no prefix length). */
  ips: string[];
}

export interface LabNode {
  /** `node1`…; also its Node / datastore record name. */
  name: string;
  netns: string;
  /** Underlay addresses (eth0), e.g. 192.168.1.11. */
  ips: string[];
  /** Filled once its agent has leased them. */
  podCIDRs: string[];
  /** Per-node directory: agent log, lease file, CNI conflist and IPAM data. */
  dir: string;
}

export interface LabProcess {
  pid: number;
  /** What it is, for `lab down`'s lines: `agent node1`, `etcd`, `kube-apiserver`… */
  what: string;
  /** Its /proc/<pid>/stat start time, so `down` never signals a recycled PID. */
  startTime: string;
}

export interface LabState {
  name: string;
  /** LAB_RUN_DIR/<name>. */
  dir: string;
  mode: ModeName;
  datastore: LabDatastore;
  /** The cluster's pod CIDRs (a v4 and/or a v6). */
  podCIDRs: string[];
  /** Every namespace made, in creation order (down deletes them in reverse). */
  namespaces: string[];
  processes: LabProcess[];
  /** The namespace of a host outside the cluster, reachable from pods only through NAT. */
  outside: { netns: string; ips: string[] };
  nodes: LabNode[];
  pods: LabPod[];
  /** `up` finished (a crashed `up` leaves false: `down` still cleans it). */
  complete: boolean;
}

/** No lab of that name: `netboot lab up` first. */
export class LabNotFoundError extends NetbootError {
  readonly kind = 'not-found' as const;
}

export function labDir(name: string): string {
  return join(LAB_RUN_DIR, name);
}

/** Writes the state atomically (temp + rename): a crash leaves the previous state, never half of one. */
export function saveLabState(state: LabState): void {
  mkdirSync(state.dir, { recursive: true });
  const file = join(state.dir, 'state.json');
  writeFileSync(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

export function loadLabState(name: string): LabState {
  try {
    return JSON.parse(readFileSync(join(labDir(name), 'state.json'), 'utf8')) as LabState;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new LabNotFoundError(`no lab named ${name}: run \`netboot lab up --name ${name}\` first`);
    throw e;
  }
}

/** Every lab with a state file, by name (`netboot lab list`). */
export function listLabs(): LabState[] {
  if (!existsSync(LAB_RUN_DIR)) return [];
  return readdirSync(LAB_RUN_DIR)
    .filter((name) => existsSync(join(LAB_RUN_DIR, name, 'state.json')))
    .sort()
    .map((name) => loadLabState(name));
}
