// A user's own kubeadm config, as an operator would keep it: three documents, comments, other flags.

export const USER_CONFIG = `# my cluster
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
nodeRegistration:
  name: cp-1 # who runs the kubelet
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
clusterName: prod
# keep: the API server
apiServer:
  certSANs: [api.example.com]
controllerManager:
  extraArgs:
    - name: bind-address # mine
      value: 0.0.0.0
    - name: node-cidr-mask-size
      value: "24"
networking:
  dnsDomain: cluster.local
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: systemd
`;
