// Every binary answers --help (usage on stdout, status 0) and --version
// (version and commit, status 0) without starting anything, and refuses an
// unknown option or command with status 2 and the usage on stderr.
//
// "Starts nothing" is shown by exit statuses, not timing: each run gets a
// listen address that a server of this test already holds (starting would
// fail to bind, status 1) and database and Redis URLs that point at servers
// of this test which accept and never answer (starting would hang until the
// spawn's timeout kills it); those servers must see no connection.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { spawnTied } from './lib/spawn.mjs';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = process.env.JSMCP_BIN_DIR;
const VERSION = readFileSync(path.join(ROOT, 'Makefile'), 'utf8').match(/^JSMCP_VERSION := (\S+)$/m)[1];

// [binary, command words, how it names itself]
const PROGRAMS = [
  ['jsmcp-api', [], 'jsmcp-api'],
  ['jsmcp-api', ['serve'], 'jsmcp-api serve'],
  ['jsmcp-api', ['migrate'], 'jsmcp-api migrate'],
  ['jsmcp-api', ['sweeper'], 'jsmcp-api sweeper'],
  ['jsmcp-api', ['rotate-keys'], 'jsmcp-api rotate-keys'],
  ['jsmcp-worker', [], 'jsmcp-worker'],
  ['jsm-sandbox', [], 'jsm-sandbox'],
];

const servers = [];
let connections = 0;
let env;
async function listen() {
  const s = net.createServer((c) => { connections++; c.on('error', () => {}); });
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  servers.push(s);
  return s.address().port;
}

before(async () => {
  const [held, pg, redis] = [await listen(), await listen(), await listen()];
  const addr = `127.0.0.1:${held}`;
  env = {
    ...process.env,
    JSMCP_API_LISTEN: addr, JSMCP_WORKER_LISTEN: addr, JSM_SANDBOX_LISTEN: addr, JSMCP_WORKERS: '1',
    JSMCP_DATABASE_URL: `postgresql://postgres@127.0.0.1:${pg}/jsmcp?connect_timeout=600`,
    JSMCP_REDIS_URL: `redis://127.0.0.1:${redis}/0`,
    JSMCP_MASTER_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
    JSMCP_BOOTSTRAP_KEY: 'jsb_cli_test_bootstrap_key_0123456789',
  };
});
after(() => servers.forEach((s) => s.close()));

// Runs a binary to its end (async: the servers above must keep accepting).
function run(bin, args) {
  return new Promise((resolve, reject) => {
    const p = spawnTied(path.join(BIN, bin), args, { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60000 });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('error', reject);
    p.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}

function gitCommitExists(id) {
  return spawnSync('git', ['-C', ROOT, 'cat-file', '-e', `${id}^{commit}`]).status === 0;
}
const inCheckout = spawnSync('git', ['-C', ROOT, 'rev-parse', '--show-toplevel'], { encoding: 'utf8' })
  .stdout?.trim() === ROOT;

for (const [bin, words, prog] of PROGRAMS) {
  test(`${prog} --help and -h: usage on stdout, status 0, nothing started`, async () => {
    for (const flag of ['--help', '-h']) {
      const r = await run(bin, [...words, flag]);
      assert.equal(r.signal, null, `${prog} ${flag} was killed (${r.signal}): it started something`);
      assert.equal(r.status, 0, `${prog} ${flag}: status ${r.status}\n${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^usage: ${prog} `), `${prog} ${flag} stdout:\n${r.stdout}`);
      assert.equal(r.stderr, '', `${prog} ${flag} wrote on stderr`);
    }
    assert.equal(connections, 0, 'a --help run connected to the database or Redis');
  });

  test(`${prog} --version: version and commit, status 0, nothing started`, async () => {
    const r = await run(bin, [...words, '--version']);
    assert.equal(r.status, 0, `status ${r.status} signal ${r.signal}\n${r.stderr}`);
    assert.equal(r.stderr, '');
    const m = r.stdout.match(/^(.+) (\S+) \(commit (\S+)\)\n$/);
    assert.ok(m, `--version printed: ${JSON.stringify(r.stdout)}`);
    assert.equal(m[1], prog);
    assert.equal(m[2], VERSION, "the Makefile's JSMCP_VERSION");
    if (inCheckout) {
      const id = m[3].match(/^([0-9a-f]{12})(-dirty)?$/)?.[1];
      assert.ok(id, `commit ${m[3]}: 12 hex digits expected in a git checkout`);
      assert.ok(gitCommitExists(id), `commit ${id} is not in this repository`);
    } else {
      assert.equal(m[3], 'unknown', 'built outside a git checkout');
    }
    assert.equal(connections, 0);
  });

  test(`${prog} with an unknown option: status 2, the usage on stderr`, async () => {
    const r = await run(bin, [...words, '--no-such-option']);
    assert.equal(r.status, 2, `status ${r.status} signal ${r.signal}\n${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, new RegExp(`^${prog}: unknown option '--no-such-option'\nusage: ${prog} `));
    assert.equal(connections, 0);
  });
}

test('jsmcp-api with an unknown command, jsmcp-worker with any argument: status 2', async () => {
  for (const [bin, args, what] of [['jsmcp-api', ['no-such-command'], "unknown command 'no-such-command'"],
    ['jsmcp-api', ['sweeper', 'extra'], "unknown argument 'extra'"],
    ['jsmcp-worker', ['serve'], "unknown argument 'serve'"]]) {
    const r = await run(bin, args);
    assert.equal(r.status, 2, `${bin} ${args.join(' ')}: status ${r.status}\n${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.ok(r.stderr.includes(what) && r.stderr.includes('usage: '), r.stderr);
  }
  assert.equal(connections, 0);
});

// scripts/version.sh decides the commit a build embeds.
test('a tree outside its own git checkout reports commit "unknown"', () => {
  const t = mkdtempSync(path.join(tmpdir(), 'jsmcp-version-'));
  try {
    const version = (tree, ...extra) => {
      const out = path.join(t, 'version.c');
      rmSync(out, { force: true });
      const r = spawnSync(path.join(tree, 'scripts/version.sh'), [out, '9.8.7', ...extra], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return readFileSync(out, 'utf8').match(/jsmcp_commit\[\] = "([^"]*)"/)[1];
    };
    // An unpacked tarball: no .git anywhere above.
    const plain = path.join(t, 'plain');
    mkdirSync(path.join(plain, 'scripts'), { recursive: true });
    cpSync(path.join(ROOT, 'scripts/version.sh'), path.join(plain, 'scripts/version.sh'));
    assert.equal(version(plain), 'unknown');
    // Unpacked inside some other repository: not that repository's commit.
    const outer = path.join(t, 'outer');
    mkdirSync(outer);
    for (const args of [['init', '-q'], ['-c', 'user.email=t@t', '-c', 'user.name=t', 'commit', '-q', '--allow-empty', '-m', 'x']]) {
      assert.equal(spawnSync('git', ['-C', outer, ...args]).status, 0);
    }
    cpSync(plain, path.join(outer, 'tree'), { recursive: true });
    assert.equal(version(path.join(outer, 'tree')), 'unknown');
    // Given by the build (make JSMCP_COMMIT=...).
    assert.equal(version(plain, '0123456789ab'), '0123456789ab');
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

test("CHANGELOG.md's newest release is the Makefile's version", () => {
  const first = readFileSync(path.join(ROOT, 'CHANGELOG.md'), 'utf8').match(/^## (\S+)/m);
  assert.ok(first, 'CHANGELOG.md has no "## <version>" heading');
  assert.equal(first[1], VERSION);
});
