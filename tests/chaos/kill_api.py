#!/usr/bin/env python3
# Chaos 1: two API replicas on one database and Redis prefix; 8 clients do
# random admin writes (server create/PATCH/rotate with and without
# overlap/delete, account PATCH, workspace API key create/revoke) against
# either replica while a killer SIGKILLs one replica at random moments and
# restarts it. Then: wait for the outbox to empty (the event that every
# committed change was published), run the invariant checker (pub_check),
# and check every answered write against PostgreSQL and Redis.
#   tests/chaos/kill_api.py [seconds] [seed]
import json, os, random, sys, threading, time
import requests
from lib import Env, sha, token_of, live_record, psql

DUR = float(sys.argv[1]) if len(sys.argv) > 1 else 40
SEED = int(sys.argv[2]) if len(sys.argv) > 2 else int(time.time())
random.seed(SEED)
print("seed", SEED, flush=True)

E = Env("kill", {"JSMCP_RECONCILE_INTERVAL_MS": "500", "JSMCP_RECONCILE_FULL_INTERVAL_MS": os.environ.get("CHAOS_FULL_MS", "3600000")})
E.start_api("A")
SHIFT = os.environ.get("CHAOS_B_SHIFT_MS")
E.start_api("B", {"LD_PRELOAD": "/tmp/clockshift.so", "CHAOS_CLOCK_SHIFT_MS": SHIFT,
                  "ASAN_OPTIONS": "detect_leaks=0:halt_on_error=1:verify_asan_link_order=0"} if SHIFT else None)
WS, KEY, ACCTS = E.setup_tenant("A")
alive = {"A": True, "B": True}
SWEEP = os.environ.get("CHAOS_SWEEPER") == "1"
if SWEEP:
    import subprocess as _sp
    from lib import free_port, ART
    _env = dict(E.env)
    _env["JSMCP_SWEEPER_LISTEN"] = "127.0.0.1:%d" % free_port()
    _env["JSMCP_SWEEP_INTERVAL_MS"] = "200"
    SWEEPER = _sp.Popen([os.path.join(os.environ.get("JSMCP_BIN_DIR", "../../build/san"), "jsmcp-api"), "sweeper"], env=_env,
                        stdout=open(os.path.join(ART, E.db + "_sweeper.log"), "w"), stderr=_sp.STDOUT)
stop = threading.Event()
problems = []
lock = threading.Lock()


def problem(s):
    with lock:
        problems.append(s)
    print("PROBLEM", s, flush=True)


