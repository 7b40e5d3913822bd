// A lab node's containerd (Debian's 1.6): its config, rendered here, and the CRI settings measured on
// these machines (../shared/reference/kubernetes-here.md, "kubelet + containerd"). Pure.
import type { RuntimeLayout } from './layout.js';

export interface ContainerdOptions {
  /** The pause image (`sandbox_image`), imported before kubelet asks for a sandbox. */
  sandboxImage: string;
}

const q = (s: string) => JSON.stringify(s);

/**
 * config.toml (version 2) for one node: own root, state and socket; CRI with the local pause image,
 * netns mounts under its own state dir (not the shared /run/netns), no AppArmor, OOM score adjustments
 * restricted (this VM drops CAP_SYS_RESOURCE: without it every sandbox fails with "can't get final
 * child's PID from pipe: EOF"), overlayfs + runc v2 on cgroupfs, and CNI from the node's own dirs with
 * only the first conflist.
 */
export function containerdConfig(l: RuntimeLayout, o: ContainerdOptions): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return `version = 2
root = ${q(l.containerdRoot)}
state = ${q(l.containerdState)}
# Snapshotters and services a lab node never uses (and whose probing only logs warnings).
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = ${q(l.socket)}

[ttrpc]
  address = ${q(`${l.socket}.ttrpc`)}

[plugins."io.containerd.internal.v1.opt"]
  path = ${q(`${l.containerdRoot}/opt`)}

[${cri}]
  sandbox_image = ${q(o.sandboxImage)}
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  restrict_oom_score_adj = true
  enable_selinux = false
  max_container_log_line_size = 16384

[${cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[${cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[${cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
  Root = ${q(l.runcRoot)}

[${cri}.cni]
  bin_dir = ${q(l.cniBin)}
  conf_dir = ${q(l.cniConf)}
  max_conf_num = 1
`;
}
