// The OCI archives netboot writes for a kubelet lab's images, read back with independent tools: GNU tar
// unpacks the archive, every blob's sha256 and size must match its descriptor, the config's diff ID must
// be the sha256 of the gunzipped layer, and the layer must hold busybox and its applet links.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildLabImages, HTTP_TEST, missingBusybox, PAUSE } from '../src/lab/images/busybox.js';
import { MEDIA, ociLayout } from '../src/lab/images/oci.js';

const hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('ociLayout is deterministic and names every blob by its sha256', () => {
  const tar = Buffer.from('not really a tar, but bytes are bytes');
  const a = ociLayout({ name: 'docker.io/x/y:2', cmd: ['/bin/sh'] }, tar);
  const b = ociLayout({ name: 'docker.io/x/y:2', cmd: ['/bin/sh'] }, tar);
  assert.equal(a.manifest, b.manifest);
  for (const f of a.files.filter((f) => f.path.startsWith('blobs/'))) assert.is(f.path, `blobs/sha256/${hex(f.data)}`);
  const index = JSON.parse(a.files.find((f) => f.path === 'index.json')!.data.toString());
  assert.is(index.manifests[0].annotations['io.containerd.image.name'], 'docker.io/x/y:2');
  assert.is(index.manifests[0].annotations['org.opencontainers.image.ref.name'], '2');
  const other = ociLayout({ name: 'docker.io/x/y:2', cmd: ['/bin/true'] }, tar);
  assert.is.not(other.manifest.digest, a.manifest.digest);
});

test('the lab images unpack with tar into a valid OCI layout', () => {
  const missing = missingBusybox();
  if (missing !== undefined) {
    if (process.env.CI) throw new Error(missing);
    console.log(`  skipped: ${missing}`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'nbt-oci-test-'));
  try {
    const images = buildLabImages(dir);
    assert.equal(
      images.map((i) => i.name),
      [PAUSE.name, HTTP_TEST.name],
    );
    for (const { name, archive } of images) {
      const out = join(dir, `${name.replace(/\W/g, '_')}.d`);
      execFileSync('mkdir', ['-p', out]);
      execFileSync('tar', ['-xf', archive, '-C', out]);
      assert.equal(JSON.parse(readFileSync(join(out, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
      const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8'));
      assert.is(index.mediaType, MEDIA.index);
      assert.is(index.manifests.length, 1);
      assert.is(index.manifests[0].annotations['io.containerd.image.name'], name);
      const read = (d: { digest: string; size: number; mediaType: string }) => {
        const file = join(out, 'blobs', 'sha256', d.digest.replace('sha256:', ''));
        const data = readFileSync(file);
        assert.is(`sha256:${hex(data)}`, d.digest, `${file} digest`);
        assert.is(statSync(file).size, d.size, `${file} size`);
        return data;
      };
      const manifest = JSON.parse(read(index.manifests[0]).toString());
      assert.is(manifest.mediaType, MEDIA.manifest);
      assert.is(manifest.config.mediaType, MEDIA.config);
      const config = JSON.parse(read(manifest.config).toString());
      assert.is(config.os, 'linux');
      assert.is(config.architecture, 'amd64');
      assert.is(manifest.layers.length, 1);
      assert.is(manifest.layers[0].mediaType, MEDIA.layer);
      const layer = gunzipSync(read(manifest.layers[0]));
      assert.equal(config.rootfs, { type: 'layers', diff_ids: [`sha256:${hex(layer)}`] });
      assert.ok(config.config.Entrypoint[0] === '/bin/sh');
      // The layer itself: busybox and its links, owned by root.
      const rootfs = join(out, 'rootfs');
      execFileSync('mkdir', ['-p', rootfs]);
      execFileSync('tar', ['-x', '-C', rootfs], { input: layer });
      assert.is(readlinkSync(join(rootfs, 'bin', 'sh')), 'busybox');
      assert.ok(statSync(join(rootfs, 'bin', 'busybox')).mode & 0o111);
      const listing = execFileSync('tar', ['-tv'], { input: layer, encoding: 'utf8' });
      assert.not.match(listing, /^\S+ [1-9]\d*\//m, 'every entry owned by uid 0');
    }
    // Both images share the layer: one blob for containerd to store.
    const layers = images.map(({ name }) => {
      const out = join(dir, `${name.replace(/\W/g, '_')}.d`);
      const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8'));
      const manifest = JSON.parse(readFileSync(join(out, 'blobs', 'sha256', index.manifests[0].digest.replace('sha256:', '')), 'utf8'));
      return manifest.layers[0].digest;
    });
    assert.is(layers[0], layers[1]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