class Client(threading.Thread):
    def __init__(self, i):
        super().__init__()
        self.i = i
        self.rng = random.Random(SEED * 100 + i)
        self.srv = {}   # id -> model
        self.keys = {}  # id -> {hash, state}
        self.gone_srv = []
        self.n = 0
        self.counts = {}

    def call(self, method, path, body=None):
        rep = self.rng.choice(["A", "B"])
        try:
            s, j = E.call(rep, KEY, method, path, body, timeout=15)
        except requests.RequestException as e:
            self.counts["conn"] = self.counts.get("conn", 0) + 1
            return None, str(e)[:80]
        if s == 503 and "may or may not" in json.dumps(j):
            self.counts["503?"] = self.counts.get("503?", 0) + 1
            return None, "maybe applied"
        if s == 503 and FAULT != "kill" and "written" not in json.dumps(j) and "applied" not in json.dumps(j):
            self.odd503 = getattr(self, "odd503", {})
            k = json.dumps(j)[:160]
            self.odd503[k] = self.odd503.get(k, 0) + 1
        if s >= 500 and s != 503:
            problem("%s %s %s -> %d %s" % (rep, method, path, s, json.dumps(j)[:300]))
        self.counts[s] = self.counts.get(s, 0) + 1
        return s, j

    def run(self):
        while not stop.is_set():
            self.n += 1
            op = self.rng.randrange(9)
            live = [k for k, v in self.srv.items() if not v["deleted"]]
            if not live or op == 0:
                acct = self.rng.choice(ACCTS)
                exp = None
                body = {"name": "c%d_%d" % (self.i, self.n), "config": {"methods": ["read"]}}
                if SWEEP and self.rng.random() < 0.4:
                    exp = time.time() + self.rng.uniform(1.5, 4)
                    body["expires_at"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(exp)) + ".%03dZ" % int((exp % 1) * 1000)
                    exp = float(int(exp))  # the API keeps whole seconds (rounded down)
                s, j = self.call("POST", "/integrated-account/%s/mcp" % acct, body)
                if s == 201:
                    self.srv[j["id"]] = {"acct": acct, "name": body["name"], "rq": False, "methods": ["read"],
                                         "tok": token_of(j["url"]), "prev": None, "dead_toks": [], "deleted": False,
                                         "sure": True, "tok_sure": True, "exp": exp}
                continue
            sid = self.rng.choice(live)
            m = self.srv[sid]
            path = "/integrated-account/%s/mcp/%s" % (m["acct"], sid)
            if op in (1, 2):
                body = {"name": "p%d_%d" % (self.i, self.n), "require_api_token_auth": op == 1,
                        "config": {"methods": ["read", "write"] if op == 1 else ["read"]}}
                s, j = self.call("PATCH", path, body)
                if s == 200:
                    m.update(name=body["name"], rq=body["require_api_token_auth"], methods=body["config"]["methods"], sure=True)
                elif s == 404:
                    if m["sure"] and not (m.get("exp") and time.time() > m["exp"] - 0.5):
                        problem("PATCH of live server %s answered 404" % sid)
                    m["deleted"] = True
                elif s != 503:
                    m["sure"] = False
            elif op == 3:
                ov = self.rng.choice([0, 600] + ([1, 2] if SWEEP else []))
                s, j = self.call("POST", path + "/rotate", {"overlap_seconds": ov})
                if s == 200:
                    old = m["tok"]
                    if m["prev"]:
                        m["dead_toks"].append(m["prev"])
                    if ov:
                        m["prev"] = old
                    else:
                        m["prev"] = None
                        if old:
                            m["dead_toks"].append(old)
                    m["tok"] = token_of(j["url"])
                    m["tok_sure"] = m["tok_sure"]  # previous uncertainty remains for prev
                elif s == 404:
                    m["deleted"] = True
                elif s != 503:
                    m["sure"] = False
                    m["tok_sure"] = False
                    if m["tok"]:
                        m.setdefault("maybe_toks", []).append(m["tok"])
            elif op == 4:
                s, j = self.call("DELETE", path)
                if s in (204, 404):
                    m["deleted"] = True
                    m["sure"] = True
                elif s != 503:
                    m["sure"] = False
                    m["maybe_deleted"] = True
            elif op == 5:
                acct = self.rng.choice(ACCTS)
                self.call("PATCH", "/integrated-account/%s" % acct, {"pace": "%d/s burst %d" % (self.n % 9 + 1, self.n % 9 + 2)})
            elif op == 6:
                s, j = self.call("POST", "/api-keys", {"name": "k%d_%d" % (self.i, self.n)})
                if s == 201:
                    self.keys[j["id"]] = {"hash": sha(j["key"]), "deleted": False, "sure": True}
            elif op == 7 and self.keys:
                kid = self.rng.choice(list(self.keys))
                k = self.keys[kid]
                s, j = self.call("DELETE", "/api-keys/%s" % kid)
                if s in (204, 404):
                    k["deleted"] = True
                elif s != 503:
                    k["sure"] = False


FAULT = os.environ.get("CHAOS_FAULT", "kill")


def pg_restart():
    import subprocess
    d = os.path.join(os.environ["JSMCP_TEST_TMP"], "pg")
    cmd = ["/usr/lib/postgresql/15/bin/pg_ctl", "-D", d, "-l", os.path.join(os.environ["JSMCP_TEST_TMP"], "pg.log"), "-m", "fast", "-w", "restart"]
    if os.getuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        problem("pg_ctl restart failed")


def killer():
    rng = random.Random(SEED)
    kills = 0
    while not stop.is_set():
        time.sleep(rng.uniform(0.3, 1.5))
        if stop.is_set():
            break
        if FAULT == "loss":  # Redis loses this prefix's data (a FLUSHALL, a restart without persistence)
            from lib import rcli
            rcli("EVAL", "for _, k in ipairs(redis.call('KEYS', ARGV[1] .. '*')) do redis.call('DEL', k) end", "0", E.prefix)
            kills += 1
            time.sleep(rng.uniform(0.5, 2))
            continue
        if FAULT == "pg":
            pg_restart()
            kills += 1
            time.sleep(rng.uniform(1, 3))
            continue
        name = rng.choice(os.environ.get("CHAOS_KILL", "AB"))
        E.kill9(name)
        kills += 1
        time.sleep(rng.uniform(0.05, 0.6))
        E.start_api(name, wait=False)
        try:
            E.wait_healthy(name)
        except RuntimeError as e:
            problem("restart: %s" % e)
    print("kills", kills, flush=True)


clients = [Client(i) for i in range(8)]
for c in clients:
    c.start()
k = threading.Thread(target=killer)
k.start()
time.sleep(DUR)
stop.set()
k.join()
for c in clients:
    c.join()
