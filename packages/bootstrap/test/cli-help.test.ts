// Every command's --help shows how it is run: an "examples:" section, exit 0.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const CLI = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const help = (...args: string[]) => spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', CLI, ...args, '--help'], { encoding: 'utf8' });

for (const command of [['agent'], ['pool'], ['cni'], ['ipam'], ['status'], ['doctor']])
  test(`netboot ${command.join(' ')} --help has examples`, () => {
    const r = help(...command);
    assert.is(r.status, 0, r.stderr);
    const examples = r.stdout.split('\nexamples:\n')[1];
    assert.ok(examples !== undefined, r.stdout);
    assert.match(examples, `netboot ${command[0]} `);
  });

test('agent errors carry the usage, not the examples', () => {
  const r = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', CLI, 'agent', '--bogus', 'x'], { encoding: 'utf8' });
  assert.not.equal(r.status, 0);
  assert.match(r.stderr, 'unknown option --bogus');
  assert.not.match(r.stderr, 'examples:');
});

test.run();
