import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { InvalidAddressError } from '@netboot/core/ip';
import {
  PoolExistsError,
  PoolOverlapError,
  ServiceCidrOverlapError,
  checkPoolFits,
  definePool,
  patchPool,
  poolBlockCount,
  poolSelectsNode,
} from '../src/pool.js';
import { InvalidArgumentError } from '../src/validate.js';

const isA = (cls: new (...args: never[]) => Error) => (err: unknown) => err instanceof cls;

test('fills defaults like flannel (v4 /24, v6 /64 blocks, NAT on)', () => {
  assert.equal(definePool({ name: 'default', cidr: '10.244.0.0/16' }), {
    name: 'default',
    cidr: '10.244.0.0/16',
    blockSize: 24,
    disabled: false,
    natOutgoing: true,
    mode: 'vxlan',
  });
  const v6 = definePool({ name: 'v6', cidr: 'fd00:10:244::/56', mode: 'host-gw' });
  assert.is(v6.blockSize, 64);
  assert.is(poolBlockCount(v6), 256n);
  assert.is(poolBlockCount(definePool({ name: 'a', cidr: '10.244.0.0/16', blockSize: 26 })), 1024n);
});

test('rejects bad specs naming the field', () => {
  const bad: [Parameters<typeof definePool>[0], string][] = [
    [{ name: 'a', cidr: '10.244.0.0/16', blockSize: 8 }, 'blockSize'],
    [{ name: 'a', cidr: '10.244.0.0/16', blockSize: 31 }, 'blockSize'],
    [{ name: 'a', cidr: '10.244.0.0/25', blockSize: 24 }, 'blockSize'], // pool smaller than one block
    [{ name: 'a', cidr: 'fd00::/64', blockSize: 127 }, 'blockSize'],
    [{ name: 'Bad_Name', cidr: '10.244.0.0/16' }, 'pool name'],
    [{ name: 'a', cidr: '10.244.0.0/16', mode: 'gre' as never }, 'mode'],
    [{ name: 'a', cidr: 'fd00::/48', mode: 'ipip' }, 'mode'],
    [{ name: 'a', cidr: '10.244.0.0/16', maxBlocksPerNode: 0 }, 'maxBlocksPerNode'],
    [{ name: 'a', cidr: '10.244.0.0/16', nodeSelector: { zone: 1 as never } }, 'nodeSelector'],
  ];
  for (const [spec, field] of bad) {
    assert.throws(
      () => definePool(spec),
      (err: unknown) => err instanceof InvalidArgumentError && err.field.endsWith(field),
      JSON.stringify(spec),
    );
  }
  assert.throws(() => definePool({ name: 'a', cidr: '10.244.1.0/16' }), isA(InvalidAddressError));
  assert.ok(definePool({ name: 'exact', cidr: '10.244.7.0/24', blockSize: 24 }));
});

test('pools may not overlap each other or the service CIDR; the error names both', () => {
  const a = definePool({ name: 'a', cidr: '10.244.0.0/16' });
  const b = definePool({ name: 'b', cidr: '10.244.128.0/17' });
  assert.throws(
    () => checkPoolFits(b, [a]),
    (err: unknown) => err instanceof PoolOverlapError && /b \(10\.244\.128\.0\/17\)/.test(err.message) && /pool a \(10\.244\.0\.0\/16\)/.test(err.message),
  );
  const wide = definePool({ name: 'wide', cidr: '10.0.0.0/8', blockSize: 24 });
  assert.throws(
    () => checkPoolFits(wide, [], '10.96.0.0/12'),
    (err: unknown) => err instanceof ServiceCidrOverlapError && err.message.includes('service CIDR 10.96.0.0/12'),
  );
  assert.throws(() => checkPoolFits(wide, [], ['fd00:96::/108', '10.96.0.0/12']), isA(ServiceCidrOverlapError));
  assert.throws(() => checkPoolFits(a, [a]), isA(PoolExistsError));
  checkPoolFits(definePool({ name: 'c', cidr: '10.245.0.0/16' }), [a], '10.96.0.0/12');
  checkPoolFits(definePool({ name: 'v6', cidr: 'fd00::/48' }), [a], '10.96.0.0/12');
});

test('patch changes mutable fields only', () => {
  const a = definePool({ name: 'a', cidr: '10.244.0.0/16', maxBlocksPerNode: 2 });
  assert.is(patchPool(a, { disabled: true }).disabled, true);
  assert.is(a.disabled, false); // the input is not mutated
  assert.not.ok('maxBlocksPerNode' in patchPool(a, { maxBlocksPerNode: undefined }));
  assert.throws(
    () => patchPool(a, { cidr: '10.245.0.0/16' } as never),
    (err: unknown) => err instanceof InvalidArgumentError && /immutable/.test(err.message),
  );
  assert.throws(() => patchPool(a, { blockSize: 26 } as never), isA(InvalidArgumentError));
  assert.throws(() => patchPool(a, { mode: 'nope' as never }), isA(InvalidArgumentError));
});

test('nodeSelector matches every label', () => {
  const p = definePool({ name: 'a', cidr: '10.244.0.0/16', nodeSelector: { zone: 'a', rack: '1' } });
  assert.ok(poolSelectsNode(p, { zone: 'a', rack: '1', extra: 'x' }));
  assert.not.ok(poolSelectsNode(p, { zone: 'a' }));
  assert.not.ok(poolSelectsNode(p, {}));
  assert.ok(poolSelectsNode(definePool({ name: 'b', cidr: '10.245.0.0/16' })));
});

test.run();
