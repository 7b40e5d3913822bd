// The workload `lab check` puts on a kubelet lab, and how a rollout is judged. Pure.
//
// A Deployment of the locally built HTTP test image, spread evenly over the nodes by the scheduler
// (topologySpreadConstraints on kubernetes.io/hostname, maxSkew 1), Ready only once kubelet — from the
// node's namespace — reached the pod's HTTP port. No service account token (nothing here calls the API),
// a short grace period (the image exits on TERM anyway).
import { HTTP_TEST } from '../images/busybox.js';

export const DEPLOYMENT = 'netboot-check';
const LABEL = { app: DEPLOYMENT };

/** The Deployment's manifest (JSON, which kubectl apply takes as YAML). */
export function deploymentManifest(replicas: number): string {
  return JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: DEPLOYMENT, namespace: 'default', labels: LABEL },
    spec: {
      replicas,
      selector: { matchLabels: LABEL },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
      template: {
        metadata: { labels: LABEL },
        spec: {
          automountServiceAccountToken: false,
          terminationGracePeriodSeconds: 5,
          // A cordoned (drained) node is no spread domain (nodeTaintsPolicy): its pods go to the others.
          // Pods count per revision (matchLabelKeys): a rollout's old pods, about to go, skew nothing.
          topologySpreadConstraints: [
            {
              maxSkew: 1,
              topologyKey: 'kubernetes.io/hostname',
              whenUnsatisfiable: 'DoNotSchedule',
              nodeTaintsPolicy: 'Honor',
              labelSelector: { matchLabels: LABEL },
              matchLabelKeys: ['pod-template-hash'],
            },
          ],
          containers: [
            {
              name: 'http',
              image: HTTP_TEST.name,
              imagePullPolicy: 'Never',
              ports: [{ containerPort: 8080 }],
              readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 1, failureThreshold: 3 },
            },
          ],
        },
      },
    },
  });
}

/** The `-l` selector of the Deployment's pods. */
export const SELECTOR = `app=${DEPLOYMENT}`;

/** What a node holds for its pods, counted with independent tools. */
export interface NodeHoldings {
  node: string;
  /** Pods of the lab running there (from the API). */
  pods: number;
  /** Addresses the IPAM store has allocated. */
  ips: string[];
  /** Host-side veth links (`ip -n NODE link show type veth`). */
  veths: string[];
  /** Elements across every nft set in the node (`nft list ruleset`). */
  nftElements: number;
}

/**
 * What leaked on each node after a rollout: more IPs or veths than the node runs pods, or nft set
 * elements other than before (`before` from the same nodes ahead of the rollout). Empty: nothing leaked.
 */
export function leaks(before: readonly NodeHoldings[], after: readonly NodeHoldings[]): string[] {
  const out: string[] = [];
  for (const a of after) {
    if (a.ips.length !== a.pods) out.push(`${a.node}: ${a.ips.length} IPs allocated for ${a.pods} pods (${a.ips.join(', ')})`);
    if (a.veths.length !== a.pods) out.push(`${a.node}: ${a.veths.length} veths for ${a.pods} pods (${a.veths.join(', ')})`);
    const b = before.find((x) => x.node === a.node);
    if (b !== undefined && b.nftElements !== a.nftElements) out.push(`${a.node}: nft set elements ${b.nftElements} → ${a.nftElements}`);
  }
  return out;
}
