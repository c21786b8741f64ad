#!/usr/bin/env bash
# make compose-test: docker-compose.yml run for real, with the images of
# `make images` (build/images/images.env) and generated secrets, then
# tests/compose/stack.test.mjs drives it as an operator and as Claude would.
# Always ends with `docker-compose down -v` (on failure too) and checks that
# no container, volume or network of the run is left. Traffic goes only to
# the ports published on 127.0.0.1 and inside the run's own Docker network.
# Logs: build/compose-test/ (compose.log holds every container's output).
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/lib.sh

OUT=${COMPOSE_TEST_OUT:-build/compose-test}
fresh_dir "$OUT"
need_images_env
need_pkgs docker.io docker-compose postgresql-client
[ -d tests/node/node_modules/@modelcontextprotocol/sdk ] || die "the MCP SDK is missing: run scripts/install-deps.sh"
dk_up "$OUT/dockerd.log"

set -a
# shellcheck disable=SC1091
. build/images/images.env
set +a
for v in JSMCP_IMAGE JSMCP_POSTGRES_IMAGE JSMCP_REDIS_IMAGE JSMCP_NGINX_IMAGE; do
  docker image inspect "${!v}" >/dev/null 2>&1 || { dk_down; die "$v=${!v} is not built: run make images"; }
done

# Free loopback ports for what the stack publishes (the kernel picks them).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
API_PORT=$(free_port) MCP_PORT=$(free_port) SB_PORT=$(free_port) PG_PORT=$(free_port)
PROJECT=jsmcpct$$
rand_b64() { head -c "$1" /dev/urandom | base64 -w0; }
MASTER="k1:$(rand_b64 32)"
BOOT="jsb_$(rand_b64 24 | tr '+/' '-_' | tr -d '=')"
PGPW=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
# The secrets go to the env file only (mode 0600), as an operator's .env would.
(
  umask 077
  cat >"$OUT/env" <<ENV
JSMCP_MASTER_KEYS=$MASTER
JSMCP_BOOTSTRAP_KEY=$BOOT
POSTGRES_PASSWORD=$PGPW
JSMCP_PUBLISH_ADDR=127.0.0.1
JSMCP_API_PORT=$API_PORT
JSMCP_MCP_PORT=$MCP_PORT
JSMCP_SANDBOX_PORT=$SB_PORT
JSMCP_PUBLIC_WORKER_URL=http://127.0.0.1:$MCP_PORT
CT_PG_PORT=$PG_PORT
JSMCP_IMAGE=$JSMCP_IMAGE
JSMCP_POSTGRES_IMAGE=$JSMCP_POSTGRES_IMAGE
JSMCP_REDIS_IMAGE=$JSMCP_REDIS_IMAGE
JSMCP_NGINX_IMAGE=$JSMCP_NGINX_IMAGE
ENV
)
DC=(docker-compose -p "$PROJECT" --env-file "$OUT/env" -f docker-compose.yml -f tests/compose/compose.test.yml)

left_over() { # what of this run Docker still has
  docker ps -aq --filter "label=com.docker.compose.project=$PROJECT"
  docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT"
  docker network ls -q --filter "label=com.docker.compose.project=$PROJECT"
}
cleanup() {
  local rc=$? t1=$SECONDS
  trap - EXIT INT TERM
  "${DC[@]}" logs --no-color --timestamps >"$OUT/compose.log" 2>&1 || true
  "${DC[@]}" down -v --remove-orphans --timeout 40 >"$OUT/down.log" 2>&1 || { rc=1; cat "$OUT/down.log" >&2; }
  if [ -n "$(left_over)" ]; then
    say "left after docker-compose down -v:"; left_over >&2; rc=1
  else
    say "docker-compose down -v: nothing of $PROJECT left ($((SECONDS - t1)) s)"
  fi
  dk_down
  [ "$rc" = 0 ] || say "FAILED (logs in $OUT/)"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$SECONDS rc=0
"${DC[@]}" up -d --no-build >"$OUT/up.log" 2>&1 || { cat "$OUT/up.log" >&2; die "docker-compose up failed"; }
# Every service has a health check (docker-compose.yml): wait for all.
status() {
  docker inspect -f '{{index .Config.Labels "com.docker.compose.service"}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' \
    $(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT")
}
for i in $(seq 1 240); do
  st=$(status)
  if [ "$(echo "$st" | wc -l)" -eq 8 ] && ! echo "$st" | grep -qv ' running healthy$'; then break; fi
  if [ "$i" -eq 240 ]; then echo "$st" >&2; die "not every service became healthy within 240 s"; fi
  sleep 1
done
say "8 services healthy in $((SECONDS - t0)) s"

CT_COMPOSE=$(printf '%s\n' "${DC[@]}" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read().splitlines()))') \
CT_API_URL=http://127.0.0.1:$API_PORT CT_MCP_BASE=http://127.0.0.1:$MCP_PORT CT_SANDBOX_URL=http://127.0.0.1:$SB_PORT \
CT_DB_URL="postgresql://jsmcp:$PGPW@127.0.0.1:$PG_PORT/jsmcp" CT_BOOTSTRAP_KEY=$BOOT CT_PROJECT=$PROJECT \
CT_ARTIFACTS=$OUT \
  node --test --test-concurrency=1 tests/compose/stack.test.mjs 2>&1 | tee "$OUT/test.log" || rc=$?
say "scenario in $((SECONDS - t0)) s"
exit "$rc"
