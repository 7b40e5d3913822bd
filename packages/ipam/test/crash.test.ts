// Crash safety: writers killed with SIGKILL at random moments while allocating and releasing. Whatever
// the moment, the directory must still parse, hold no half-written reservation and no address twice, and
// the lock must not stay taken; gc then reclaims everything the dead processes held.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LocalIpam } from '../src/local.js';
import { FileStore } from '../src/store/file.js';
import { withTempDir } from '@netboot/core/testing/pure';
import { readReservations, reservationFiles, startWorker } from './store-fixtures.js';

const KILLS = 50;
const PARALLEL = 5; // children share the directory, so a kill can also land while another one waits for the lock
const SUBNET = '10.60.0.0/20';

/** Starts a crash-alloc worker and SIGKILLs it 0–30 ms after it reports being inside its loop. */
function killAtRandom(data: string, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const worker = startWorker('crash-alloc.ts', [data, 'crash', SUBNET, name], (line) => {
      if (line === 'tick 0') setTimeout(() => worker.kill(), Math.random() * 30);
    });
    worker.done.then((r) => (r.signal === 'SIGKILL' ? resolve() : reject(new Error(`worker ended by itself (exit ${r.code}):\n${r.stderr}`))), reject);
  });
}

test(`${KILLS} writers killed with SIGKILL mid-allocation leave a consistent store that gc fully reclaims`, () =>
  withTempDir(async (data) => {
    const dir = join(data, 'crash');
    let tempLeftovers = 0;
    for (let round = 0; round < KILLS / PARALLEL; round++) {
      await Promise.all(Array.from({ length: PARALLEL }, (_, i) => killAtRandom(data, `r${round}w${i}`)));
      tempLeftovers += readdirSync(dir).filter((n) => n.startsWith('.netboot-')).length;

      // Read the raw files first, without our parser: every reservation is complete.
      for (const name of reservationFiles(dir)) {
        assert.match(readFileSync(join(dir, name), 'utf8'), /^r\d+w\d+-\d+\r\neth0$/, `file ${name}`);
      }
    }

    // The index a new process starts from (the lock file's, unless a kill left it behind the directory)
    // names exactly the files there are, with their owners: what a CNI DEL would act on.
    const fresh = new FileStore(data, 'crash');
    const indexed = await fresh.withLock(() => fresh.list());
    assert.equal(indexed.corrupt, []);
    assert.equal(
      indexed.entries.map((e) => `${e.ip}=${e.containerId}\r\n${e.ifname}`).sort(),
      [...readReservations(dir)].map(([ip, owner]) => `${ip}=${owner}`).sort(),
    );

    const ipam = new LocalIpam(new FileStore(data, 'crash'), [[{ subnet: SUBNET }]], { node: 'crash' });
    const { problems } = await ipam.check();
    assert.equal(problems, [], 'no corrupt entry, nothing outside the range');
    assert.not.ok(
      readdirSync(dir).some((n) => n.startsWith('.netboot-')),
      'leftover temp files are removed under the lock',
    );

    const files = reservationFiles(dir);
    const owners = files.map((ip) => readFileSync(join(dir, ip), 'utf8'));
    assert.is(new Set(owners).size, owners.length, 'an attachment holds two addresses');
    assert.ok(files.length > KILLS, `the workers should have left reservations behind (found ${files.length})`);

    const { pools } = await ipam.usage();
    assert.is(pools[0]!.allocated, files.length, 'the bitmap agrees with the directory');

    // The runtime knows none of these containers any more: gc gives every address back.
    const { released } = await ipam.gc([]);
    assert.is(released.length, files.length);
    assert.equal(reservationFiles(dir), []);
    console.log(`  ${files.length} reservations left by ${KILLS} killed writers, ${tempLeftovers} temp files seen between rounds, all reclaimed`);
  }));

test.run();
