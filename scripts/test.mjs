#!/usr/bin/env node
// Runs every `*.test.ts` under packages/*/test (or the paths given) in its own Node process with tsx,
// so one test file's namespaces, sockets or crash never leak into another's. uvu prints its own
// per-file totals; this sums them and ends with the plain line CI reads: `N passed, N failed, N skipped`.
// Privileged files (`*.priv.test.ts`: they create network namespaces) skip their tests with a printed
// reason when run without root (`privileged()` in @netboot/core/testing); `--unprivileged` leaves them
// out, for machines where only Node is known to work (macOS, a container without CAP_SYS_ADMIN).
//
//   node scripts/test.mjs                      # everything
//   node scripts/test.mjs packages/ipam        # one package
//   node scripts/test.mjs packages/core/test/codec.test.ts
//   node scripts/test.mjs --unprivileged       # everything that needs no root
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const argv = process.argv.slice(2);
const unknown = argv.filter((a) => a.startsWith('--') && a !== '--unprivileged');
if (unknown.length) {
  process.stderr.write(`unknown option ${unknown.join(' ')}; usage: node scripts/test.mjs [--unprivileged] [path…]\n`);
  process.exit(2);
}
const unprivileged = argv.includes('--unprivileged');
const paths = argv.filter((a) => !a.startsWith('--'));
const roots = paths.length ? paths.map((a) => resolve(a)) : [join(root, 'packages')];
const isPrivileged = (file) => file.endsWith('.priv.test.ts');

function collect(path, out) {
  const st = statSync(path);
  if (st.isFile()) {
    if (path.endsWith('.test.ts')) out.push(path);
    return out;
  }
  for (const name of readdirSync(path).sort()) {
    if (name === 'node_modules' || name === 'dist') continue;
    collect(join(path, name), out);
  }
  return out;
}

const found = roots.flatMap((r) => collect(r, []));
const files = unprivileged ? found.filter((f) => !isPrivileged(f)) : found;
const leftOut = found.length - files.length;
let passed = 0;
let failed = 0;
let skipped = 0;
const broken = [];
const skippedFiles = []; // files whose every test skipped, with the reason they printed
const started = Date.now();

for (const file of files) {
  const rel = relative(root, file);
  process.stdout.write(`\n▶ ${rel}\n`);
  const t0 = Date.now();
  const res = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', file], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 15 * 60_000,
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  process.stdout.write(res.stdout ?? '');
  process.stderr.write(res.stderr ?? '');
  const total = Number(/Total:\s+(\d+)/.exec(res.stdout ?? '')?.[1] ?? NaN);
  const ok = Number(/Passed:\s+(\d+)/.exec(res.stdout ?? '')?.[1] ?? NaN);
  const skip = Number(/Skipped:\s+(\d+)/.exec(res.stdout ?? '')?.[1] ?? 0);
  if (Number.isNaN(total) || Number.isNaN(ok)) {
    // The file died before uvu could summarise (a crash, a timeout, a syntax error): count it as one failure.
    failed += 1;
    broken.push(`${rel} (exit ${res.status ?? res.signal}, no summary)`);
    continue;
  }
  if (total === 0 && skip > 0) {
    const reason = /^\s*skipped \([^)]*\): (.*)$/m.exec(res.stdout ?? '')?.[1] ?? 'no reason printed';
    skippedFiles.push(`${rel}: ${reason}`);
  }
  passed += ok;
  failed += total - ok;
  skipped += skip;
  if (total - ok > 0 || res.status !== 0) broken.push(`${rel} (${total - ok} failed, exit ${res.status})`);
  if (res.status !== 0 && total - ok === 0) failed += 1; // a non-zero exit with no failed test is still a failure
  process.stdout.write(`  ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
}

process.stdout.write(`\n${files.length} test files in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
if (leftOut) process.stdout.write(`${leftOut} privileged test files left out (--unprivileged)\n`);
if (skippedFiles.length) process.stdout.write(`${skippedFiles.length} test files skipped:\n${skippedFiles.map((s) => `  - ${s}`).join('\n')}\n`);
if (broken.length) process.stdout.write(`failing:\n${broken.map((b) => `  - ${b}`).join('\n')}\n`);
process.stdout.write(`${passed} passed, ${failed} failed, ${skipped} skipped\n`);
process.exit(failed > 0 || files.length === 0 ? 1 : 0);
