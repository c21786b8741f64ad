# CPU time of processes for the benchmarks (sourced, not a benchmark: run.sh
# runs bench/*.sh only). Needs DB (the bench database's name) for backends
# and JSMCP_TEST_TMP (tests/support/services.sh) for pg_all.
HZ=$(getconf CLK_TCK)
# utime+stime (clock ticks) of the given pids, read by one awk so that all
# are read at the same moment (one awk per pid took ~1 s here).
ticks() {
  local f=() p
  for p in "$@"; do [ -r "/proc/$p/stat" ] && f+=("/proc/$p/stat"); done
  if [ ${#f[@]} -gt 0 ]; then awk '{t += $14 + $15} END {print t + 0}' "${f[@]}" 2>/dev/null; else echo 0; fi
}
# Minor page faults (field 10 of /proc/<pid>/stat) of the given pids: a
# backend's first touch of each 4 KiB of PostgreSQL's shared buffers is one,
# which a long-running server's connections paid long ago.
minflt() {
  local f=() p
  for p in "$@"; do [ -r "/proc/$p/stat" ] && f+=("/proc/$p/stat"); done
  if [ ${#f[@]} -gt 0 ]; then awk '{t += $10} END {print t + 0}' "${f[@]}" 2>/dev/null; else echo 0; fi
}
# The API's connections (client backends of the bench database, not the
# script's psql nor autovacuum): their CPU is what the API costs PostgreSQL.
backends() {
  psql -tAq "$JSMCP_TEST_PG_URL" -c "SELECT pid FROM pg_stat_activity WHERE datname = '$DB'
    AND backend_type = 'client backend' AND application_name <> 'psql'"
}
# The whole PostgreSQL instance: the postmaster, all its running children
# (the backends, WAL writer, checkpointer, autovacuum) and the children it
# has reaped (its cutime and cstime: an autovacuum worker or an ANALYZE that
# ran and exited between two readings; before 2026-12-06 18:00 UTC these were
# missed). bench/run.sh's instance serves one bench at a time.
pg_all() {
  local pm
  pm=$(head -1 "$JSMCP_TEST_TMP/pg/postmaster.pid")
  echo $(( $(ticks "$pm" $(pgrep -P "$pm")) + $(awk '{print $16 + $17}' "/proc/$pm/stat") ))
}
# Minor page faults of the whole instance, counted like pg_all: the running
# processes and the children the postmaster reaped (its cminflt), so a
# worker that exits between two readings does not take its faults with it.
pg_minflt() {
  local pm
  pm=$(head -1 "$JSMCP_TEST_TMP/pg/postmaster.pid")
  echo $(( $(minflt "$pm" $(pgrep -P "$pm")) + $(awk '{print $12}' "/proc/$pm/stat") ))
}
# Microseconds per item of a tick count: us_per <ticks> <items>.
us_per() { python3 -c "print(f'{$1 * 1e6 / $HZ / max($2, 1):.1f}')"; }
