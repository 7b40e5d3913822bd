// The dispatcher, driven in-process with fake verbs: env and stdin checks, error codes and shapes.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type CniIo, type CniRequest, dispatch, type Verbs } from '../src/cni/skel.js';
import { version } from '../src/cni/verbs/version.js';

const CONF = { cniVersion: '1.0.0', name: 'podnet', type: 'netboot', ipam: { type: 'netboot', ranges: [[{ subnet: '10.244.1.0/24' }]] } };
const ADD_ENV = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/x', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin:/usr/lib/cni' };

async function run(env: Record<string, string>, stdin: unknown = CONF) {
  let out = '';
  const calls: CniRequest[] = [];
  const record = async (req: CniRequest) => {
    calls.push(req);
    return { ok: req.env.command };
  };
  const verbs: Verbs = { add: record, del: record, check: record, status: record, gc: record, version };
  const io: CniIo = {
    env,
    readStdin: () => (typeof stdin === 'string' ? stdin : JSON.stringify(stdin)),
    stdout: (t) => (out += t),
    stderr: () => {},
  };
  const code = await dispatch(io, verbs);
  return { code, out: out === '' ? undefined : JSON.parse(out), calls };
}

test('ADD gets a typed request: env split and checked, config with bridge defaults', async () => {
  const { code, out, calls } = await run({ ...ADD_ENV, CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=web' });
  assert.is(code, 0);
  assert.equal(out, { ok: 'ADD' });
  const { env, conf } = calls[0]!;
  assert.equal(env, {
    command: 'ADD',
    containerId: 'c1',
    netns: '/run/netns/x',
    ifname: 'eth0',
    args: { IgnoreUnknown: '1', K8S_POD_NAME: 'web' },
    path: ['/opt/cni/bin', '/usr/lib/cni'],
  });
  assert.equal([conf.bridge, conf.isGateway, conf.isDefaultGateway, conf.ipMasq, conf.mtu, conf.hairpinMode], ['cni0', true, true, false, undefined, false]);
});

test('a missing or unknown CNI_COMMAND is error 4 with the config version (the reference exits 0)', async () => {
  for (const command of [undefined, 'FROB']) {
    const env: Record<string, string> = { ...ADD_ENV };
    if (command === undefined) delete env.CNI_COMMAND;
    else env.CNI_COMMAND = command;
    const { code, out } = await run(env);
    assert.is(code, 1);
    assert.is(out.code, 4);
    assert.is(out.cniVersion, '1.0.0');
    assert.match(out.msg, 'CNI_COMMAND');
  }
});

test('each missing variable a verb needs is error 4 naming it; DEL does without CNI_NETNS', async () => {
  for (const name of ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME']) {
    const env: Record<string, string> = { ...ADD_ENV };
    delete env[name];
    const { out } = await run(env);
    assert.is(out.code, 4, name);
    assert.match(out.msg, name);
  }
  const env: Record<string, string> = { ...ADD_ENV, CNI_COMMAND: 'DEL' };
  delete env.CNI_NETNS;
  assert.is((await run(env)).code, 0);
});

test('malformed variables are error 4 naming them', async () => {
  const cases: [string, string][] = [
    ['CNI_CONTAINERID', '../etc'],
    ['CNI_IFNAME', 'a-very-long-interface-name'],
    ['CNI_NETNS', 'relative/path'],
    ['CNI_ARGS', 'novalue'],
  ];
  for (const [name, value] of cases) {
    const { out } = await run({ ...ADD_ENV, [name]: value });
    assert.is(out.code, 4, name);
    assert.match(out.msg, name);
  }
});

test('stdin that is not a JSON object is error 6; an unsupported cniVersion error 1', async () => {
  assert.is((await run(ADD_ENV, '{not json')).out.code, 6);
  assert.is((await run(ADD_ENV, '')).out.code, 6);
  assert.is((await run(ADD_ENV, [1, 2])).out.code, 6);
  const old = await run(ADD_ENV, { ...CONF, cniVersion: '0.2.0' });
  assert.is(old.out.code, 1);
  assert.is(old.out.cniVersion, '1.1.0', 'an unsupported version is not echoed back');
  assert.match(old.out.msg, '0.3.0');
});

test('STATUS and GC need a 1.1.0 config (error 1), and need no attachment variables', async () => {
  assert.is((await run({ CNI_COMMAND: 'STATUS' })).out.code, 1);
  const ok = await run({ CNI_COMMAND: 'GC' }, { ...CONF, cniVersion: '1.1.0', 'cni.dev/valid-attachments': [{ containerID: 'c1', ifname: 'eth0' }] });
  assert.is(ok.code, 0);
  assert.equal(ok.calls[0]!.conf.validAttachments, [{ containerId: 'c1', ifname: 'eth0' }]);
});

test('CHECK needs a 0.4.0 config (error 1), as the spec added it there', async () => {
  const check = { ...ADD_ENV, CNI_COMMAND: 'CHECK' };
  assert.is((await run(check, { ...CONF, cniVersion: '0.3.1' })).out.code, 1);
  assert.is((await run(check, { ...CONF, cniVersion: '0.4.0' })).code, 0);
});

test('VERSION answers without a config and lists 0.3.0 … 1.1.0', async () => {
  const { code, out } = await run({ CNI_COMMAND: 'VERSION' }, '');
  assert.is(code, 0);
  assert.equal(out, { cniVersion: '1.1.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
});

test('a thrown non-CNI error becomes 999 with its message, still JSON on stdout', async () => {
  let out = '';
  const boom = async () => {
    throw new Error('kernel said no');
  };
  const code = await dispatch(
    { env: ADD_ENV, readStdin: () => JSON.stringify(CONF), stdout: (t) => (out += t), stderr: () => {} },
    { add: boom, del: boom, check: boom, status: boom, gc: boom, version },
  );
  assert.is(code, 1);
  assert.equal(JSON.parse(out), { cniVersion: '1.0.0', code: 999, msg: 'kernel said no' });
});

test('logs go to stderr, and to logFile when the config names one; stdout carries only the reply', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nbt-log-'));
  try {
    const logFile = join(dir, 'cni.log');
    let out = '';
    let err = '';
    const fail = async () => {
      throw new Error('no bridge today');
    };
    await dispatch(
      { env: ADD_ENV, readStdin: () => JSON.stringify({ ...CONF, logFile }), stdout: (t) => (out += t), stderr: (t) => (err += t) },
      { add: fail, del: fail, check: fail, status: fail, gc: fail, version },
    );
    assert.is(JSON.parse(out).msg, 'no bridge today');
    assert.match(err, 'ADD c1/eth0: error 999: no bridge today');
    assert.match(readFileSync(logFile, 'utf8'), 'ADD c1/eth0: error 999: no bridge today');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
