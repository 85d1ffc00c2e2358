#!/usr/bin/env bash
# Make this host able to run the Molecule scenarios (podman, rootful) — idempotent.
#
# Steps, each announced on one line:
#   1. install podman, debootstrap (and what podman needs) from Debian if missing;
#   2. if the kernel has a hybrid cgroup layout whose cgroup2 hierarchy holds controllers
#      (crun then refuses: "cgroups in hybrid mode not supported"), mount hugetlb as a v1
#      hierarchy so the cgroup2 one is empty again. Only done when needed, and said so.
set -euo pipefail

say() { printf 'prepare-podman: %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
    say "must run as root (rootful podman is what the scenarios use)" >&2
    exit 1
fi

missing=()
for cmd in podman debootstrap; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
done
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]} (plus crun, fuse-overlayfs, slirp4netns, uidmap) with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends \
        podman crun fuse-overlayfs slirp4netns uidmap debootstrap \
        conmon containernetworking-plugins catatonit >/dev/null
else
    say "podman and debootstrap already installed"
fi

unified=/sys/fs/cgroup/unified/cgroup.controllers
if [ -f "$unified" ] && [ -n "$(tr -d '[:space:]' <"$unified")" ]; then
    controllers="$(tr '\n' ' ' <"$unified")"
    say "hybrid cgroup layout with controllers in cgroup2 (${controllers% }): mounting them as v1 hierarchies so crun accepts it"
    for ctl in $controllers; do
        mkdir -p "/sys/fs/cgroup/$ctl"
        if ! mountpoint -q "/sys/fs/cgroup/$ctl"; then
            mount -t cgroup -o "$ctl" cgroup "/sys/fs/cgroup/$ctl"
        fi
    done
    if [ -n "$(tr -d '[:space:]' <"$unified")" ]; then
        say "cgroup2 still holds controllers: $(cat "$unified"); podman may refuse to start containers" >&2
        exit 1
    fi
    say "cgroup fix applied: cgroup2 now holds no controllers"
else
    say "cgroup layout needs no fix"
fi

say "podman $(podman --version | awk '{print $3}') ready"
