# Shared helpers of the chaos scripts (tests/chaos/*.py): a fresh database
# and Redis prefix, API replicas spawned from $JSMCP_BIN_DIR, HTTP calls,
# psql/redis-cli, and the invariant checker (build/*/bench/pub_check).
# Environment: JSMCP_TEST_PG_URL, JSMCP_TEST_REDIS_URL (tests/support/services.sh).
import base64, json, os, random, socket, subprocess, time, urllib.parse
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("JSMCP_BIN_DIR", os.path.join(ROOT, "build/san"))
ART = os.environ.get("CHAOS_ART", "/tmp/chaos-art")
os.makedirs(ART, exist_ok=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def psql(url, sql):
    r = subprocess.run(["psql", url, "-XtAqc", sql], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("psql: " + r.stderr)
    return r.stdout.strip()


def rcli(*args):
    u = urllib.parse.urlparse(os.environ["JSMCP_TEST_REDIS_URL"])
    r = subprocess.run(["redis-cli", "-h", u.hostname, "-p", str(u.port), "--no-raw", *args],
                       capture_output=True, text=True)
    return r.stdout.strip()


def rget(key):
    u = urllib.parse.urlparse(os.environ["JSMCP_TEST_REDIS_URL"])
    r = subprocess.run(["redis-cli", "-h", u.hostname, "-p", str(u.port), "--raw", "GET", key],
                       capture_output=True, text=True)
    v = r.stdout.rstrip("\n")
    return v or None


class Env:
    def __init__(self, name, extra=None):
        admin = os.environ["JSMCP_TEST_PG_URL"]
        self.db = "chaos_%s_%s" % (name, os.urandom(4).hex())
        psql(admin, "create database " + self.db)
        u = urllib.parse.urlparse(admin)
        self.db_url = u._replace(path="/" + self.db).geturl()
        self.prefix = "c%d_%s:" % (os.getpid(), name)
        self.env = dict(os.environ)
        self.env.update({
            "JSMCP_DATABASE_URL": self.db_url,
            "JSMCP_REDIS_URL": os.environ["JSMCP_TEST_REDIS_URL"],
            "JSMCP_REDIS_PREFIX": self.prefix,
            "JSMCP_MASTER_KEYS": "k1:" + base64.b64encode(os.urandom(32)).decode(),
            "JSMCP_BOOTSTRAP_KEY": "jsb_" + base64.urlsafe_b64encode(os.urandom(18)).decode(),
            "JSMCP_PUBLIC_WORKER_URL": "http://127.0.0.1:8081",
            "JSMCP_SITE_ALLOWLIST": "127.0.0.1:9",
            "JSMCP_MIN_LIFETIME_MS": "1000",
            "ASAN_OPTIONS": "detect_leaks=0:halt_on_error=1",
        })
        self.env.update(extra or {})
        self.procs = {}

    def start_api(self, name, extra=None, wait=True):
        old = self.procs.get(name)
        port = old["port"] if old else free_port()
        mport = old["mport"] if old else free_port()
        env = dict(self.env)
        env.update({"JSMCP_API_LISTEN": "127.0.0.1:%d" % port,
                    "JSMCP_API_METRICS_LISTEN": "127.0.0.1:%d" % mport,
                    "JSMCP_AUDIT_CONSUMER": name})
        env.update(extra or (old["extra"] if old else {}) or {})
        n = (old["n"] + 1) if old else 1
        log = open(os.path.join(ART, "%s_%s.%d.log" % (self.db, name, n)), "w")
        p = subprocess.Popen([os.path.join(BIN, "jsmcp-api")], env=env, stdout=log, stderr=subprocess.STDOUT)
        self.procs[name] = {"p": p, "port": port, "mport": mport, "n": n, "log": log.name,
                            "url": "http://127.0.0.1:%d" % port, "extra": extra or (old["extra"] if old else {})}
        if wait:
            self.wait_healthy(name)
        return self.procs[name]

    def wait_healthy(self, name, timeout=30):
        pr = self.procs[name]
        t = time.time() + timeout
        while time.time() < t:
            if pr["p"].poll() is not None:
                raise RuntimeError("%s exited %s, log %s" % (name, pr["p"].returncode, pr["log"]))
            try:
                if requests.get(pr["url"] + "/healthz", timeout=1).ok:
                    return
            except Exception:
                pass
            time.sleep(0.05)
        raise RuntimeError("%s not healthy, log %s" % (name, pr["log"]))

    def kill9(self, name):
        pr = self.procs[name]
        pr["p"].kill()
        pr["p"].wait()

    def stop(self, name):
        pr = self.procs[name]
        if pr["p"].poll() is None:
            pr["p"].terminate()
            try:
                return pr["p"].wait(20)
            except subprocess.TimeoutExpired:
                pr["p"].kill()
                return pr["p"].wait()
        return pr["p"].returncode

    def url(self, name):
        return self.procs[name]["url"]

    def metrics(self, name):
        pr = self.procs[name]
        return requests.get("http://127.0.0.1:%d/metrics" % pr["mport"], timeout=5).text

    def call(self, name, key, method, path, body=None, timeout=10):
        h = {"Authorization": "Bearer " + key}
        r = requests.request(method, self.url(name) + path, headers=h,
                             json=body if body is not None else None, timeout=timeout)
        try:
            j = r.json()
        except Exception:
            j = None
        return r.status_code, j

    def setup_tenant(self, name, naccts=2):
        boot = self.env["JSMCP_BOOTSTRAP_KEY"]
        s, ws = self.call(name, boot, "POST", "/workspaces", {"name": "chaos"})
        assert s == 201, (s, ws)
        s, k = self.call(name, boot, "POST", "/workspaces/%s/api-keys" % ws["id"], {"name": "chaos"})
        assert s == 201, (s, k)
        accts = []
        for i in range(naccts):
            s, a = self.call(name, k["key"], "POST", "/integrated-account", {
                "tenant_id": "t%d" % i, "site_url": "http://127.0.0.1:9",
                "auth": {"type": "api_token", "email": "a@b.test", "api_token": "tok"}})
            assert s == 201, (s, a)
            accts.append(a["id"])
        return ws["id"], k["key"], accts

    def pub_check(self):
        env = dict(self.env)
        env["JSMCP_DATABASE_URL"] = self.db_url
        pc = os.path.join(BIN, "bench/pub_check")
        if not os.path.exists(pc):
            pc = os.path.join(ROOT, "build/bench/pub_check")
        r = subprocess.run([pc], env=env, capture_output=True, text=True)
        return r.returncode, r.stdout + r.stderr

    def outbox(self):
        return int(psql(self.db_url, "select count(*) from publish_outbox"))


def sha(tok):
    import hashlib
    return hashlib.sha256(tok.encode()).hexdigest()


def token_of(url):
    return url.rsplit("/mcp/", 1)[1]


def live_record(env, kind, h):
    v = rget(env.prefix + kind + ":" + h)
    if not v:
        return None
    try:
        j = json.loads(v)
    except Exception:
        return v
    if isinstance(j, dict) and j.get("tombstone"):
        return None
    if isinstance(j, dict) and isinstance(j.get("expires_at_ms"), int) and j["expires_at_ms"] <= time.time() * 1000:
        return None
    return j