print("ops", sum(c.n for c in clients), "statuses",
      {s: sum(c.counts.get(s, 0) for c in clients) for s in sorted({s for c in clients for s in c.counts}, key=str)}, flush=True)

# Converge: the outbox empties (every committed change published). Each
# replica's incremental pass runs every 500 ms; a full pass ran at start.
t0 = time.time()
while E.outbox() and time.time() - t0 < 60:
    time.sleep(0.1)
print("outbox empty after %.1fs (left %d)" % (time.time() - t0, E.outbox()), flush=True)
# Every replica still runs incremental passes (none stuck after the faults).
import re as _re
def _runs(n):
    try:
        t = E.metrics(n)
    except Exception as e:
        return -1
    return sum(float(v) for v in _re.findall(r'^jsmcp_api_reconcile_runs_total\{[^}]*kind="incremental"[^}]*\} (\S+)', t, _re.M))
for n in ("A", "B"):
    r0 = _runs(n)
    t1 = time.time()
    while _runs(n) <= r0 and time.time() - t1 < 10:
        time.sleep(0.2)
    r1 = _runs(n)
    print(n, "incremental passes", r0, "->", r1, flush=True)
    if r1 <= r0:
        problem("replica %s ran no incremental pass in 10 s after the faults" % n)
if FAULT == "loss":  # the last loss's full pass is done
    from lib import rget
    t2 = time.time()
    while " done " not in (rget(E.prefix + "reconcile:marker") or "") and time.time() - t2 < 60:
        time.sleep(0.1)
    print("marker", rget(E.prefix + "reconcile:marker"))
rc, out = E.pub_check()
print("pub_check:", out.strip()[:3000], flush=True)
if rc != 0:
    problem("pub_check failed")

# Every answered write against PostgreSQL and Redis.
rows = {}
for line in psql(E.db_url, "select id, name, require_api_token_auth, token_hash, coalesce(prev_token_hash,''),"
                 " config->'methods' from mcp_servers").splitlines():
    i, n, rq, th, ph, meth = line.split("|")
    rows[i] = (n, rq == "t", th, ph, json.loads(meth))
nchecked = 0
for c in clients:
    for sid, m in c.srv.items():
        if not m["sure"]:
            continue
        nchecked += 1
        if m.get("exp") and time.time() > m["exp"] + 0.5:
            m["deleted"] = True
            for t in [m["tok"], m["prev"]] + m["dead_toks"]:
                if t and live_record(E, "srv", sha(t)):
                    problem("expired server %s: token %s accepted in Redis" % (sid, sha(t)[:12]))
            continue
        if m["deleted"]:
            if sid in rows:
                problem("server %s deleted (2xx/404) but its row is there" % sid)
            for t in [m["tok"], m["prev"]] + m["dead_toks"]:
                if t and live_record(E, "srv", sha(t)):
                    problem("deleted server %s: token %s still live in Redis" % (sid, sha(t)[:12]))
            continue
        if sid not in rows:
            problem("server %s answered 2xx but has no row" % sid)
            continue
        n, rq, th, ph, meth = rows[sid]
        if (n, rq, meth) != (m["name"], m["rq"], m["methods"]):
            problem("server %s row %s != answered %s" % (sid, (n, rq, meth), (m["name"], m["rq"], m["methods"])))
        if m["tok_sure"] and th != sha(m["tok"]):
            problem("server %s token hash differs from the last rotation's answer" % sid)
        for t in m["dead_toks"]:
            if t and sha(t) not in (th, ph) and live_record(E, "srv", sha(t)):
                problem("server %s: rotated-out token %s live in Redis" % (sid, sha(t)[:12]))
        rec = live_record(E, "srv", th)
        if not rec or rec.get("name") != n:
            problem("server %s: its record %s does not carry the row's name %s" % (sid, rec, n))
keyrows = set(psql(E.db_url, "select key_hash from api_keys").splitlines())
for c in clients:
    for kid, k in c.keys.items():
        if not k["sure"]:
            continue
        if k["deleted"]:
            if k["hash"] in keyrows:
                problem("key %s revoked but row there" % kid)
            if live_record(E, "wskey", k["hash"]):
                problem("key %s revoked but wskey live" % kid)
        else:
            if k["hash"] not in keyrows:
                problem("key %s created 201 but no row" % kid)
print("checked %d servers" % nchecked)
for c in clients:
    if getattr(c, "odd503", None):
        print("503 bodies", c.odd503)
for n in ("A", "B"):
    print(n, "exit", E.stop(n))
if SWEEP:
    SWEEPER.terminate()
    print("sweeper exit", SWEEPER.wait())
print("PROBLEMS:" if problems else "no problems", *problems[:50], sep="\n")
sys.exit(1 if problems else 0)
