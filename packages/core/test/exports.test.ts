// The public surface of @netboot/core, pinned: every name each entry point exports (values and types),
// sorted. A change to the surface fails here until the list below changes with it, so adding,
// renaming or dropping an export is a decision someone wrote down, not a side effect.
//
// Names come from the TypeScript checker (so types count too) and values are checked against what
// the module really exports at run time. Entry points name their exports one by one: no `export *`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import ts from 'typescript';

const src = join(import.meta.dirname, '..', 'src');

/** package.json's subpath → its source file, as package.json and tsconfig map them. */
const ENTRIES: Record<string, string> = {
  '@netboot/core': join(src, 'index.ts'),
  '@netboot/core/ip': join(src, 'public', 'ip.ts'),
  '@netboot/core/errors': join(src, 'public', 'errors.ts'),
  '@netboot/core/ifname': join(src, 'public', 'ifname.ts'),
  '@netboot/core/flock': join(src, 'public', 'flock.ts'),
  '@netboot/core/testing': join(src, 'public', 'testing.ts'),
  '@netboot/core/testing/pure': join(src, 'public', 'testing', 'pure.ts'),
};

const SURFACE: Record<string, { values: string[]; types: string[] }> = {
  '@netboot/core': {
    values: [
      'AddrApi',
      'AddrSpecError',
      'AsyncInNetnsError',
      'DumpCache',
      'DumpInterruptedError',
      'InvalidAddressError',
      'InvalidInputError',
      'InvalidLinkSpecError',
      'InvalidNetnsNameError',
      'LinkApi',
      'LinkNotFoundError',
      'NETNS_RUN_DIR',
      'NeighApi',
      'NeighSpecError',
      'NetbootError',
      'NetlinkDecodeError',
      'NetlinkEncodeError',
      'NetlinkError',
      'NetlinkOptionsError',
      'NetlinkSchemaError',
      'NetlinkSocket',
      'NetlinkTimeoutError',
      'NetnsExistsError',
      'NetnsNotFoundError',
      'NexthopApi',
      'NexthopSpecError',
      'Nft',
      'NftElementError',
      'NotANetnsError',
      'RawEvent',
      'RouteApi',
      'RouteSpecError',
      'Rtnl',
      'SocketClosedError',
      'SpecError',
      'SyscallError',
      'SysctlError',
      'UnsupportedPlatformError',
      'constants',
      'createNetns',
      'currentNetns',
      'decodeAddress',
      'decodeLink',
      'decodeMessages',
      'decodeNeigh',
      'decodeNexthop',
      'decodeRoute',
      'deleteNetns',
      'encodeMessage',
      'ensureAddr',
      'ensureLink',
      'errorKind',
      'isBusy',
      'isExist',
      'isNeigh',
      'isNexthop',
      'isNotFound',
      'isRoute',
      'listNetns',
      'monitor',
      'neighAt',
      'nexthopIdAt',
      'openNetns',
      'openSocket',
      'peerPid',
      'routeDstAt',
      'runIn',
      'sameNetns',
      'setElementRequests',
      'sysctlGet',
      'sysctlSet',
      'validateIfName',
      'validateNetnsName',
    ],
    types: [
      'AddrOptions',
      'AddrScope',
      'Address',
      'AttrValue',
      'Attrs',
      'BridgeSpec',
      'DecodeContext',
      'ErrorKind',
      'IpFamily',
      'Link',
      'LinkKind',
      'LinkPatch',
      'LinkRef',
      'LinkSpec',
      'MacvlanMode',
      'MacvlanSpec',
      'MonitorEvent',
      'MonitorGroup',
      'Neigh',
      'NeighFamily',
      'NeighFilter',
      'NeighSpec',
      'NeighState',
      'Netns',
      'NetnsMonitorOptions',
      'NetnsRef',
      'Nexthop',
      'NexthopFilter',
      'NexthopObject',
      'NexthopObjectSpec',
      'NftElement',
      'NftFamily',
      'NftOpenOptions',
      'NftSetChange',
      'NftSetRef',
      'NlMessage',
      'OpenOptions',
      'Request',
      'Route',
      'RouteFilter',
      'RouteGetOptions',
      'RouteScope',
      'RouteSpec',
      'RouteType',
      'RtnlOpenOptions',
      'SysctlOptions',
      'Transport',
      'VethPeerSpec',
      'VethSpec',
      'VxlanSpec',
    ],
  },
  '@netboot/core/ip': {
    values: [
      'AF_INET',
      'AF_INET6',
      'InvalidAddressError',
      'afOf',
      'bitsOf',
      'broadcastOf',
      'bytesToIp',
      'bytesToMac',
      'familyOf',
      'familyOfAf',
      'formatPrefix',
      'ipToBytes',
      'ipToValue',
      'macToBytes',
      'networkOf',
      'normalizeIp',
      'parseIp',
      'parseMac',
      'parsePrefix',
      'valueToIp',
    ],
    types: ['IpFamily', 'IpValue', 'ParsedIp', 'ParsedPrefix'],
  },
  '@netboot/core/errors': {
    values: ['ERROR_KINDS', 'InvalidInputError', 'NetbootError', 'UnsupportedPlatformError', 'errorKind'],
    types: ['ErrorKind'],
  },
  '@netboot/core/ifname': {
    values: ['GO_SPACE', 'IFNAME_MAX_BYTES', 'ifNameProblem'],
    types: [],
  },
  '@netboot/core/flock': {
    values: ['LOCK_EX', 'LOCK_NB', 'LOCK_SH', 'LOCK_UN', 'flock'],
    types: [],
  },
  '@netboot/core/testing': {
    values: [
      'CommandError',
      'EtcdStartError',
      'RequestRecorder',
      'freePort',
      'ifindexOf',
      'ipJson',
      'isA',
      'missingLinkKind',
      'missingPrivileges',
      'openFds',
      'privileged',
      'readGolden',
      'rejectsA',
      'runWithout',
      'sh',
      'skipIf',
      'startEtcd',
      'tempNetns',
      'throwsA',
      'withNetns',
      'withRtnl',
      'withTempDir',
      'withVethNs',
    ],
    types: [
      'Answer',
      'CannedReply',
      'ErrorClass',
      'EtcdFixture',
      'RequestMatch',
      'RunWithoutOptions',
      'RunWithoutResult',
      'StartEtcdOptions',
      'TempNetns',
      'TestRegistrar',
    ],
  },
  '@netboot/core/testing/pure': {
    values: ['isA', 'missingPrivileges', 'openFds', 'privileged', 'rejectsA', 'runWithout', 'skipIf', 'throwsA', 'withTempDir'],
    types: ['ErrorClass', 'RunWithoutOptions', 'RunWithoutResult', 'TestRegistrar'],
  },
};

