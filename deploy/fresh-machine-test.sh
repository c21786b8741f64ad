#!/usr/bin/env bash
# make fresh-machine-test: the README's first command on a new machine, for
# good. A container from the bare Debian base of `make images` (no compiler,
# no make, no git, no libraries) installs git and make as the README says,
# clones this repository (the committed HEAD, from a git bundle mounted
# read-only: no network clone), runs `make demo`, then calls a tool with the
# official MCP SDK client (tests/compose/fresh_call.mjs) and `make stop`.
# --network host: apt and npm reach the machine's registries; the demo
# listens on free loopback ports (DEMO_*_PORT), so it can run beside others.
# Output: build/fresh-machine/run.log.
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/lib.sh

OUT=${FRESH_OUT:-build/fresh-machine}
fresh_dir "$OUT"
need_images_env
BASE=$(sed -n 's/^JSMCP_BASE_IMAGE=//p' build/images/images.env)
need_pkgs docker.io
dk_up "$OUT/dockerd.log"
NAME=jsmcp-fresh-$$
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  docker rm -f "$NAME" >/dev/null 2>&1 || true
  dk_down
  [ "$rc" = 0 ] || say "FAILED (log: $OUT/run.log)"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
docker image inspect "$BASE" >/dev/null 2>&1 || die "$BASE is not built: run make images"
git diff --quiet HEAD -- || say "note: uncommitted changes are not in the test (it clones HEAD)"
git bundle create "$OUT/jsmcp.bundle" HEAD 2>/dev/null
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# What this machine adds to the system's trust store (on these machines, the
# CA of the TLS-inspecting egress proxy that npm goes through) goes into the
# container the way the apt mirror does: read at run time, never written
# into the repository. A new machine here comes with it too.
CA=()
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
  CA+=(-v /usr/local/share/ca-certificates:/usr/local/share/ca-certificates:ro)
fi
[ -z "${NODE_EXTRA_CA_CERTS:-}" ] || CA+=(-e NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt)

t0=$SECONDS
# The steps a person follows on a new Debian 12 machine, as root.
docker run --name "$NAME" --network host "${CA[@]}" \
  -v "$PWD/$OUT/jsmcp.bundle:/src/jsmcp.bundle:ro" \
  -e DEMO_PG_PORT="$(free_port)" -e DEMO_REDIS_PORT="$(free_port)" -e DEMO_SANDBOX_PORT="$(free_port)" \
  -e DEMO_API_PORT="$(free_port)" -e DEMO_WORKER_PORT="$(free_port)" \
  "$BASE" bash -c '
    set -euo pipefail
    step() { printf "\n=== %s (%s s)\n" "$1" "$SECONDS"; }
    step "a bare machine"
    . /etc/os-release; echo "$PRETTY_NAME"
    for t in cc gcc make git pkg-config node psql redis-server; do
      if command -v "$t" >/dev/null; then echo "$t is already installed: not a bare machine"; exit 1; fi
    done
    step "apt-get install git make (README)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends git make ca-certificates >/dev/null
    step "git clone"
    git clone -q /src/jsmcp.bundle /root/jsmcp
    cd /root/jsmcp
    git log --oneline -1
    step "make demo"
    make demo
    step "an MCP tool call with the SDK client"
    . run/demo.env
    node tests/compose/fresh_call.mjs "$DEMO_MCP_URL"
    step "make demo again (idempotent), then make stop"
    make demo >/dev/null
    make stop
    step "done"
  ' >"$OUT/run.log" 2>&1 || { tail -60 "$OUT/run.log" >&2; die "the fresh machine failed"; }
grep -E '^=== |^fresh machine:' "$OUT/run.log" >&2
say "passed in $((SECONDS - t0)) s"
