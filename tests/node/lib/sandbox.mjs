// Helpers for the JSM sandbox Node tests: spawn $JSMCP_BIN_DIR/jsm-sandbox on
// a free port (port 0, read back from its "listening" log line), call it
// with the default agent credentials, stop it (exit status checked, so
// sanitizer reports fail the test), and validate responses against the
// response schemas of the Atlassian OpenAPI documents with ajv.
import assert from 'node:assert/strict';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { spawnTied } from './spawn.mjs';

const BIN = process.env.JSMCP_BIN_DIR;
const ART = process.env.JSMCP_TEST_ARTIFACTS || '/tmp';
// Atlassian's OpenAPI documents, vendored in the repository (vendor/atlassian-openapi/README.md).
const OPENAPI = path.resolve(import.meta.dirname, '../../../vendor/atlassian-openapi');

export const EMAIL = 'agent@sandbox.test';
export const TOKEN = 'sandbox-api-token';
export const BASIC = 'Basic ' + Buffer.from(`${EMAIL}:${TOKEN}`).toString('base64');

// Throws (the test file fails, it is never skipped) when jsm-sandbox is not built.
export function requireSandbox() {
  if (!BIN || !existsSync(path.join(BIN, 'jsm-sandbox'))) throw new Error(`jsm-sandbox is not built in JSMCP_BIN_DIR (${BIN})`);
}

export async function startSandbox(name, env = {}, args = []) {
  const log = createWriteStream(path.join(ART, `node_${name}.log`));
  const child = spawnTied(path.join(BIN, 'jsm-sandbox'), ['--listen', '127.0.0.1:0', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(log);
  const port = await new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error('sandbox did not start: ' + buf)), 20000);
    child.stderr.on('data', (d) => {
      log.write(d);
      buf += d.toString();
      const m = buf.match(/"msg":"listening".*?"port":"(\d+)"/);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.on('exit', (code) => reject(new Error(`sandbox exited ${code}: ${buf}`)));
  });
  const base = `http://127.0.0.1:${port}`;
  return {
    base,
    child,
    async stop() {
      const done = new Promise((resolve) => child.on('exit', (code, sig) => resolve({ code, sig })));
      child.kill('SIGTERM');
      const { code, sig } = await done;
      assert.equal(sig, null, 'sandbox killed by a signal');
      assert.equal(code, 0, 'sandbox exit status (sanitizer report?)');
    },
    // Calls the sandbox; body objects are sent as JSON. Returns {status, headers, text, json}.
    async call(method, p, { body, headers = {}, auth = BASIC } = {}) {
      const h = { ...headers };
      if (auth) h.Authorization = auth;
      let data;
      if (body !== undefined) {
        data = typeof body === 'string' ? body : JSON.stringify(body);
        if (!h['Content-Type']) h['Content-Type'] = 'application/json';
      }
      const res = await fetch(base + p, { method, headers: h, body: data, redirect: 'manual' });
      const text = await res.text();
      let json;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = undefined;
      }
      return { status: res.status, headers: res.headers, text, json };
    },
  };
}

// ---- OpenAPI response schemas ----
const specs = {};
let ajv;

function loadSpecs() {
  if (ajv) return;
  specs.platform = JSON.parse(readFileSync(path.join(OPENAPI, 'jira-platform-v3.json'), 'utf8'));
  specs.jsm = JSON.parse(readFileSync(path.join(OPENAPI, 'jsm-servicedesk.json'), 'utf8'));
  ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false, discriminator: false });
  addFormats(ajv);
  for (const f of ['int32', 'int64', 'double', 'float', 'binary', 'byte']) ajv.addFormat(f, true);
  // OpenAPI 3.0 "nullable": let null through where the spec says so.
  for (const [id, spec] of Object.entries(specs)) {
    ajv.addSchema({ $id: `https://spec.test/${id}`, components: rewrite(spec.components, id) });
  }
}

function rewrite(v, id) {
  if (Array.isArray(v)) return v.map((x) => rewrite(x, id));
  if (v && typeof v === 'object') {
    const o = {};
    for (const [k, x] of Object.entries(v)) {
      if (k === '$ref' && typeof x === 'string' && x.startsWith('#/')) o[k] = `https://spec.test/${id}${x}`;
      else o[k] = rewrite(x, id);
    }
    if (o.nullable === true && o.type) o.type = [].concat(o.type, 'null');
    return o;
  }
  return v;
}

const compiled = new Map();
// The response schema of (family, method, path template, status) from the spec.
export function responseValidator(family, method, tmpl, status) {
  loadSpecs();
  const key = `${family} ${method} ${tmpl} ${status}`;
  if (compiled.has(key)) return compiled.get(key);
  const op = specs[family].paths[tmpl]?.[method.toLowerCase()];
  assert.ok(op, `no operation ${method} ${tmpl} in the ${family} spec`);
  const resp = op.responses[String(status)];
  assert.ok(resp, `no ${status} response for ${method} ${tmpl}`);
  const schema = resp.content?.['application/json']?.schema;
  const fn = schema ? ajv.compile({ $id: `https://spec.test/resp/${compiled.size}`, ...rewrite(schema, family) }) : null;
  compiled.set(key, fn);
  return fn;
}

// Asserts status and that the JSON body validates against the spec's schema.
export function assertSchema(family, method, tmpl, r, status) {
  assert.equal(r.status, status, `${method} ${tmpl}: status ${r.status}, body ${r.text.slice(0, 400)}`);
  const fn = responseValidator(family, method, tmpl, status);
  if (!fn) return;
  const ok = fn(r.json);
  assert.ok(ok, `${method} ${tmpl} does not match its response schema: ${JSON.stringify(fn.errors?.slice(0, 5))}`);
}
