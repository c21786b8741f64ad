// `make demo` on a port that is taken says which port, for what, and which
// variable moves it, before it starts anything (scripts/demo.sh). Runs the
// demo script on a temporary run directory with every port given, one of
// them held by this test; nothing of the stack is started.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

const ROOT = path.resolve(import.meta.dirname, '../..');
const DEMO = path.join(ROOT, 'scripts/demo.sh');
// [variable, default, what the message calls it]
const PORTS = [
  ['DEMO_PG_PORT', 55432, 'PostgreSQL'],
  ['DEMO_REDIS_PORT', 56379, 'Redis'],
  ['DEMO_SANDBOX_PORT', 8090, 'the JSM sandbox'],
  ['DEMO_API_PORT', 8080, 'the admin API'],
  ['DEMO_API_METRICS_PORT', 9463, "the admin API's metrics"],
  ['DEMO_WORKER_PORT', 8081, 'the MCP workers'],
  ['DEMO_WORKER_METRICS_PORT', 9464, "the workers' metrics"],
  ['DEMO_SWEEPER_PORT', 8082, 'the sweeper'],
];

async function hold() {
  const s = net.createServer((c) => c.destroy());
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  return s;
}

// scripts/demo.sh <cmd> with only the DEMO_* variables given (none of the caller's).
function demo(cmd, runDir, vars) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DEMO_')));
  Object.assign(env, { DEMO_RUN_DIR: runDir, DEMO_BIN_DIR: process.env.JSMCP_BIN_DIR, ...vars });
  return spawnSync(DEMO, [cmd], { env, encoding: 'utf8', timeout: 120000 });
}

test('a taken port is named with the variable that moves it, and nothing starts', async () => {
  // Ports free a moment ago (the servers are closed again at once).
  const free = [];
  for (let i = 0; i < PORTS.length; i++) {
    const s = await hold();
    free.push(s.address().port);
    await new Promise((r) => s.close(r));
  }
  for (const [i, [variable, , what]] of PORTS.entries()) {
    const runDir = mkdtempSync(path.join(tmpdir(), 'jsmcp-demo-ports-'));
    const held = net.createServer((c) => c.destroy());
    await new Promise((r) => held.listen(free[i], '127.0.0.1', r));
    try {
      const vars = Object.fromEntries(PORTS.map(([v], j) => [v, String(free[j])]));
      const r = demo('start', runDir, vars);
      assert.equal(r.status, 1, `${variable}: status ${r.status}\n${r.stdout}\n${r.stderr}`);
      const lines = r.stderr.trim().split('\n');
      assert.deepEqual(lines, [
        `demo: port ${free[i]} on 127.0.0.1 (for ${what}) is already in use; set ${variable}=<port> to use another`,
        "demo: or move all the demo's ports by an offset, e.g. make demo DEMO_PORT_OFFSET=100",
      ]);
      // Stopped before anything: no database, no pid files, no ports saved.
      assert.deepEqual(readdirSync(runDir), [], `${variable}: the run directory got ${readdirSync(runDir)}`);
    } finally {
      await new Promise((r) => held.close(r));
      rmSync(runDir, { recursive: true, force: true });
    }
  }
});

test('ports: each variable, DEMO_PORT_OFFSET, the last start\'s, and bad values', () => {
  const runDir = mkdtempSync(path.join(tmpdir(), 'jsmcp-demo-ports-'));
  try {
    const ports = (vars) => {
      const r = demo('ports', runDir, vars);
      assert.equal(r.status, 0, r.stderr);
      return r.stdout;
    };
    const expect = (f) => PORTS.map(([v, d]) => `${v}=${f(v, d)}\n`).join('');
    assert.equal(ports({}), expect((v, d) => d));
    assert.equal(ports({ DEMO_PORT_OFFSET: '100' }), expect((v, d) => d + 100));
    assert.equal(ports({ DEMO_PORT_OFFSET: '100', DEMO_API_PORT: '9999' }),
      expect((v, d) => (v === 'DEMO_API_PORT' ? 9999 : d + 100)));
    // A start saved its ports: the next one uses them unless told otherwise.
    writeFileSync(path.join(runDir, 'ports.env'), expect((v, d) => d + 7));
    assert.equal(ports({}), expect((v, d) => d + 7));
    assert.equal(ports({ DEMO_REDIS_PORT: '7000' }), expect((v, d) => (v === 'DEMO_REDIS_PORT' ? 7000 : d + 7)));
    assert.equal(ports({ DEMO_PORT_OFFSET: '1' }), expect((v, d) => d + 1));
    for (const [vars, msg] of [[{ DEMO_PORT_OFFSET: 'x' }, 'DEMO_PORT_OFFSET=x is not a number'],
      [{ DEMO_API_PORT: '70000' }, '70000 is not a port (1-65535) for the admin API; check DEMO_API_PORT'],
      [{ DEMO_PORT_OFFSET: '60000' }, '115432 is not a port (1-65535) for PostgreSQL']]) {
      const r = demo('ports', runDir, vars);
      assert.equal(r.status, 1, JSON.stringify(vars));
      assert.ok(r.stderr.includes(msg), r.stderr);
    }
    assert.ok(!existsSync(path.join(runDir, 'pg')));
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});
