// Drives podman 4.3 (Debian, CNI backend) as a real CNI client against the bundled plugin. Every
// workaround this machine needs lives here, never in the product (see shared/reference/real-clients.md):
//   - runc, not crun: crun 1.8 refuses this host's hybrid cgroup layout;
//   - default_ulimits at the current hard limits: podman's 1048576 needs CAP_SYS_RESOURCE;
//   - cgroupfs and file events (no systemd here); ping allowed for root's group inside the container;
//   - podman runs under `nsenter --net=<node netns>` (not `ip netns exec`, whose /sys remount hides
//     the cgroup tree from runc) and in a private mount namespace with a tmpfs on /run/netns, so the
//     pod namespaces podman names `netns-<hex>` never appear in the host's /run/netns, and libcni's
//     result cache (/var/lib/cni/results) stays out of the host's /var/lib/cni.
// The image is busybox-static imported from a tarball (no registry, no buildah).
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Node } from './cni-fixture.js';

export const IMAGE = 'localhost/nbt-busybox:latest';
const BUSYBOX = '/bin/busybox';

/** Why podman cannot run here, or undefined when it can. */
export function podmanMissing(): string | undefined {
  for (const tool of ['podman', 'runc', 'conmon', 'nsenter', 'unshare']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed (apt-get install podman runc busybox-static)`;
  }
  if (!existsSync(BUSYBOX)) return `${BUSYBOX} is missing (apt-get install busybox-static)`;
  return undefined;
}

function hardLimit(flag: string): number {
  const text = spawnSync('sh', ['-c', `ulimit -H${flag}`], { encoding: 'utf8' }).stdout.trim();
  return text === 'unlimited' ? 1_048_576 : Number(text);
}

export interface Podman {
  /** Runs a shell script in the node namespace and the private mount namespace; podman is `P`. */
  script(body: string): { status: number | null; stdout: string; stderr: string };
}

/** Sets up podman's state under the node's temp dir: containers.conf, the network, the image. */
export function setupPodman(node: Node, conflist: Record<string, unknown>): Podman {
  const state = join(node.dir, 'podman');
  const netd = join(state, 'net.d');
  const plugins = join(state, 'cni-bin');
  mkdirSync(netd, { recursive: true });
  mkdirSync(plugins, { recursive: true });
  // The plugin dir podman searches: netboot plus the reference plugins.
  cpSync(node.plugin, join(plugins, 'netboot'));
  chmodSync(join(plugins, 'netboot'), 0o755);
  const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
  const nofile = hardLimit('n');
  const nproc = Math.min(hardLimit('u'), pidMax);
  writeFileSync(
    join(state, 'containers.conf'),
    `[containers]
default_sysctls = ["net.ipv4.ping_group_range=0 0"]
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]
[network]
network_backend = "cni"
cni_plugin_dirs = ["${plugins}", "/usr/lib/cni"]
network_config_dir = "${netd}"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "${state}/events.log"
tmp_dir = "${state}/tmp"
runtime = "runc"
`,
  );
  writeFileSync(join(netd, `${conflist.name as string}.conflist`), JSON.stringify(conflist));
  const P = `podman --root ${state}/root --runroot ${state}/run --network-config-dir ${netd}`;
  const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', CONTAINERS_CONF: join(state, 'containers.conf'), HOME: state };
  const podman: Podman = {
    script(body) {
      // libcni caches results under /var/lib/cni whatever podman is told: a tmpfs keeps that private too.
      const inner = `set -e; mount -t tmpfs nbt-netns /run/netns; mkdir -p /var/lib/cni; mount -t tmpfs nbt-cni-cache /var/lib/cni; P() { ${P} "$@"; }; ${body}`;
      const res = spawnSync('nsenter', [`--net=${node.ns.path}`, 'unshare', '--mount', '--propagation', 'slave', 'sh', '-c', inner], {
        env,
        encoding: 'utf8',
        timeout: 120_000,
      });
      return { status: res.status, stdout: res.stdout, stderr: res.stderr };
    },
  };
  // A root filesystem of busybox-static and its applet links, imported as the image.
  const rootfs = join(state, 'rootfs');
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  cpSync(BUSYBOX, join(rootfs, 'bin/busybox'));
  for (const applet of ['sh', 'ip', 'ping', 'sleep', 'cat', 'awk', 'echo']) symlinkSync('busybox', join(rootfs, 'bin', applet));
  const imported = podman.script(`tar -C ${rootfs} -c . | P import --change 'CMD ["/bin/sh"]' - ${IMAGE} >/dev/null`);
  if (imported.status !== 0) throw new Error(`podman import failed: ${imported.stderr}`);
  return podman;
}

/** Removes everything podman left in the state dir (containers, image layers, mounts). */
export function teardownPodman(podman: Podman, node: Node): void {
  podman.script('P rm -af >/dev/null 2>&1 || true; P rmi -af >/dev/null 2>&1 || true');
  const state = join(node.dir, 'podman');
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m.startsWith(`${state}/`))
    .sort()
    .reverse();
  for (const m of mounts) spawnSync('umount', [m]);
}
