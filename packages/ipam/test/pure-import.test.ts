// The pure entry points load no FFI: each case runs in a child Node process (the same
// `--conditions=source --import tsx` as scripts/test.mjs) in which `koffi` cannot be resolved, as on a
// laptop or any platform koffi has no build for. `@netboot/ipam/file` loads flock and so must fail
// there: that case proves the block works, so the others can fail.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const ipamDir = fileURLToPath(new URL('..', import.meta.url));

// Loader hooks that refuse `koffi` for ESM imports and for require(), whichever a module uses.
const HOOKS = `
export async function resolve(specifier, context, next) {
  if (specifier === 'koffi' || specifier.startsWith('koffi/')) {
    throw Object.assign(new Error('koffi is blocked (pure-import test)'), { code: 'ERR_MODULE_NOT_FOUND' });
  }
  return next(specifier, context);
}`;
const BLOCK_KOFFI = `
import Module, { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(HOOKS)}));
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === 'koffi' || request.startsWith('koffi/')) throw new Error('koffi is blocked (pure-import test)');
  return resolveFilename.call(this, request, ...rest);
};`;

/** Runs an ES module body with koffi blocked; returns the exit status and output. */
function runBlocked(body: string): { status: number | null; output: string } {
  const res = spawnSync(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', '--import', `data:text/javascript,${encodeURIComponent(BLOCK_KOFFI)}`, '--input-type=module', '-e', body],
    { cwd: ipamDir, encoding: 'utf8', timeout: 60_000, env: { ...process.env, FORCE_COLOR: '0' } },
  );
  return { status: res.status, output: `${res.stdout}${res.stderr}` };
}

function passes(body: string): string {
  const { status, output } = runBlocked(body);
  assert.is(status, 0, output);
  return output;
}

test('@netboot/ipam does CIDR math and allocates over MemoryKv without koffi', () => {
  const out = passes(`
    import { Cidr, ClusterIpam, MemoryKv, RangeAllocator, parseCidrList } from '@netboot/ipam';
    const c = Cidr.parse('10.244.0.0/16');
    if (c.nthSubnet(24, 3n).toString() !== '10.244.3.0/24') throw new Error('nthSubnet');
    if (parseCidrList('10.244.0.0/16,fd00:10:244::/56').length !== 2) throw new Error('parseCidrList');
    if (typeof RangeAllocator !== 'function') throw new Error('RangeAllocator');
    const ipam = new ClusterIpam(new MemoryKv());
    await ipam.createPool({ name: 'default', cidr: '10.244.0.0/16' });
    const r = await ipam.allocate('node-1', { containerId: 'c1', ifname: 'eth0' });
    if (!c.contains(r.ip)) throw new Error('allocated ' + r.ip);
    console.log('allocated', r.ip);
  `);
  assert.match(out, /allocated 10\.244\.\d+\.\d+/);
});

test('@netboot/core/ip and @netboot/core/errors load without koffi', () => {
  const out = passes(`
    import { parseIp, networkOf, InvalidAddressError } from '@netboot/core/ip';
    import { errorKind, InvalidInputError } from '@netboot/core/errors';
    if (parseIp('FD00::0:1').address !== 'fd00::1') throw new Error('parseIp');
    if (networkOf('10.244.1.7/24') !== '10.244.1.0/24') throw new Error('networkOf');
    try { parseIp('10.0.0.256'); } catch (err) {
      if (!(err instanceof InvalidInputError) || !(err instanceof InvalidAddressError)) throw err;
      console.log('kind', errorKind(err));
    }
  `);
  assert.match(out, /kind invalid/);
});

test('the PodIpam contract on MemoryKv (pod-ipam.test.ts) runs without koffi', () => {
  const out = passes(`await import('./test/pod-ipam.test.ts');`);
  assert.match(out, /Passed:\s+[1-9]/);
});

test('@netboot/ipam/file needs koffi (the block is real)', () => {
  const { status, output } = runBlocked(`await import('@netboot/ipam/file');`);
  assert.is.not(status, 0, output);
  assert.match(output, /koffi is blocked/);
});

test('@netboot/core (the full index) needs koffi', () => {
  const { status, output } = runBlocked(`await import('@netboot/core');`);
  assert.is.not(status, 0, output);
  assert.match(output, /koffi is blocked/);
});

test('ipam reaches core only through @netboot/core/ip, /errors and /ifname, and /flock from store/file.ts alone', () => {
  const src = join(ipamDir, 'src');
  const files = readdirSync(src, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  const seen: string[] = [];
  for (const file of files) {
    for (const [, spec] of readFileSync(join(src, file), 'utf8').matchAll(/from '(@netboot\/core[^']*)'/g)) {
      const pure = ['@netboot/core/ip', '@netboot/core/errors', '@netboot/core/ifname'];
      const allowed = pure.includes(spec!) || (spec === '@netboot/core/flock' && file === join('store', 'file.ts'));
      assert.ok(allowed, `${relative(ipamDir, join(src, file))} imports ${spec}`);
      seen.push(spec!);
    }
  }
  assert.ok(seen.includes('@netboot/core/ip'), 'the scan found the imports it checks');
});

test.run();
