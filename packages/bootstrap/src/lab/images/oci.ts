// OCI image archives written by netboot itself, so a lab's containerd runs pods with no registry: a
// rootfs folder becomes one gzip'd tar layer, a config and a manifest (each a blob named by its sha256),
// an index.json whose `io.containerd.image.name` annotation is the name the image gets on import, and
// the `oci-layout` marker — then all of it one tar, which `ctr -n k8s.io images import FILE` takes.
// `ociLayout` is pure (bytes in, files out); `writeOciArchive` runs GNU tar for the two tars.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';

export const MEDIA = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

/** What runs in the image (the image config's `config`). */
interface ImageRun {
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  workingDir?: string;
}

export interface ImageSpec extends ImageRun {
  /**
   * The full name the image is stored under, as CRI normalises it (`docker.io/netboot/pause:1`; CRI
   * looks `netboot/pause:1` up as that).
   */
  name: string;
}

/** A file of the layout: its path inside the archive and its bytes. */
interface LayoutFile {
  path: string;
  data: Buffer;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
const blob = (digest: string): string => `blobs/sha256/${digest.slice('sha256:'.length)}`;

/**
 * The OCI image layout of one linux/amd64 image whose single layer is the uncompressed tar `layerTar`:
 * `oci-layout`, `index.json` and the three blobs (gzip'd layer, config with the layer's diff ID,
 * manifest). Deterministic: the same tar gives the same digests.
 */
export function ociLayout(spec: ImageSpec, layerTar: Buffer): { files: LayoutFile[]; manifest: Descriptor } {
  // mtime 0 in the gzip header (Node's default) keeps the digest a function of the tar alone.
  const layer = gzipSync(layerTar, { level: 9 });
  const layerDesc: Descriptor = { mediaType: MEDIA.layer, digest: sha256(layer), size: layer.length };
  const config = json({
    architecture: 'amd64',
    os: 'linux',
    config: {
      ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}),
      ...(spec.cmd ? { Cmd: spec.cmd } : {}),
      Env: spec.env ?? ['PATH=/bin'],
      WorkingDir: spec.workingDir ?? '/',
    },
    rootfs: { type: 'layers', diff_ids: [sha256(layerTar)] },
    history: [{ created_by: 'netboot lab images' }],
  });
  const configDesc: Descriptor = { mediaType: MEDIA.config, digest: sha256(config), size: config.length };
  const manifest = json({ schemaVersion: 2, mediaType: MEDIA.manifest, config: configDesc, layers: [layerDesc] });
  const manifestDesc: Descriptor = { mediaType: MEDIA.manifest, digest: sha256(manifest), size: manifest.length };
  const tag = spec.name.slice(spec.name.lastIndexOf(':') + 1);
  const index = json({
    schemaVersion: 2,
    mediaType: MEDIA.index,
    manifests: [{ ...manifestDesc, annotations: { 'io.containerd.image.name': spec.name, 'org.opencontainers.image.ref.name': tag } }],
  });
  return {
    manifest: manifestDesc,
    files: [
      { path: 'oci-layout', data: json({ imageLayoutVersion: '1.0.0' }) },
      { path: 'index.json', data: index },
      { path: blob(layerDesc.digest), data: layer },
      { path: blob(configDesc.digest), data: config },
      { path: blob(manifestDesc.digest), data: manifest },
    ],
  };
}

/**
 * The folder `rootfs` as an uncompressed tar with fixed owners and times, entries sorted
 * (`tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C ROOTFS -c .`).
 */
function tarFolder(dir: string): Buffer {
  // biome-ignore format: flag groups
  return execFileSync('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '--format=posix',
    '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime', '-C', dir, '-c', '.'], { maxBuffer: 512 << 20 });
}

/** Writes the image of `rootfs` as an OCI archive at `file` (the tar `ctr images import` reads); returns its manifest. */
export function writeOciArchive(spec: ImageSpec, rootfs: string, file: string): Descriptor {
  const { files, manifest } = ociLayout(spec, tarFolder(rootfs));
  const staging = mkdtempSync(join(tmpdir(), 'nbt-oci-'));
  try {
    for (const f of files) {
      mkdirSync(dirname(join(staging, f.path)), { recursive: true });
      writeFileSync(join(staging, f.path), f.data);
    }
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, tarFolder(staging));
    return manifest;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}
