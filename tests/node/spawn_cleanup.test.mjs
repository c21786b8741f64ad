// Binaries a Node test starts die with the test file's process, however it
// ends (tests/node/lib/spawn.mjs). The fixture starts two sandboxes through
// the helpers the suites use and dies by SIGKILL, which leaves no chance
// for cleanup code; both sandboxes must then be gone.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

const FIXTURE = path.join(import.meta.dirname, 'fixtures', 'start_then_die.mjs');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Running means: the same process (same start time), not a zombie.
function running(pid, starttime) {
  let stat;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  } catch {
    return false;
  }
  return stat[19] === starttime && stat[0] !== 'Z';
}

test('binaries started by a test die with its process', async () => {
  const r = spawnSync(process.execPath, [FIXTURE], { encoding: 'utf8', timeout: 120000 });
  assert.equal(r.signal, 'SIGKILL', `the fixture should kill itself: status ${r.status}, stderr:\n${r.stderr}`);
  const procs = JSON.parse(r.stdout);
  assert.equal(procs.length, 2);
  // SIGKILL reaches them as their parent ends; wait for that, bounded.
  const deadline = Date.now() + 30000;
  let left = procs;
  while ((left = left.filter(([pid, st]) => running(pid, st))).length && Date.now() < deadline) await sleep(50);
  for (const [pid] of left) process.kill(pid, 'SIGKILL');
  assert.deepEqual(left, [], 'sandboxes still running 30 s after the test process died');
});
