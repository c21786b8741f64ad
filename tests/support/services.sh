# Sourced by tests/run.sh and bench/run.sh: starts one PostgreSQL 15 and one
# Redis 7 in a temp dir on free loopback ports, and stops them again.
#   services_start  exports JSMCP_TEST_PG_URL (superuser conninfo, db postgres),
#                   JSMCP_TEST_REDIS_URL, JSMCP_TEST_PG_PORT, JSMCP_TEST_REDIS_PORT,
#                   JSMCP_TEST_TMP
#   services_stop   stops both and removes the temp dir
# CI runs as root: PostgreSQL refuses to, so it runs as the postgres user.

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

svc_as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# A free TCP port on 127.0.0.1 (bind to 0, read it back, release).
svc_free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

services_start() {
  JSMCP_TEST_TMP=$(mktemp -d /tmp/jsmcp-test.XXXXXX)
  chmod 755 "$JSMCP_TEST_TMP"
  mkdir -p "$JSMCP_TEST_TMP/pg" "$JSMCP_TEST_TMP/pgsock"
  : >"$JSMCP_TEST_TMP/pg.log"
  [ "$(id -u)" -eq 0 ] && chown postgres "$JSMCP_TEST_TMP/pg" "$JSMCP_TEST_TMP/pgsock" "$JSMCP_TEST_TMP/pg.log"
  svc_as_pg "$PGBIN/initdb" -D "$JSMCP_TEST_TMP/pg" -U postgres -A trust --no-sync >/dev/null
  local pgport rport
  pgport=$(svc_free_port)
  svc_as_pg "$PGBIN/pg_ctl" -D "$JSMCP_TEST_TMP/pg" -l "$JSMCP_TEST_TMP/pg.log" -w -t 30 \
    -o "-p $pgport -k $JSMCP_TEST_TMP/pgsock -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    start >/dev/null || { echo "services: PostgreSQL did not start:" >&2; cat "$JSMCP_TEST_TMP/pg.log" >&2; return 1; }
  rport=$(svc_free_port)
  redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$JSMCP_TEST_TMP" --logfile "$JSMCP_TEST_TMP/redis.log" --daemonize yes \
    --pidfile "$JSMCP_TEST_TMP/redis.pid" >/dev/null
  local i
  for i in $(seq 1 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.05; done
  redis-cli -p "$rport" ping >/dev/null 2>&1 || { echo "services: Redis did not start" >&2; return 1; }
  export JSMCP_TEST_TMP JSMCP_TEST_PG_PORT=$pgport JSMCP_TEST_REDIS_PORT=$rport
  export JSMCP_TEST_PG_URL="postgresql://postgres@127.0.0.1:$pgport/postgres"
  export JSMCP_TEST_REDIS_URL="redis://127.0.0.1:$rport/0"
}

services_stop() {
  [ -n "${JSMCP_TEST_TMP:-}" ] && [ -d "$JSMCP_TEST_TMP" ] || return 0
  redis-cli -p "$JSMCP_TEST_REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  svc_as_pg "$PGBIN/pg_ctl" -D "$JSMCP_TEST_TMP/pg" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$JSMCP_TEST_TMP"
}
