#!/usr/bin/env bash
# Make a local stand-in for the base image `python:3.11-slim` when no image registry can be
# reached (the development and CI machines): Debian bookworm from Debian's archive
# (debootstrap, minimal variant) with Debian's Python 3.11 and pip, imported into podman under
# the name the Dockerfile asks for, so `FROM python:3.11-slim` resolves to it locally and the
# Dockerfile stays as it is.
#
#   scripts/local_base_image.sh            # does nothing when the image is already there
#   scripts/local_base_image.sh --rebuild
#
# What differs from the real python:3.11-slim, and why it does not matter to the Dockerfile:
# Python is Debian's /usr/bin/python3 (3.11.2) instead of a build in /usr/local; `python` and
# `pip` are links to it, pip installs into /usr/local as root, and Debian's "externally managed"
# marker is removed so `pip install` behaves as in the official image. The image is cached in
# podman's own storage: later runs (and CI on the same machine) reuse it.
set -euo pipefail

NAME=${PRCRS_BASE_IMAGE:-docker.io/library/python:3.11-slim}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
log() { echo "local_base_image: $*" >&2; }

if [ "${1:-}" != "--rebuild" ] && podman image exists "$NAME"; then
    log "$NAME is already in podman's storage"
    exit 0
fi

ROOTFS=$(mktemp -d "${TMPDIR:-/var/tmp}/prcrs-base-XXXXXX")
trap 'rm -rf "$ROOTFS" "$ROOTFS.log"' EXIT

log "debootstrap bookworm into $ROOTFS (a few minutes)"
debootstrap --variant=minbase \
    --include=python3,python3-pip,python3-venv,ca-certificates \
    bookworm "$ROOTFS" "$MIRROR" >"$ROOTFS.log" 2>&1 || { tail -n 30 "$ROOTFS.log" >&2; exit 1; }

# Same suites as the official image: updates and security fixes too.
cat >"$ROOTFS/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
rm -f "$ROOTFS"/usr/lib/python3.*/EXTERNALLY-MANAGED
ln -sf /usr/bin/python3 "$ROOTFS/usr/local/bin/python"
[ -e "$ROOTFS/usr/bin/pip" ] || ln -sf /usr/bin/pip3 "$ROOTFS/usr/local/bin/pip"
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/archives/*.deb \
    "$ROOTFS"/var/cache/apt/*.bin

log "importing as $NAME"
tar --numeric-owner -C "$ROOTFS" -c . | podman import \
    --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    - "$NAME" >/dev/null
log "done: $(podman image inspect --format '{{.Size}}' "$NAME") bytes"
