// kubectl against a kubelet lab's API server, which listens inside the underlay namespace: `ip netns
// exec UNDERLAY kubectl --kubeconfig ADMIN ARGS…`.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { NetbootError } from '@netboot/core/errors';

class KubectlError extends NetbootError {
  readonly kind = 'unavailable' as const;
}

export interface ApiAccess {
  kubeconfig: string;
  bin: string;
  apiNetns: string;
}

/** Runs kubectl with `args` (and `input` on stdin); resolves with its stdout. */
export function kubectl(api: ApiAccess, args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'ip',
      ['netns', 'exec', api.apiNetns, join(api.bin, 'kubectl'), '--kubeconfig', api.kubeconfig, ...args],
      { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => (err === null ? resolve(stdout) : reject(new KubectlError(`kubectl ${args.join(' ')}: ${stderr.trim() || err.message}`))),
    );
    child.stdin!.end(input ?? '');
  });
}

/** `kubectl get KIND … -o json`'s items. */
export async function getItems<T>(api: ApiAccess, args: readonly string[]): Promise<T[]> {
  return (JSON.parse(await kubectl(api, ['get', ...args, '-o', 'json'])) as { items: T[] }).items;
}
