#!/usr/bin/env bash
# Make podman usable for the image tests on a Debian machine: install podman, runc, catatonit
# and debootstrap when missing, and, when no containers.conf exists yet, write one that
#   - uses runc (crun, podman's default, cannot set resource limits in this sandbox), and
#   - starts containers with limits the sandbox allows (podman's default of about a million
#     open files and processes is refused by runc here).
# Safe to run again; an existing /etc/containers/containers.conf is left as it is.
set -euo pipefail

log() { echo "container_setup: $*" >&2; }
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

missing=""
command -v podman >/dev/null || missing="$missing podman"
command -v runc >/dev/null || [ -x /usr/sbin/runc ] || missing="$missing runc"
# `podman kube play` builds its pods' pause image around catatonit.
command -v catatonit >/dev/null || [ -x /usr/libexec/podman/catatonit ] || missing="$missing catatonit"
command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || missing="$missing debootstrap"
if [ -n "$missing" ]; then
    log "installing Debian packages:$missing"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        $missing >/dev/null
fi

CONF=/etc/containers/containers.conf
if [ ! -e "$CONF" ]; then
    nofile=$(ulimit -Hn)
    [ "$nofile" = unlimited ] && nofile=1048576
    log "writing $CONF (runtime runc, nofile=$nofile, nproc=4096)"
    $SUDO mkdir -p /etc/containers
    $SUDO tee "$CONF" >/dev/null <<EOF
# Written by PrCRS web's scripts/container_setup.sh.
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=4096:4096"]

[engine]
runtime = "runc"
EOF
fi
podman info --format 'podman {{.Version.Version}}, runtime {{.Host.OCIRuntime.Name}}, storage {{.Store.GraphDriverName}}' 2>/dev/null
