#!/usr/bin/env python3
# Chaos 2+3: Redis loses the API's data (every key under the prefix, the
# marker too) and PostgreSQL restarts (fast) while the full pass that
# rebuilds it runs, five times, two API replicas; 3,000 servers so a pass
# has several chunks. Then the marker must be done and the checker pass.
import os, random, subprocess, sys, time
from lib import Env, psql, rcli, rget

SEED = int(sys.argv[1]) if len(sys.argv) > 1 else 1
rng = random.Random(SEED)
E = Env("losspg", {"JSMCP_RECONCILE_INTERVAL_MS": "300"})
E.start_api("A")
E.start_api("B")
WS, KEY, ACCTS = E.setup_tenant("A")
psql(E.db_url, "insert into mcp_servers (id, workspace_id, account_id, name, config, token_hash)"
     " select gen_random_uuid(), '%s', '%s', 'bulk' || g, '{\"methods\":[\"read\"]}', md5(g::text) || md5('x' || g)"
     " from generate_series(1, 3000) g" % (WS, ACCTS[0]))
t = time.time()
while E.outbox() and time.time() - t < 60:
    time.sleep(0.2)
print("outbox empty", time.time() - t)


def marker():
    return rget(E.prefix + "reconcile:marker") or ""


def pg_restart():
    d = os.path.join(os.environ["JSMCP_TEST_TMP"], "pg")
    subprocess.run(["runuser", "-u", "postgres", "--", "/usr/lib/postgresql/15/bin/pg_ctl", "-D", d, "-l",
                    os.path.join(os.environ["JSMCP_TEST_TMP"], "pg.log"), "-m", "fast", "-w", "restart"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, check=True)


bad = 0
for i in range(5):
    while " done " not in marker():
        time.sleep(0.1)
    rcli("EVAL", "for _, k in ipairs(redis.call('KEYS', ARGV[1] .. '*')) do redis.call('DEL', k) end", "0", E.prefix)
    t0 = time.time()
    while " pending " not in marker() and time.time() - t0 < 10:
        time.sleep(0.01)
    time.sleep(rng.uniform(0, 0.8))
    pg_restart()
    t1 = time.time()
    while " done " not in marker() and time.time() - t1 < 60:
        time.sleep(0.1)
    rc, out = E.pub_check()
    print("round", i, "marker", marker()[:30], "rebuilt in %.1fs" % (time.time() - t0), "check", out.strip()[:300], flush=True)
    bad += rc != 0 or " done " not in marker()
for n in ("A", "B"):
    print(n, "exit", E.stop(n))
print("no problems" if not bad else "PROBLEMS")
sys.exit(1 if bad else 0)
