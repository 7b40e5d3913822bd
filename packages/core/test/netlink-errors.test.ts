// Error kinds of the protocol layer: what each failure tells a caller to do (base/errors.ts lists
// the kinds). Pure: builds the errors the socket and codec throw, without a socket.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NetbootError } from '../src/base/errors.js';
import { errnoKind, errnoName, SyscallError } from '../src/base/errno.js';
import {
  DumpInterruptedError,
  isBusy,
  isExist,
  isNotFound,
  NetlinkDecodeError,
  NetlinkEncodeError,
  NetlinkError,
  NetlinkTimeoutError,
} from '../src/netlink/errors.js';
import { constants } from 'node:os';

const E = constants.errno;
const refusal = (errno: number): NetlinkError => new NetlinkError({ errno, op: 'RTM_NEWLINK', seq: 1 });

test('NetlinkError: kind from the errno', () => {
  const expected: [number, string][] = [
    [E.EEXIST, 'exists'],
    [E.ENOENT, 'not-found'],
    [E.ENODEV, 'not-found'],
    [E.ESRCH, 'not-found'],
    [E.EADDRNOTAVAIL, 'not-found'],
    [E.ENXIO, 'not-found'],
    [E.EBUSY, 'conflict'],
    [E.EINVAL, 'invalid'],
    [E.ERANGE, 'invalid'],
    [E.EOPNOTSUPP, 'invalid'],
    [E.EAFNOSUPPORT, 'invalid'],
    [E.EPROTONOSUPPORT, 'invalid'],
    [E.EAGAIN, 'unavailable'],
    [E.ENOBUFS, 'unavailable'],
    [E.ETIMEDOUT, 'unavailable'],
    [E.EPERM, 'internal'],
    [E.ENOMEM, 'internal'],
  ];
  for (const [errno, kind] of expected) {
    const e = refusal(errno);
    assert.instance(e, NetbootError);
    assert.is(e.kind, kind, `${e.code} is ${kind}`);
    assert.is(e.name, 'NetlinkError');
  }
});

test('isExist / isNotFound / isBusy still answer by errno', () => {
  assert.ok(isExist(refusal(E.EEXIST)));
  assert.ok(isNotFound(refusal(E.ENODEV)));
  assert.ok(isNotFound(refusal(E.EADDRNOTAVAIL)));
  assert.ok(isBusy(refusal(E.EBUSY)));
  assert.not.ok(isExist(refusal(E.EBUSY)));
  assert.not.ok(isNotFound(new Error('ENODEV')));
});

test('the other protocol errors: encode invalid, decode internal, interrupted and timed out unavailable', () => {
  const cases: [NetbootError, string, string][] = [
    [new NetlinkEncodeError('bad', ['RTM_NEWLINK']), 'invalid', 'NetlinkEncodeError'],
    [new NetlinkDecodeError('bad', { path: [], offset: 0 }), 'internal', 'NetlinkDecodeError'],
    [new DumpInterruptedError('RTM_GETROUTE', 4, []), 'unavailable', 'DumpInterruptedError'],
    [new NetlinkTimeoutError('RTM_GETLINK', 10), 'unavailable', 'NetlinkTimeoutError'],
  ];
  for (const [e, kind, name] of cases) {
    assert.instance(e, NetbootError);
    assert.is(e.kind, kind, name);
    assert.is(e.name, name);
  }
});

test('SyscallError: kind from the errno, the same table', () => {
  const e = new SyscallError('setns', E.EINVAL);
  assert.instance(e, NetbootError);
  assert.is(e.kind, 'invalid');
  assert.is(e.code, 'EINVAL');
  assert.is(e.name, 'SyscallError');
  assert.is(new SyscallError('recvfrom', E.ENOBUFS).kind, 'unavailable');
  assert.is(new SyscallError('open', E.EACCES).kind, 'internal');
  assert.is(errnoName(95), 'EOPNOTSUPP', 'the kernel means EOPNOTSUPP, not ENOTSUP');
  assert.is(errnoName(-17), 'EEXIST');
  assert.is(errnoKind('E4242'), 'internal');
});

test.run();
