#!/usr/bin/env node
// Runs the benchmarks in bench/*.ts, each in its own Node process from source (tsx), one after
// another so they never compete for the two cores. The root script strips NODE_EXTRA_CA_CERTS and
// NODE_OPTIONS first: they add ~50 ms to every Node start and a container runtime would not pass them.
//
//   pnpm bench                    # every bench/*.ts
//   pnpm bench netlink            # only bench/netlink.ts (a path works too)
//   pnpm bench netlink -- --quick # arguments after `--` go to the benchmark
// Benchmark knobs are environment variables documented at the top of each file (e.g. VETHS=100).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const benchDir = join(root, 'bench');
const argv = process.argv.slice(2);
const dash = argv.indexOf('--');
const names = dash === -1 ? argv : argv.slice(0, dash);
const passThrough = dash === -1 ? [] : argv.slice(dash + 1);

function resolveBench(name) {
  const candidates = [resolve(name), join(benchDir, name), join(benchDir, `${name}.ts`)];
  const found = candidates.find((p) => p.endsWith('.ts') && existsSync(p));
  if (!found) {
    const known = listBenches()
      .map((f) => basename(f, '.ts'))
      .join(', ');
    console.error(`bench: no benchmark named '${name}' (known: ${known || 'none'})`);
    process.exit(2);
  }
  return found;
}

function listBenches() {
  return readdirSync(benchDir)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .sort()
    .map((f) => join(benchDir, f));
}

const files = names.length ? names.map(resolveBench) : listBenches();
if (files.length === 0) {
  console.error('bench: no bench/*.ts files');
  process.exit(2);
}

let failed = 0;
for (const file of files) {
  process.stdout.write(`\n▶ bench/${basename(file)}\n`);
  const res = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', file, ...passThrough], {
    cwd: root,
    stdio: 'inherit',
  });
  if (res.status !== 0) {
    failed += 1;
    console.error(`bench/${basename(file)} exited with ${res.status ?? res.signal}`);
  }
}
process.exit(failed ? 1 : 0);
