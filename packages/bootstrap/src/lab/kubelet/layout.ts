// Where a kubelet lab node keeps everything, all under its node dir so `lab down` removes one tree:
// containerd's root, state and socket, the CNI bin and conf dirs (as `netboot cni install --root NODE`
// lays them out) and the agent's CNI socket, kubelet's config and certificates, and the folders bind-mounted over /var/lib and
// /var/log inside the node's private mount namespace (kubelet hard-codes /var/lib/kubelet/device-plugins
// and /var/log/pods). Pure: `up`, `down` and the tests agree on every path.
import { join } from 'node:path';

export interface RuntimeLayout {
  /** containerd's config.toml. */
  containerdConfig: string;
  containerdRoot: string;
  containerdState: string;
  /** containerd's gRPC socket (`ctr -a SOCK`, kubelet's containerRuntimeEndpoint). */
  socket: string;
  /** runc's state (the runtime's `Root` option; runc's default is shared /run/containerd/runc). */
  runcRoot: string;
  cniBin: string;
  cniConf: string;
  /** The node agent's warm CNI server (`netboot agent --cni-socket`), named by the conflist's `server`. */
  cniSocket: string;
  /** Bind-mounted over /var/lib in the node's mount namespace: kubelet's root dir is its `kubelet/`. */
  varLib: string;
  /** Bind-mounted over /var/log: /var/log/pods and /var/log/containers. */
  varLog: string;
  kubeletConfig: string;
  kubeconfig: string;
  certDir: string;
  /** Logs of the two daemons. */
  containerdLog: string;
  kubeletLog: string;
}

export function runtimeLayout(nodeDir: string): RuntimeLayout {
  const c = join(nodeDir, 'containerd');
  return {
    containerdConfig: join(c, 'config.toml'),
    containerdRoot: join(c, 'root'),
    containerdState: join(c, 'state'),
    socket: join(c, 'containerd.sock'),
    runcRoot: join(c, 'runc'),
    cniBin: join(nodeDir, 'opt', 'cni', 'bin'),
    cniConf: join(nodeDir, 'etc', 'cni', 'net.d'),
    cniSocket: join(nodeDir, 'cni.sock'),
    varLib: join(nodeDir, 'var', 'lib'),
    varLog: join(nodeDir, 'var', 'log'),
    kubeletConfig: join(nodeDir, 'kubelet', 'config.yaml'),
    kubeconfig: join(nodeDir, 'kubelet', 'kubelet.conf'),
    certDir: join(nodeDir, 'kubelet', 'pki'),
    containerdLog: join(nodeDir, 'containerd.log'),
    kubeletLog: join(nodeDir, 'kubelet.log'),
  };
}

/** The cgroup (same path in every v1 hierarchy) a node's kubelet uses as `--cgroup-root`. */
export function cgroupRootOf(lab: string, node: string): string {
  return `/netboot-lab-${lab}-${node}`;
}
