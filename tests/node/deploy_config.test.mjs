// Deployment files (issue 9): docker-compose.yml passes `docker-compose
// config -q` (no Docker engine is needed for that), and every manifest in
// deploy/k8s/ parses and has the structure the docs promise: the worker
// Deployment with its HorizontalPodAutoscaler, the API, the sweeper, the
// master-key Secret; every env var the manifests set is one jsmcp reads.
// `yaml` comes with the conformance suite (a transitive dependency).
// The manifests are also checked against Kubernetes' own OpenAPI schemas
// (kubernetes-models: types, enums and required fields of every object;
// `kubectl apply --dry-run=client` needs an API server even for a client
// dry run) and against the Pod Security "restricted" rules. The compose
// stack itself runs in `make compose-test`.
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
  const docs = parseAllDocuments(readFileSync(file, 'utf8'), { merge: true }); // YAML merge keys (<<: *anchor)
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
  const env = { ...process.env, JSMCP_MASTER_KEYS: 'k1:AAAA', JSMCP_BOOTSTRAP_KEY: 'jsb_test', POSTGRES_PASSWORD: 'pw' };
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

// The objects of every manifest in deploy/k8s (not the Kustomization).
function k8sObjects() {
  const out = [];
  for (const f of readdirSync(k8s).filter((x) => x.endsWith('.yaml')))
    for (const o of loadAll(join(k8s, f))) if (o.kind !== 'Kustomization') out.push({ file: f, o });
  return out;
}

// kubernetes-models' validator for an object's apiVersion and kind.
async function schemaOf(o) {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  const mod = await import(`kubernetes-models/${group ? `${group}/` : ''}${version}/${o.kind}`);
  return mod[o.kind];
}

test('deploy/k8s objects validate against the Kubernetes OpenAPI schemas, and a broken one does not', async () => {
  const objs = k8sObjects();
  assert.ok(objs.length >= 10, `${objs.length} objects`);
  for (const { file, o } of objs) {
    const Model = await schemaOf(o);
    assert.doesNotThrow(() => new Model(o).validate(), `${file}: ${o.kind} ${o.metadata.name}`);
  }
  // The check can fail: a wrong type, a bad enum, a missing required field.
  const dep = structuredClone(objs.find(({ o }) => o.kind === 'Deployment').o);
  const Dep = await schemaOf(dep);
  for (const [what, breakIt] of [
    ['replicas as a string', (d) => { d.spec.replicas = '2'; }],
    ['an unknown seccomp profile type', (d) => { d.spec.template.spec.securityContext.seccompProfile.type = 'Relaxed'; }],
    ['a container without a name', (d) => { delete d.spec.template.spec.containers[0].name; }],
  ]) {
    const bad = structuredClone(dep);
    breakIt(bad);
    assert.throws(() => new Dep(bad).validate(), undefined, what);
  }
});

test('deploy/k8s: Pod Security "restricted" settings, pinned image tags, worker readiness on /readyz', () => {
  const objs = k8sObjects();
  const ns = objs.find(({ o }) => o.kind === 'Namespace').o;
  assert.equal(ns.metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
  const deps = objs.filter(({ o }) => o.kind === 'Deployment').map(({ o }) => o);
  assert.equal(deps.length, 3);
  for (const d of deps) {
    const pod = d.spec.template.spec;
    const name = d.metadata.name;
    assert.equal(pod.securityContext.runAsNonRoot, true, `${name}: runAsNonRoot`);
    assert.ok(pod.securityContext.runAsUser > 0, `${name}: a non-root uid`);
    assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault', `${name}: seccomp`);
    assert.equal(pod.automountServiceAccountToken, false, `${name}: no API token`);
    for (const v of pod.volumes || []) assert.ok(!v.hostPath, `${name}: no hostPath volume`);
    for (const c of pod.containers) {
      const sc = c.securityContext;
      assert.equal(sc.allowPrivilegeEscalation, false, `${name}: allowPrivilegeEscalation`);
      assert.deepEqual(sc.capabilities.drop, ['ALL'], `${name}: capabilities dropped`);
      assert.ok(!sc.capabilities.add, `${name}: no capability added`);
      assert.equal(sc.readOnlyRootFilesystem, true, `${name}: read-only root`);
      assert.ok(!sc.privileged, `${name}: not privileged`);
      assert.match(c.image, /^jsmcp:\d+\.\d+\.\d+(-[0-9a-f]{7,})?$/, `${name}: a pinned tag, not ${c.image}`);
    }
  }
  const worker = deps.find((d) => d.metadata.name === 'jsmcp-worker').spec.template.spec.containers[0];
  assert.equal(worker.readinessProbe.httpGet.path, '/readyz', 'worker readiness reflects Redis');
  assert.equal(worker.livenessProbe.httpGet.path, '/healthz');
  assert.deepEqual(worker.volumeMounts.map((m) => m.mountPath), ['/var/lib/jsmcp-spool'], 'the spool is the only writable path');
  const kus = loadAll(join(k8s, 'kustomization.yaml'))[0];
  assert.deepEqual(kus.images, [{ name: 'jsmcp', newTag: '0.2.0' }]);
});

test('docker-compose.yml: images through variables with pinned defaults, ports on 127.0.0.1, readiness checks; nginx masks tokens', () => {
  const [doc] = loadAll(join(root, 'docker-compose.yml'));
  const s = doc.services;
  const images = { postgres: 'JSMCP_POSTGRES_IMAGE', redis: 'JSMCP_REDIS_IMAGE', lb: 'JSMCP_NGINX_IMAGE', api: 'JSMCP_IMAGE', 'worker-1': 'JSMCP_IMAGE' };
  for (const [svc, v] of Object.entries(images)) {
    const m = s[svc].image.match(/^\$\{(\w+):-([^}]+)\}$/);
    assert.ok(m && m[1] === v, `${svc}: image from \${${v}:-...}: ${s[svc].image}`);
    assert.match(m[2], /:\d+\.\d+(\.\d+)?(-bookworm)?$/, `${svc}: a pinned default tag, not ${m[2]}`);
  }
  for (const [name, svc] of Object.entries(s)) {
    for (const p of svc.ports || []) assert.match(p, /^\$\{JSMCP_PUBLISH_ADDR:-127\.0\.0\.1\}:/, `${name}: published on 127.0.0.1 by default`);
    assert.ok(svc.healthcheck || ['sandbox', 'api', 'worker-1', 'worker-2', 'sweeper'].includes(name), `${name}: a health check`);
  }
  for (const w of ['api', 'worker-1', 'worker-2']) assert.equal(s[w].environment.HEALTH_PATH, '/readyz', `${w}: healthy = ready`);
  assert.ok(!s.postgres.ports && !s.redis.ports, 'PostgreSQL and Redis stay on the stack network');
  const nginx = readFileSync(join(root, 'deploy', 'nginx.conf'), 'utf8');
  const fmt = nginx.match(/log_format\s+jsmcp_masked([^;]+);/);
  assert.ok(fmt, 'a log format of our own');
  assert.ok(!/\$request\b|\$request_uri|\$uri|\$args|\$query_string|\$http_referer/.test(fmt[1]), 'no raw request line, URI or query in the access log');
  assert.match(nginx, /access_log\s+\S+\s+jsmcp_masked;/);
  assert.match(nginx, /error_log\s+\S+\s+crit;/, 'the error log (which names request lines) keeps critical errors only');
});
