// The two images a kubelet lab needs, from Debian's busybox-static (one static binary, no libc to
// copy): the pod sandbox ("pause") and a test image answering HTTP. Both share one rootfs — the same
// layer blob, stored once by containerd. Each entrypoint is a shell that traps TERM: PID 1 of a pod
// ignores signals it has no handler for, and a pod that ignores TERM takes its whole grace period to die.
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetbootError } from '@netboot/core/errors';
import { type ImageSpec, writeOciArchive } from './oci.js';

const BUSYBOX = '/usr/bin/busybox';
const APPLETS = ['sh', 'sleep', 'httpd', 'nc', 'wget', 'ip', 'cat', 'echo', 'hostname', 'ls', 'ps', 'ping', 'true'];

/** No static busybox on this machine. */
class BusyboxMissingError extends NetbootError {
  readonly kind = 'unavailable' as const;
}

/** Sleeps until TERM or INT (`sleep` in the background so the trap runs at once). */
export const PAUSE: ImageSpec = {
  name: 'docker.io/netboot/pause:1',
  entrypoint: ['/bin/sh', '-c', "trap 'exit 0' TERM INT; while :; do sleep 86400 & wait $!; done"],
};

/** `httpd` on port 8080 serving /www/index.html (the pod's hostname); exits on TERM. */
export const HTTP_TEST: ImageSpec = {
  name: 'docker.io/netboot/busybox-http:1',
  entrypoint: ['/bin/sh', '-c', "trap 'exit 0' TERM INT; hostname > /www/index.html; httpd -f -p 8080 -h /www & wait $!"],
};

/** Why the images cannot be built here, or undefined. */
export function missingBusybox(): string | undefined {
  return existsSync(BUSYBOX) ? undefined : `no ${BUSYBOX}: \`apt-get install busybox-static\``;
}

/** Lays out the rootfs in `dir`: /bin/busybox, one symlink per applet, /www, /etc/passwd, /tmp. */
function busyboxRootfs(dir: string): void {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  copyFileSync(BUSYBOX, join(dir, 'bin', 'busybox'));
  chmodSync(join(dir, 'bin', 'busybox'), 0o755);
  for (const applet of APPLETS) symlinkSync('busybox', join(dir, 'bin', applet));
  for (const d of ['www', 'etc', 'tmp', 'proc', 'sys', 'dev']) mkdirSync(join(dir, d), { recursive: true });
  chmodSync(join(dir, 'tmp'), 0o1777);
  writeFileSync(join(dir, 'etc', 'passwd'), 'root:x:0:0:root:/:/bin/sh\n');
  writeFileSync(join(dir, 'etc', 'group'), 'root:x:0:\n');
}

/**
 * Writes the pause and test images as OCI archives into `dir` (`pause.tar`, `busybox-http.tar`);
 * returns their paths with the names they import as.
 */
export function buildLabImages(dir: string): { name: string; archive: string }[] {
  const missing = missingBusybox();
  if (missing !== undefined) throw new BusyboxMissingError(missing);
  const rootfs = mkdtempSync(join(tmpdir(), 'nbt-rootfs-'));
  try {
    busyboxRootfs(rootfs);
    return [
      { spec: PAUSE, file: 'pause.tar' },
      { spec: HTTP_TEST, file: 'busybox-http.tar' },
    ].map(({ spec, file }) => {
      const archive = join(dir, file);
      writeOciArchive(spec, rootfs, archive);
      return { name: spec.name, archive };
    });
  } finally {
    rmSync(rootfs, { recursive: true, force: true });
  }
}
