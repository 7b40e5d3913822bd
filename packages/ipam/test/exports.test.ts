// The public surface of each entry point, pinned: adding, renaming or removing an export must change this
// file too, so it is a decision and not an accident. Values are checked against what the module really
// exports at run time; types (erased at run time) against what the TypeScript checker sees.
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import ts from 'typescript';

const src = join(import.meta.dirname, '..', 'src');
const entries = {
  '@netboot/ipam': join(src, 'index.ts'),
  '@netboot/ipam/file': join(src, 'public', 'file.ts'),
  '@netboot/ipam/etcd': join(src, 'public', 'etcd.ts'),
};

const expected: Record<keyof typeof entries, { values: string[]; types: string[] }> = {
  '@netboot/ipam': {
    values: [
      'BLOCK_SIZE_RANGE',
      'BlockAffinityError',
      'BlockInUseError',
      'Cidr',
      'ClusterIpam',
      'CorruptEntryError',
      'DEFAULT_BLOCK_SIZE',
      'InvalidAddressError',
      'InvalidArgumentError',
      'InvalidRangeError',
      'IpExhaustedError',
      'IpInUseError',
      'KvConflictError',
      'KvUnavailableError',
      'MAX_READS_PER_TXN',
      'MemoryKv',
      'MemoryKvClosedError',
      'PoolExistsError',
      'PoolInUseError',
      'PoolNotFoundError',
      'PoolOverlapError',
      'ROUTING_MODES',
      'RangeAllocator',
      'RangeExhaustedError',
      'ServiceCidrOverlapError',
      'checkPoolFits',
      'definePool',
      'parseCidrList',
      'poolBlockCount',
      'readInTransactions',
      'validateAttachment',
      'validateContainerId',
      'validateIfname',
      'validateNetworkName',
      'validateNodeName',
    ],
    types: [
      'AllocateOptions',
      'Allocation',
      'Attachment',
      'BlockInfo',
      'BlockUsage',
      'CheckOptions',
      'CheckReport',
      'ClaimOptions',
      'ClusterIpamOptions',
      'ForNodeOptions',
      'IpPool',
      'IpPoolPatch',
      'IpPoolSpec',
      'KvEntry',
      'KvOp',
      'KvRead',
      'KvStore',
      'NodeOptions',
      'PodAddress',
      'PodAllocateOptions',
      'PodIpam',
      'PoolUsage',
      'Problem',
      'ProblemKind',
      'RangeSpec',
      'ReleaseResult',
      'Reservation',
      'ReservationFilter',
      'RoutingMode',
      'Usage',
    ],
  },
  '@netboot/ipam/file': {
    values: ['DEFAULT_DATA_DIR', 'FileStore', 'LocalIpam', 'NodeRangeExhaustedError', 'StoreNotLockedError'],
    types: ['CorruptFileEntry', 'FileEntry', 'FileStoreChange'],
  },
  '@netboot/ipam/etcd': {
    values: ['EtcdKv', 'EtcdRequestError', 'openEtcdKv'],
    types: ['EtcdKvOptions'],
  },
};

// Every export of each entry as the checker sees it, split into values and type-only names.
function checkerExports(): Record<string, { values: string[]; types: string[] }> {
  const program = ts.createProgram(Object.values(entries), {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    noEmit: true,
    customConditions: ['source'],
  });
  const checker = program.getTypeChecker();
  const out: Record<string, { values: string[]; types: string[] }> = {};
  for (const [name, path] of Object.entries(entries)) {
    const module = checker.getSymbolAtLocation(program.getSourceFile(path)!)!;
    const values: string[] = [];
    const types: string[] = [];
    for (const symbol of checker.getExportsOfModule(module)) {
      const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
      (target.flags & ts.SymbolFlags.Value ? values : types).push(symbol.name);
    }
    out[name] = { values: values.sort(), types: types.sort() };
  }
  return out;
}

test('each entry point exports exactly the pinned values and types', async () => {
  const seen = checkerExports();
  for (const [name, path] of Object.entries(entries) as [keyof typeof entries, string][]) {
    const runtime = Object.keys(await import(path)).sort();
    assert.equal(runtime, [...expected[name].values].sort(), `${name}: values at run time`);
    assert.equal(seen[name], { values: [...expected[name].values].sort(), types: [...expected[name].types].sort() }, `${name}: as the checker sees it`);
  }
});

test('internals stay off the surface', () => {
  const all = Object.values(expected).flatMap((e) => [...e.values, ...e.types]);
  for (const internal of ['IpamKeys', 'decodeBlock', 'decodeHandle', 'newBlock', 'assign', 'ClusterStore', 'attachmentKey', 'sortByAddress', 'trimSpace']) {
    assert.not.ok(all.includes(internal), internal);
  }
});

test.run();
