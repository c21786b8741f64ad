# The start of every benchmark that runs our binaries (sourced after `cd` to
# the repository root, not a benchmark itself: run.sh runs bench/*.sh only):
# where the binaries are, the PostgreSQL and Redis that bench/run.sh started,
# and the helpers each script needs to start its own API, workers and sandbox.
ROOT=$PWD
BIN=${JSMCP_BIN_DIR:-$ROOT/build}
BBIN=${JSMCP_BENCH_BIN_DIR:-$BIN/bench}
: "${JSMCP_TEST_PG_URL:?run through bench/run.sh (it starts PostgreSQL and Redis)}"
: "${JSMCP_TEST_REDIS_URL:?run through bench/run.sh}"
# The load generators (bench/*.c) are built by make bench, not by make: a
# binary older than its source measures what the source no longer says (a
# stale audit_load sent every record from one server, whatever
# AUDIT_DRAIN_SERVERS asked). Refuse it.
for src in "$ROOT"/bench/*.c; do
  b="$BBIN/$(basename "$src" .c)"
  if [ -e "$b" ] && [ "$src" -nt "$b" ]; then
    echo "bench: ${b#"$ROOT"/} is older than ${src#"$ROOT"/}: run make bench (or make ${b#"$ROOT"/})" >&2
    exit 1
  fi
done

# A TCP port free on loopback now (the kernel picks it).
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
# $1 random bytes in base64, for keys and bootstrap secrets.
rand_b64() { head -c "$1" /dev/urandom | base64 -w0; }
# Waits until $1/healthz answers 2xx (10 s at the most).
wait_up() { for _ in $(seq 100); do curl -fs -o /dev/null "$1/healthz" && return 0; sleep 0.1; done; echo "bench: $1 did not come up" >&2; return 1; }
