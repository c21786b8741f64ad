# Sourced by tests/run.sh: finds the processes a test run left behind.
#   leftovers_mark   exports JSMCP_TEST_RUN=<unique id>: every process the run
#                    starts from then on inherits it in its environment
#   leftovers_check  waits up to LEFTOVERS_GRACE_S (10) for such processes to
#                    end (one killed with its test may still be going), then
#                    lists those left with ps, kills them (SIGKILL) and
#                    returns 1; returns 0 when none is left

leftovers_mark() {
  JSMCP_TEST_RUN="$$.$(date +%s%N)"
  export JSMCP_TEST_RUN
}

# Pids whose environment (as the process was started) holds this run's mark.
# grep runs without the mark, so it does not find itself; this shell's own
# /proc/<pid>/environ is the one it was started with, from before the mark.
leftovers_find() {
  local f
  for f in $(env -u JSMCP_TEST_RUN grep -lzxF "JSMCP_TEST_RUN=$JSMCP_TEST_RUN" /proc/[0-9]*/environ 2>/dev/null); do
    f=${f#/proc/}
    echo "${f%/environ}"
  done
}

leftovers_check() {
  local left i
  for ((i = 0; i < ${LEFTOVERS_GRACE_S:-10} * 10; i++)); do
    left=$(leftovers_find)
    [ -z "$left" ] && return 0
    sleep 0.1
  done
  left=$(leftovers_find)
  [ -z "$left" ] && return 0
  # shellcheck disable=SC2086
  ps -o pid,ppid,etime,args -p "$(echo $left | tr ' ' ,)" | sed 's/^/    /'
  # shellcheck disable=SC2086
  kill -KILL $left 2>/dev/null
  return 1
}
