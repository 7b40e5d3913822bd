// The kubeadm side of `netboot init`: a ClusterConfiguration whose networking and controller-manager
// flags say what netboot's agents will do — `networking.podSubnet`/`serviceSubnet` and kube-controller-
// manager's `--allocate-node-cidrs`, `--cluster-cidr`, `--node-cidr-mask-size(-ipv4/-ipv6)` — so kubeadm,
// the controller manager and netboot agree (flannel's users meet the mismatch when they do not). A
// user's own config is merged into, not rewritten: it is edited as a YAML document (the `yaml` package),
// so its other documents, fields, order and comments stay. Pure: text in, text and objects out.
import { Document, isMap, isSeq, parseAllDocuments, type YAMLMap, type YAMLSeq } from 'yaml';
import { InitOptionError } from '../init/errors.js';
import type { KubeadmApi, NetworkSettings } from '../init/types.js';

const GROUP = 'kubeadm.k8s.io';
const APIS: readonly KubeadmApi[] = ['v1beta4', 'v1beta3'];
/** Every controller-manager flag netboot owns; those it does not set for a network are removed. */
const OWNED_ARGS = ['allocate-node-cidrs', 'cluster-cidr', 'node-cidr-mask-size', 'node-cidr-mask-size-ipv4', 'node-cidr-mask-size-ipv6'];

/** What a user's kubeadm config already says about the pod network. */
export interface UserKubeadmConfig {
  path: string;
  /** The apiVersion of its kubeadm documents, when it has any. */
  api?: KubeadmApi;
  podSubnet?: string;
  serviceSubnet?: string;
  /** controllerManager.extraArgs netboot owns, by name. */
  args: Record<string, string>;
}

/** The controller-manager flags for `settings`, in kubeadm's order of mention. */
export function controllerManagerArgs(settings: Pick<NetworkSettings, 'podCIDRs' | 'nodeMask'>): [string, string][] {
  const args: [string, string][] = [
    ['allocate-node-cidrs', 'true'],
    ['cluster-cidr', settings.podCIDRs.join(',')],
  ];
  const { ipv4, ipv6 } = settings.nodeMask;
  // Single-stack takes the plain flag (either family); dual-stack must use the per-family ones.
  if (settings.podCIDRs.length === 1) args.push(['node-cidr-mask-size', String(ipv4 ?? ipv6)]);
  else args.push(['node-cidr-mask-size-ipv4', String(ipv4)], ['node-cidr-mask-size-ipv6', String(ipv6)]);
  return args;
}

function parseDocuments(text: string, path: string): Document.Parsed[] {
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) return [];
  for (const doc of docs) {
    const error = doc.errors[0];
    if (error !== undefined) throw new InitOptionError(`${path}: not valid YAML: ${error.message}`);
  }
  return docs.filter((d) => d.contents !== null);
}

function apiOf(doc: Document, path: string): KubeadmApi | undefined {
  const apiVersion = doc.get('apiVersion');
  if (typeof apiVersion !== 'string' || !apiVersion.startsWith(`${GROUP}/`)) return undefined;
  const version = apiVersion.slice(GROUP.length + 1);
  if (!(APIS as readonly string[]).includes(version))
    throw new InitOptionError(
      `${path}: ${apiVersion} is not one netboot writes (${APIS.map((a) => `${GROUP}/${a}`).join(', ')}); migrate it with \`kubeadm config migrate\``,
    );
  return version as KubeadmApi;
}

const isClusterConfiguration = (doc: Document): boolean => doc.get('kind') === 'ClusterConfiguration';

/** The extraArgs of a ClusterConfiguration, either shape (v1beta4 list of {name, value}, v1beta3 map). */
function extraArgs(doc: Document): Record<string, string> {
  const node = doc.getIn(['controllerManager', 'extraArgs'], true);
  const out: Record<string, string> = {};
  if (isSeq(node))
    for (const item of (node as YAMLSeq).items) {
      if (!isMap(item)) continue;
      const name = item.get('name');
      if (typeof name === 'string') out[name] = String(item.get('value') ?? '');
    }
  else if (isMap(node)) for (const [k, v] of Object.entries((node as YAMLMap).toJSON() as Record<string, unknown>)) out[k] = String(v);
  return out;
}

