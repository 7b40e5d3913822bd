// What RBAC cannot say: `patch nodes` is every field of every Node. A ValidatingAdmissionPolicy (GA in
// Kubernetes 1.30) narrows the agent's patches to what publish() does — its own Node (the node name
// the kubelet binds into the pod's token, `authentication.kubernetes.io/node-name`), and only the
// `netboot.io/*` annotations. It matches the agent's ServiceAccount only, so nobody else is affected.
// test/rbac.priv.test.ts shows each refusal on a real API server.
import type { V1ValidatingAdmissionPolicy, V1ValidatingAdmissionPolicyBinding } from '@kubernetes/client-node';

const NODE_NAME_CLAIM = 'authentication.kubernetes.io/node-name';

/** `kubectl annotate node NAME netboot.io/…` by the agent of NAME, and nothing else, for ServiceAccount `namespace`/`serviceAccount`. */
export function agentNodePolicy(
  name: string,
  namespace: string,
  serviceAccount: string,
  labels: Record<string, string>,
): [V1ValidatingAdmissionPolicy, V1ValidatingAdmissionPolicyBinding] {
  const policy: V1ValidatingAdmissionPolicy = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name, labels },
    spec: {
      // A policy that cannot be evaluated refuses: the agent's patches are never let through unchecked.
      failurePolicy: 'Fail',
      // A PATCH is admitted as an UPDATE of the whole object.
      // scope spelled out: the server defaults it to '*' inside this un-keyed list, and `kubectl apply`
      // would then report the policy "configured" on every run (init's second run must change nothing).
      matchConstraints: { resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['nodes'], scope: '*' }] },
      matchConditions: [{ name: 'netboot-agent', expression: `request.userInfo.username == 'system:serviceaccount:${namespace}:${serviceAccount}'` }],
      variables: [
        { name: 'before', expression: 'oldObject.metadata.?annotations.orValue({})' },
        { name: 'after', expression: 'object.metadata.?annotations.orValue({})' },
      ],
      validations: [
        {
          expression: `'${NODE_NAME_CLAIM}' in request.userInfo.extra && request.userInfo.extra['${NODE_NAME_CLAIM}'][0] == object.metadata.name`,
          messageExpression: `'the netboot agent may change only its own Node; this token is ' + ('${NODE_NAME_CLAIM}' in request.userInfo.extra ? 'bound to Node ' + request.userInfo.extra['${NODE_NAME_CLAIM}'][0] : 'bound to no Node')`,
          reason: 'Forbidden',
        },
        {
          expression:
            'object.spec == oldObject.spec && object.metadata.?labels.orValue({}) == oldObject.metadata.?labels.orValue({}) && object.metadata.?finalizers.orValue([]) == oldObject.metadata.?finalizers.orValue([]) && object.metadata.?ownerReferences.orValue([]) == oldObject.metadata.?ownerReferences.orValue([])',
          message: 'the netboot agent may change only netboot.io/ annotations (not the spec, labels, finalizers or owners)',
          reason: 'Forbidden',
        },
        {
          expression:
            "variables.after.all(k, k.startsWith('netboot.io/') || (k in variables.before && variables.before[k] == variables.after[k])) && variables.before.all(k, k.startsWith('netboot.io/') || k in variables.after)",
          message: 'the netboot agent may change only netboot.io/ annotations',
          reason: 'Forbidden',
        },
      ],
    },
  };
  const binding: V1ValidatingAdmissionPolicyBinding = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: { name, labels },
    spec: { policyName: name, validationActions: ['Deny'] },
  };
  return [policy, binding];
}
