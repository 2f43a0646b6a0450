#!/usr/bin/env bash
# Build the image from the unmodified Dockerfile with podman, on a machine that reaches the
# package registries only through its own TLS certificate and keeps local wheels/indexes (see
# `pip config list`): those are mounted into the build's RUN steps as build-time volumes, never
# copied into an image layer.
#
#   scripts/container_build.sh [TAG] [extra podman build args, e.g. --no-cache]
#
# - The base `python:3.11-slim` is the local stand-in from scripts/local_base_image.sh
#   (Debian bookworm from Debian's archive), made once and cached in podman's storage; a real
#   python:3.11-slim already in podman's storage is used as it is.
# - A build-only /etc/pip.conf points pip at the machine's CA bundle, its wheel folder and its
#   local simple indexes (when present), and TORCH_INDEX_URL at a local index, since PyTorch's
#   own index is not reachable here. On a machine with plain internet access none of this is
#   needed: `podman build -t prcrs-web .` or `docker build -t prcrs-web .` does it.
# - --format docker: podman's default OCI format has no HEALTHCHECK and would drop the
#   Dockerfile's.
# - --network host: the RUN steps reach Debian's archive and PyPI as this machine does, with no
#   container network to set up.
# Prints the build's wall time and the image size on its last two lines.
set -euo pipefail
cd "$(dirname "$0")/.."

TAG=${1:-prcrs-web:test}
shift || true
log() { echo "container_build: $*" >&2; }

command -v podman >/dev/null || { log "podman is not installed (scripts/container_setup.sh)"; exit 1; }
# Never pulled from here: these machines reach no image registry (elsewhere, plain
# `podman build` pulls the real one). --pull=never below keeps the build from trying either.
podman image exists docker.io/library/python:3.11-slim || scripts/local_base_image.sh

BUILD=$(mktemp -d "${TMPDIR:-/tmp}/prcrs-build-XXXXXX")
trap 'rm -rf "$BUILD"' EXIT
CA=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
MOUNTS=()
PIP_CONF="[global]"
if [ -f "$CA" ]; then
    cp "$CA" "$BUILD/ca.crt"
    MOUNTS+=(-v "$BUILD/ca.crt:/run/prcrs-build/ca.crt:ro")
    PIP_CONF+=$'\n'"cert = /run/prcrs-build/ca.crt"
fi
FIND_LINKS=${PRCRS_BUILD_WHEELS:-/opt/wheels}
if [ -d "$FIND_LINKS" ]; then
    MOUNTS+=(-v "$FIND_LINKS:$FIND_LINKS:ro")
    PIP_CONF+=$'\n'"find-links = $FIND_LINKS"
fi
INDEXES=()
for index in ${PRCRS_BUILD_INDEXES:-/opt/pypi /opt/pypi-more}; do
    if [ -d "$index/simple" ]; then
        MOUNTS+=(-v "$index:$index:ro")
        INDEXES+=("file://$index/simple")
    fi
done
BUILD_ARGS=()
if [ ${#INDEXES[@]} -gt 0 ]; then
    PIP_CONF+=$'\n'"extra-index-url = ${INDEXES[*]}"
    # The Dockerfile's extra index for the CPU torch wheel: a local one here (the wheel itself
    # comes from the wheel folder above).
    BUILD_ARGS+=(--build-arg "TORCH_INDEX_URL=${INDEXES[0]}")
fi
printf '%s\n' "$PIP_CONF" >"$BUILD/pip.conf"
MOUNTS+=(-v "$BUILD/pip.conf:/etc/pip.conf:ro")

log "podman build -t $TAG (mounted for the build only: ${MOUNTS[*]})"
start=$(date +%s.%N)
podman build --pull=never --format docker --network host "${MOUNTS[@]}" "${BUILD_ARGS[@]}" -t "$TAG" "$@" .
end=$(date +%s.%N)
# The previous build of the same tag is left untagged: drop it (and only such images).
podman image prune -f >/dev/null 2>&1 || true
python3 -c "print(f'build seconds: {$end - $start:.1f}')"
echo "image bytes: $(podman image inspect --format '{{.Size}}' "$TAG")"
