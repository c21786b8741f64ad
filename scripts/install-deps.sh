#!/usr/bin/env bash
# Install what jsmcp needs on a Debian machine; idempotent and fast when all
# is there (one dpkg-query, one stat). Debian packages and npm only.
# --clients also installs the real MCP clients the tests connect with
# (tests/clients: MCP Inspector, Claude Code, the AI SDK's MCP client,
# LangChain's MCP adapters; about 580 MB): make test does,
# make demo does not.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PKGS=(build-essential pkg-config curl ca-certificates procps
  libuv1-dev libpq-dev libhiredis-dev libcurl4-openssl-dev libjansson-dev
  libsodium-dev zlib1g-dev libcriterion-dev postgresql redis-server node-llhttp
  nodejs npm wrk jq chromium python3 docker-compose)

missing=()
for p in "${DEB_PKGS[@]}"; do
  st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  case "$st" in *"install ok installed"*) ;; *) missing+=("$p") ;; esac
done
# nodejs may come from elsewhere (nodesource); a working node+npm is enough.
if command -v node >/dev/null && command -v npm >/dev/null; then
  tmp=(); for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || tmp+=("$p"); done
  missing=("${tmp[@]+"${tmp[@]}"}")
fi
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's postgresql package starts a cluster service on 5432; we never use it.

# npm packages for the MCP SDK client, conformance suite and browser tests.
if [ -f tests/node/package.json ]; then
  if [ ! -d tests/node/node_modules ] || [ tests/node/package-lock.json -nt tests/node/node_modules/.stamp ]; then
    echo "install-deps: npm ci in tests/node"
    (cd tests/node && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.stamp)
  fi
fi

# Real MCP clients for tests/node/clients*.test.mjs (make test only).
if [ "${1:-}" = "--clients" ] && [ -f tests/clients/package.json ]; then
  if [ ! -d tests/clients/node_modules ] || [ tests/clients/package-lock.json -nt tests/clients/node_modules/.stamp ]; then
    echo "install-deps: npm ci in tests/clients"
    (cd tests/clients && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.stamp)
  fi
fi
