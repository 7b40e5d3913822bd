// The three global sysctls kubelet sets at start (vm.overcommit_memory 0→1, kernel.panic →10,
// kernel.panic_on_oops →1): not per network namespace, so a lab saves them before its first kubelet
// and `lab down` puts them back. Read and written through /proc/sys (never in a lab namespace: these
// are the machine's own, which is the point).
import { readFileSync, writeFileSync } from 'node:fs';

export const KUBELET_SYSCTLS = ['vm.overcommit_memory', 'kernel.panic', 'kernel.panic_on_oops'] as const;

const file = (name: string) => `/proc/sys/${name.replaceAll('.', '/')}`;

/** The current values, by name. */
export function readKubeletSysctls(): Record<string, string> {
  return Object.fromEntries(KUBELET_SYSCTLS.map((n) => [n, readFileSync(file(n), 'utf8').trim()]));
}

/** Writes `saved` back; returns the ones that differed (`name: now → saved`). */
export function restoreSysctls(saved: Record<string, string>): string[] {
  const changed: string[] = [];
  for (const [name, value] of Object.entries(saved)) {
    const now = readFileSync(file(name), 'utf8').trim();
    if (now === value) continue;
    writeFileSync(file(name), value);
    changed.push(`${name} ${now} → ${value}`);
  }
  return changed;
}