/** Reads what a user's kubeadm config says about the network (InitOptionError when it is not YAML or not kubeadm's). */
export function readUserConfig(text: string, path: string): UserKubeadmConfig {
  const docs = parseDocuments(text, path);
  const apis = new Set(docs.map((d) => apiOf(d, path)).filter((a) => a !== undefined));
  if (apis.size > 1) throw new InitOptionError(`${path}: mixes kubeadm API versions (${[...apis].join(', ')}); use one`);
  const cluster = docs.find(isClusterConfiguration);
  const user: UserKubeadmConfig = { path, args: {} };
  const [api] = apis;
  if (api !== undefined) user.api = api;
  if (cluster === undefined) return user;
  const podSubnet = cluster.getIn(['networking', 'podSubnet']);
  const serviceSubnet = cluster.getIn(['networking', 'serviceSubnet']);
  if (typeof podSubnet === 'string' && podSubnet !== '') user.podSubnet = podSubnet;
  if (typeof serviceSubnet === 'string' && serviceSubnet !== '') user.serviceSubnet = serviceSubnet;
  for (const [name, value] of Object.entries(extraArgs(cluster))) if (OWNED_ARGS.includes(name)) user.args[name] = value;
  return user;
}

/** Sets netboot's controller-manager flags in `doc`, in the shape of `api`, keeping every other flag. */
function setArgs(doc: Document, api: KubeadmApi, args: [string, string][]): void {
  const path = ['controllerManager', 'extraArgs'];
  if (api === 'v1beta3') {
    for (const name of OWNED_ARGS) if (doc.hasIn([...path, name])) doc.deleteIn([...path, name]);
    for (const [name, value] of args) doc.setIn([...path, name], value);
    return;
  }
  let seq = doc.getIn(path, true);
  if (!isSeq(seq)) {
    doc.setIn(path, doc.createNode([]));
    seq = doc.getIn(path, true);
  }
  const items = (seq as YAMLSeq).items;
  const isOwned = (item: unknown) => isMap(item) && OWNED_ARGS.includes(String(item.get('name')));
  // Replace in place where the flag was (keeps the user's order and comments), append the rest.
  const pending = new Map(args);
  for (let i = items.length - 1; i >= 0; i--) {
    const item = items[i];
    if (!isOwned(item)) continue;
    const name = String((item as YAMLMap).get('name'));
    const value = pending.get(name);
    if (value === undefined) items.splice(i, 1);
    else {
      (item as YAMLMap).set('value', value);
      pending.delete(name);
    }
  }
  for (const [name, value] of pending) items.push(doc.createNode({ name, value }));
}

export interface RenderedKubeadmConfig {
  api: KubeadmApi;
  /** The ClusterConfiguration as an object. */
  object: Record<string, unknown>;
  yaml: string;
}

/**
 * The kubeadm config for `settings`: the user's file (when given) with its ClusterConfiguration's
 * networking and controller-manager flags set — a ClusterConfiguration appended when it has none —
 * or a new ClusterConfiguration. Settings must already agree with the user's file (settleNetwork).
 */
export function renderKubeadmConfig(
  settings: Pick<NetworkSettings, 'podCIDRs' | 'serviceCIDRs' | 'nodeMask'>,
  api: KubeadmApi,
  user?: { text: string; path: string },
): RenderedKubeadmConfig {
  const docs = user === undefined ? [] : parseDocuments(user.text, user.path);
  let cluster = docs.find(isClusterConfiguration);
  if (cluster === undefined) {
    cluster = new Document({ apiVersion: `${GROUP}/${api}`, kind: 'ClusterConfiguration' }) as Document.Parsed;
    docs.push(cluster);
  }
  cluster.setIn(['networking', 'podSubnet'], settings.podCIDRs.join(','));
  cluster.setIn(['networking', 'serviceSubnet'], settings.serviceCIDRs.join(','));
  setArgs(cluster, api, controllerManagerArgs(settings));
  // Every document after the first needs its `---`; a user's first one keeps whatever it had.
  docs.forEach((doc, i) => {
    if (i > 0) doc.directives.docStart = true;
  });
  return { api, object: cluster.toJS() as Record<string, unknown>, yaml: docs.map((d) => d.toString()).join('') };
}

/** `kubeadm init --config <path>`: what init runs, or prints when kubeadm is not here. */
export function kubeadmInitCommand(kubeadm: string, configPath: string): string[] {
  return [kubeadm, 'init', '--config', configPath];
}
