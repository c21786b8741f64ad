#!/usr/bin/env bash
# make images: every image of the compose stack, built here from Debian
# packages alone (no image registry is needed or contacted):
#   jsmcp-base:bookworm-<hash>   Debian 12 minbase from mmdebstrap, made once and
#                                reused while its inputs hash the same
#   jsmcp:<version>-<commit>     the jsmcp binaries (deploy/Dockerfile), also :<version>
#   jsmcp-postgres:15-<version>-<commit>, jsmcp-redis:7-…, jsmcp-nginx:1.22-…
#                                the test stack's services (deploy/images/*.Dockerfile)
# Writes their names to build/images/images.env (read by make compose-test,
# or by hand: `set -a; . build/images/images.env; docker-compose up`).
# Starts dockerd when no engine answers, and stops it again only then.
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/lib.sh

OUT=${IMAGES_OUT:-build/images}
mkdir -p "$OUT"
need_pkgs docker.io mmdebstrap
dk_up "$OUT/dockerd.log"
trap dk_down EXIT
# The classic builder: Debian's docker.io has no buildx, and --network host
# (apt reaches the machine's mirror) works the same there.
export DOCKER_BUILDKIT=0

VERSION=$(img_version)
COMMIT=$(img_commit)
TAG=$VERSION-$COMMIT
SUITE=bookworm

# ---- the base image ----
# Slim like debian:12-slim: no manuals, no translations, only the copyright
# files of /usr/share/doc (the settings stay in the image for later installs);
# merged /usr made by mmdebstrap's hook rather than the usrmerge package
# (which would bring perl: 50 MB in every image).
MMDEB_OPTS=(--variant=minbase --format=tar --aptopt='Acquire::Languages "none"'
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/info/*')
mapfile -t SOURCES < <(apt_sources | awk -v s="$SUITE" '$3 == s || $3 == s "-updates" || $3 == s "-security"')
((${#SOURCES[@]})) || die "no $SUITE entry in this machine's apt sources (/etc/apt/sources.list*)"
PKGS=$(sed -e 's/#.*//' deploy/images/base.packages | tr -s ' \t\n' ' ' | sed -e 's/^ //' -e 's/ $//')
HASH=$({ printf '%s\n' "$SUITE" "${MMDEB_OPTS[@]}" "${SOURCES[@]}"; cat deploy/images/base.packages; } |
  sha256sum | cut -c1-12)
BASE=jsmcp-base:$SUITE-$HASH
t0=$SECONDS
if docker image inspect "$BASE" >/dev/null 2>&1; then
  say "$BASE: cached"
else
  tar="$OUT/base-$HASH.tar"
  say "$BASE: mmdebstrap $SUITE (log: $OUT/base.log)"
  inc=(); [ -z "$PKGS" ] || inc=(--include="${PKGS// /,}")
  if ! mmdebstrap "${MMDEB_OPTS[@]}" "${inc[@]}" "$SUITE" "$tar" "${SOURCES[@]}" >"$OUT/base.log" 2>&1; then
    tail -30 "$OUT/base.log" >&2; rm -f "$tar"; die "mmdebstrap failed"
  fi
  docker import --change 'CMD ["bash"]' --message "Debian $SUITE minbase (deploy/images.sh)" "$tar" "$BASE" >/dev/null
  rm -f "$tar"
  say "$BASE: made in $((SECONDS - t0)) s"
fi

# ---- images on it ----
LABELS=(--label "org.opencontainers.image.version=$VERSION" --label "org.opencontainers.image.revision=$COMMIT")
build() { # name context dockerfile tag...
  local name=$1 ctx=$2 file=$3 t1=$SECONDS tags=() t; shift 3
  for t in "$@"; do tags+=(-t "$t"); done
  if ! docker build --network host --build-arg BASE_IMAGE="$BASE" --build-arg JSMCP_COMMIT="$COMMIT" "${LABELS[@]}" -f "$file" "${tags[@]}" "$ctx" \
    >"$OUT/$name.log" 2>&1; then
    tail -40 "$OUT/$name.log" >&2
    die "building $1 failed (log: $OUT/$name.log)"
  fi
  say "$1: built in $((SECONDS - t1)) s ($(docker image inspect -f '{{.Size}}' "$1" | awk '{printf "%.0f MB", $1 / 1e6}'))"
}
IMG=jsmcp:$TAG
PG=jsmcp-postgres:15-$TAG
RD=jsmcp-redis:7-$TAG
NX=jsmcp-nginx:1.22-$TAG
build jsmcp . deploy/Dockerfile "$IMG" "jsmcp:$VERSION"
# The binaries in the image say the version and commit of this checkout.
for b in jsmcp-api jsmcp-worker jsm-sandbox; do
  v=$(docker run --rm --network none --entrypoint "$b" "$IMG" --version) || die "$b --version failed in $IMG"
  [ "$v" = "$b $VERSION (commit $COMMIT)" ] || die "$b in $IMG says '$v', not '$b $VERSION (commit $COMMIT)'"
done
say "in $IMG: $v"
build postgres deploy/images deploy/images/postgres.Dockerfile "$PG"
build redis deploy/images deploy/images/redis.Dockerfile "$RD"
build nginx deploy/images deploy/images/nginx.Dockerfile "$NX"
# The versions Debian gave the test stack, for the record.
say "in them: $(docker run --rm --network none --entrypoint postgres "$PG" --version), $(docker run --rm --network none --entrypoint redis-server "$RD" --version | cut -d' ' -f1-3), $(docker run --rm --network none "$NX" nginx -v 2>&1)"

cat >"$OUT/images.env" <<ENV
JSMCP_BASE_IMAGE=$BASE
JSMCP_IMAGE=$IMG
JSMCP_POSTGRES_IMAGE=$PG
JSMCP_REDIS_IMAGE=$RD
JSMCP_NGINX_IMAGE=$NX
ENV
say "images in $((SECONDS - t0)) s; names in $OUT/images.env"
