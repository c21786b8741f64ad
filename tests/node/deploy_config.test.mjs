// Deployment files (issue 9): docker-compose.yml passes `docker-compose
// config -q` (no Docker engine is needed for that), and every manifest in
// deploy/k8s/ parses and has the structure the docs promise: the worker
// Deployment with its HorizontalPodAutoscaler, the API, the sweeper, the
// master-key Secret; every env var the manifests set is one jsmcp reads.
// `yaml` comes with the conformance suite (a transitive dependency).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const k8s = join(root, 'deploy', 'k8s');

function composeCmd() {
  for (const [cmd, pre] of [['docker-compose', []], ['docker', ['compose']]]) {
    const r = spawnSync(cmd, [...pre, 'version'], { encoding: 'utf8' });
    if (r.status === 0) return [cmd, pre];
  }
  return null;
}

function loadAll(file) {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  for (const d of docs) assert.equal(d.errors.length, 0, `${file}: ${d.errors.join('; ')}`);
  return docs.map((d) => d.toJS()).filter(Boolean);
}

// Env names the code reads: docs/architecture.md's configuration table.
function knownEnv() {
  const md = readFileSync(join(root, 'docs', 'architecture.md'), 'utf8');
  return new Set([...md.matchAll(/`((?:JSMCP|JSM_SANDBOX)_[A-Z0-9_]+)`/g)].map((m) => m[1]));
}

test('docker-compose.yml passes docker-compose config -q', () => {
  const c = composeCmd();
  assert.ok(c, 'docker-compose is not installed (scripts/install-deps.sh installs it)');
  const env = { ...process.env, JSMCP_MASTER_KEYS: 'k1:AAAA', JSMCP_BOOTSTRAP_KEY: 'jsb_test' };
  execFileSync(c[0], [...c[1], '-f', join(root, 'docker-compose.yml'), 'config', '-q'], { env, cwd: root });
  // Without the secrets the file refuses to render, rather than start keyless.
  delete env.JSMCP_MASTER_KEYS;
  const r = spawnSync(c[0], [...c[1], '-f', join(root, 'docker-compose.yml'), 'config', '-q'], { env, cwd: root, encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /JSMCP_MASTER_KEYS/);
});

test('docker-compose.yml: every service of the stack, known env only', () => {
  const [doc] = loadAll(join(root, 'docker-compose.yml'));
  const s = doc.services;
  for (const name of ['postgres', 'redis', 'api', 'sweeper', 'sandbox', 'worker-1', 'worker-2', 'lb'])
    assert.ok(s[name], `service ${name}`);
  assert.deepEqual(s.sweeper.command, ['jsmcp-api', 'sweeper']);
  const known = knownEnv();
  for (const [name, svc] of Object.entries(s)) {
    for (const k of Object.keys(svc.environment || {}))
      if (/^JSMCP_|^JSM_SANDBOX_/.test(k)) assert.ok(known.has(k), `${name}: ${k} is not in docs/architecture.md`);
  }
  const nginx = readFileSync(join(root, 'deploy', 'nginx.conf'), 'utf8');
  for (const w of Object.keys(s).filter((n) => n.startsWith('worker-')))
    assert.match(nginx, new RegExp(`server ${w}:8081`), `load balancer lists ${w}`);
});

test('deploy/k8s manifests parse and hold the promised objects', () => {
  const objs = [];
  for (const f of readdirSync(k8s).filter((f) => f.endsWith('.yaml'))) {
    for (const o of loadAll(join(k8s, f))) {
      assert.ok(o.apiVersion && o.kind && (o.metadata?.name || o.kind === 'Kustomization'), `${f}: apiVersion, kind, metadata.name`);
      objs.push({ file: f, ...o });
    }
  }
  const find = (kind, name) => objs.find((o) => o.kind === kind && o.metadata?.name === name);
  const known = knownEnv();
  for (const name of ['jsmcp-api', 'jsmcp-worker', 'jsmcp-sweeper']) {
    const d = find('Deployment', name);
    assert.ok(d, `Deployment ${name}`);
    const sel = d.spec.selector.matchLabels;
    for (const [k, v] of Object.entries(sel)) assert.equal(d.spec.template.metadata.labels[k], v, `${name} selector`);
    const c = d.spec.template.spec.containers[0];
    assert.ok(c.livenessProbe, `${name} liveness probe`);
    assert.ok(c.envFrom.some((e) => e.secretRef?.name === 'jsmcp-secrets'), `${name} reads the secret`);
    for (const e of c.env || []) assert.ok(known.has(e.name), `${name}: ${e.name} is not in docs/architecture.md`);
  }
  assert.deepEqual(find('Deployment', 'jsmcp-sweeper').spec.template.spec.containers[0].command, ['jsmcp-api', 'sweeper']);
  const hpa = find('HorizontalPodAutoscaler', 'jsmcp-worker');
  assert.ok(hpa, 'worker HPA');
  assert.equal(hpa.spec.scaleTargetRef.name, 'jsmcp-worker');
  assert.ok(hpa.spec.minReplicas >= 2 && hpa.spec.maxReplicas > hpa.spec.minReplicas);
  const secret = find('Secret', 'jsmcp-secrets');
  assert.ok(secret?.stringData?.JSMCP_MASTER_KEYS, 'master key secret');
  for (const k of Object.keys(find('ConfigMap', 'jsmcp-config').data)) assert.ok(known.has(k), `configmap ${k}`);
  // kustomization lists files that exist (and not the example secret).
  const kus = objs.find((o) => o.kind === 'Kustomization');
  const files = new Set(readdirSync(k8s));
  for (const r of kus.resources) assert.ok(files.has(r), `kustomization resource ${r}`);
  assert.ok(!kus.resources.includes('secrets.example.yaml'));
});