const program = ts.createProgram(Object.values(ENTRIES), {
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  target: ts.ScriptTarget.ES2022,
  strict: true,
  noEmit: true,
  skipLibCheck: true,
  types: ['node'],
});
const checker = program.getTypeChecker();

/** Every name the entry exports, split into values (anything with a run-time binding) and types. */
function declared(file: string): { values: string[]; types: string[] } {
  const source = program.getSourceFile(file);
  const symbol = source && checker.getSymbolAtLocation(source);
  if (symbol === undefined) throw new Error(`no module symbol for ${file}`);
  const values: string[] = [];
  const types: string[] = [];
  for (const exported of checker.getExportsOfModule(symbol)) {
    const target = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    (target.flags & ts.SymbolFlags.Value ? values : types).push(exported.name);
  }
  return { values: values.sort(), types: types.sort() };
}

for (const [entry, file] of Object.entries(ENTRIES)) {
  test(`${entry}: the pinned surface`, async () => {
    const want = SURFACE[entry];
    assert.ok(want, `pin ${entry} in SURFACE`);
    const got = declared(file);
    assert.equal(got, want);
    assert.equal(Object.keys(await import(file)).sort(), want.values, 'the values are what the module exports at run time');
  });

  test(`${entry}: names its exports (no export * from)`, () => {
    assert.not.match(readFileSync(file, 'utf8'), /^export \* from/m);
  });
}

test.run();
