#!/bin/sh
# Entry point of deploy/images/redis.Dockerfile: runs as the redis user
# (owning /data), and redis-server without a config file listens on every
# address with protected mode off, as the official image does.
set -eu
if [ "$(id -u)" = 0 ]; then
  chown redis:redis /data
  exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi
if [ "${1:-}" = redis-server ]; then
  shift
  case "${1:-}" in
    *.conf) ;;
    *) set -- --protected-mode no "$@" ;;
  esac
  exec redis-server "$@"
fi
exec "$@"
