// On a fresh machine `make demo` (and test, bench, faults, load) installs the
// packages first, so its build must use the flags pkg-config gives after the
// install, not the empty ones make computed when it started (the first
// `make demo` stopped at "libpq-fe.h: No such file or directory"). Each
// target runs with stand-ins, in a temporary BUILD directory:
//   INSTALL_DEPS  "installs" by creating a marker file
//   pkg-config    first on PATH: fails while the marker is missing (nothing
//                 installed yet), then prints a flag no real package has
//   CC            records its arguments and MAKEFLAGS; fails on our own
//                 sources (so the build stops there and the target never
//                 starts anything), creates its output for llhttp's
// Every compile of our sources must carry the flag, and, as no -j was given,
// run in a parallel sub-make. `make fuzz` is not here: fuzz/run.sh asks
// pkg-config itself when it runs, after the install.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

const ROOT = path.resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(path.join(tmpdir(), 'jsmcp-build-deps-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const FLAG = `-I${dir}/include-after-install-deps`;

function script(name, body) {
  const p = path.join(dir, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
}
script('pkg-config', `[ -f "${dir}/installed" ] || { echo "pkg-config: packages not found" >&2; exit 1; }
case "$*" in *--cflags*) echo "${FLAG}" ;; *) echo "-lm" ;; esac`);
const installDeps = script('install-deps', `touch "${dir}/installed"`);
const cc = script('cc', `printf '%s | MAKEFLAGS=%s\\n' "$*" "$MAKEFLAGS" >>"${dir}/cc.log"
case " $* " in *" -MMD "*) exit 1 ;; esac
while [ $# -gt 1 ]; do [ "$1" = -o ] && { mkdir -p "$(dirname "$2")"; : >"$2"; }; shift; done`);

for (const target of ['demo', 'test', 'bench', 'faults', 'load']) {
  test(`make ${target} compiles with the flags of the packages it installed`, () => {
    for (const f of ['installed', 'cc.log']) rmSync(path.join(dir, f), { force: true });
    const env = { ...process.env, PATH: `${dir}:${process.env.PATH}` };
    for (const v of ['MAKEFLAGS', 'MAKELEVEL', 'MFLAGS', 'MAKEOVERRIDES']) delete env[v];
    const r = spawnSync('make', [target, `INSTALL_DEPS=${installDeps}`, `CC=${cc}`, `BUILD=${dir}/build`],
      { cwd: ROOT, env, encoding: 'utf8', timeout: 300000 });
    const out = `${r.stdout}\n${r.stderr}`.slice(-3000);
    assert.ok(existsSync(path.join(dir, 'installed')), `INSTALL_DEPS did not run:\n${out}`);
    assert.ok(existsSync(path.join(dir, 'cc.log')), `nothing was compiled:\n${out}`);
    const ours = readFileSync(path.join(dir, 'cc.log'), 'utf8').split('\n').filter((l) => / -MMD /.test(l));
    assert.ok(ours.length > 0, `no compile of our sources:\n${out}`);
    for (const l of ours) {
      assert.ok(l.split(' ').includes(FLAG), `compiled without the installed packages' flags:\n${l}`);
      assert.match(l, /MAKEFLAGS=.*(^|\s)-j\d+(\s|$)/, `the build did not run in parallel:\n${l}`);
    }
    // The stand-in compiler stopped the build: the target ran nothing after it.
    assert.notEqual(r.status, 0, `make ${target} went past the build:\n${out}`);
  });
}
