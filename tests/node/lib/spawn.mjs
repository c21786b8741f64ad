// Processes a Node test starts die with the test file's process, however it
// ends (a crash, process.exit, a kill by the runner): setpriv (util-linux)
// sets the parent-death signal to SIGKILL and then execs the command, which
// keeps setpriv's pid, so the returned ChildProcess is the command itself.
// tests/run.sh also fails a run that leaves any process behind
// (tests/support/leftovers.sh).
import { spawn } from 'node:child_process';

export function spawnTied(cmd, args = [], opts = {}) {
  return spawn('setpriv', ['--pdeathsig', 'KILL', '--', cmd, ...args], opts);
}
