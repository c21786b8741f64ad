// The worker's readiness (/readyz) reflects its Redis connection, and its
// liveness (/healthz) does not: Kubernetes' readiness probe and the compose
// health check take a worker whose Redis is gone out of rotation, without
// restarting it. A private Redis is stopped and started again on its port.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { freePort, sleep, startRedis } from '../faults/lib.mjs';
import { requireStack, startStack, stopStack } from './lib/mcp_stack.mjs';

requireStack({ sandbox: false });

async function get(url) {
  const r = await fetch(url);
  return { status: r.status, body: await r.json() };
}

// Polls url until 10 answers in a row match (status and body), 30 s at
// most: each of the 2 worker processes answers on the shared port, and each
// notices a lost Redis connection on its own.
async function until(url, status, body) {
  let last;
  let row = 0;
  for (let i = 0; i < 300; i++) {
    last = await get(url);
    row = last.status === status && JSON.stringify(last.body) === JSON.stringify(body) ? row + 1 : 0;
    if (row === 10) return last;
    if (!row) await sleep(100);
  }
  assert.fail(`${url}: wanted ${status} ${JSON.stringify(body)}, last ${last.status} ${JSON.stringify(last.body)}`);
}

test('worker /readyz: 200 with Redis, 503 {"redis":false} without it (/healthz stays 200), 200 again after', { timeout: 60000 }, async () => {
  const port = await freePort();
  let redis = await startRedis(port);
  const s = await startStack({ workers: 2, sandbox: false, env: { JSMCP_REDIS_URL: `redis://127.0.0.1:${port}/0` } });
  try {
    const ready = `${s.workerUrl}/readyz`;
    await until(ready, 200, { status: 'ready', redis: true });
    spawnSync('redis-cli', ['-p', String(port), 'shutdown']);
    await redis.exited;
    await until(ready, 503, { status: 'unavailable', redis: false });
    for (let i = 0; i < 10; i++) assert.deepEqual(await get(`${s.workerUrl}/healthz`), { status: 200, body: { status: 'ok' } });
    redis = await startRedis(port, redis.dir);
    await until(ready, 200, { status: 'ready', redis: true });
  } finally {
    try {
      const codes = await stopStack(s);
      assert.deepEqual(codes, { worker: 0, api: 0 }, 'clean exits (no sanitizer reports)');
    } finally {
      redis.kill('SIGTERM');
      await redis.exited;
    }
  }
});
