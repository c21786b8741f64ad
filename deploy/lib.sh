# Shared by deploy/images.sh, deploy/compose-test.sh and
# deploy/fresh-machine-test.sh (sourced, not run). Bash only.
#
# Docker engine: these scripts start dockerd when none answers and stop it
# again only if they started it, so a developer's own engine is left alone.
# Debian packages only (docker.io, mmdebstrap, docker-compose); no image is
# ever pulled from a registry: every image is built here from Debian packages.

DK_STARTED=0
DK_PID=
DK_LOG=

say() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { say "$*"; exit 1; }

# An empty output directory for this run's logs.
fresh_dir() { rm -rf "$1" && mkdir -p "$1"; }

# The image names `make images` wrote; the tests run those images.
need_images_env() {
  [ -f build/images/images.env ] || die "no build/images/images.env: run make images first"
}

# Installs the Debian packages that are missing (one dpkg-query each).
need_pkgs() {
  local missing=() p st
  for p in "$@"; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$st" in *"install ok installed"*) ;; *) missing+=("$p") ;; esac
  done
  ((${#missing[@]})) || return 0
  say "installing ${missing[*]}"
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Starts dockerd unless an engine already answers. $1: the log file.
dk_up() {
  if docker info >/dev/null 2>&1; then return 0; fi
  command -v dockerd >/dev/null || die "dockerd missing (apt-get install docker.io)"
  [ "$(id -u)" -eq 0 ] || die "no Docker engine answers, and starting one needs root"
  DK_LOG=$1
  mkdir -p "$(dirname "$DK_LOG")"
  say "starting dockerd (log: $DK_LOG)"
  dockerd >"$DK_LOG" 2>&1 &
  DK_PID=$!
  DK_STARTED=1
  local i
  for i in $(seq 1 300); do
    docker info >/dev/null 2>&1 && return 0
    kill -0 "$DK_PID" 2>/dev/null || { tail -20 "$DK_LOG" >&2; die "dockerd exited"; }
    sleep 0.2
  done
  tail -20 "$DK_LOG" >&2
  die "dockerd did not answer within 60 s"
}

# Stops the dockerd that dk_up started (and waits for it); nothing otherwise.
dk_down() {
  [ "$DK_STARTED" = 1 ] || return 0
  DK_STARTED=0
  kill "$DK_PID" 2>/dev/null || return 0
  local i
  for i in $(seq 1 300); do kill -0 "$DK_PID" 2>/dev/null || return 0; sleep 0.2; done
  say "dockerd did not stop within 60 s; killing it"
  kill -9 "$DK_PID" 2>/dev/null || true
}

# The machine's own apt sources as one-line "deb URI SUITE COMPONENTS"
# entries (deb822 *.sources and the one-line sources.list both read), so the
# images use the mirror this machine uses; no host is written in the
# repository. Only enabled "deb" entries; options in [...] are dropped.
apt_sources() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && enabled != "no" && uris != "" && suites != "")
          for (i = 1; i <= nu; i++) for (j = 1; j <= ns; j++) print "deb " u[i] " " s[j] " " comps
        types = uris = suites = comps = enabled = ""; nu = ns = 0
      }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      { key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^ +/, "")
        if (key == "types") types = $0
        else if (key == "uris") { uris = $0; nu = split($0, u, " ") }
        else if (key == "suites") { suites = $0; ns = split($0, s, " ") }
        else if (key == "components") comps = $0
        else if (key == "enabled") enabled = tolower($0) }
      END { flush() }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    sed -E -n 's/^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?/deb /p' "$f"
  done
}

# Version and commit for image tags: the Makefile's JSMCP_VERSION (what
# every binary's --version prints); the commit is
# `git rev-parse --short=12 HEAD`, with "-dirty" when tracked files differ.
img_version() {
  sed -n 's/^JSMCP_VERSION *:*= *\([0-9][0-9.]*\).*/\1/p' Makefile | head -1
}
img_commit() {
  local c
  c=$(git rev-parse --short=12 HEAD 2>/dev/null) || { echo unknown; return; }
  git diff --quiet HEAD -- 2>/dev/null || c="$c-dirty"
  echo "$c"
}
