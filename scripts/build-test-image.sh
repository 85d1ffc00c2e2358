#!/usr/bin/env bash
# Build (once, cached by tag) the Debian 12 image with systemd that the Molecule scenarios boot.
#
# No registry is reachable here, so the image is made locally with debootstrap from the Debian
# mirror this host already uses, then imported into podman with /sbin/init as its command.
# The tag is a hash of the package list and the recipe version, so changing either builds a new image.
#
# Env:
#   GUILDBOT_TEST_IMAGE   use this image instead (e.g. a public systemd Debian 12 image); nothing is built
#   GUILDBOT_DEBIAN_MIRROR  mirror URL (default: the first Debian URI in /etc/apt/sources.list*)
# Prints the image name on the last line of stdout.
set -euo pipefail

say() { printf 'build-test-image: %s\n' "$*" >&2; }

if [ -n "${GUILDBOT_TEST_IMAGE:-}" ]; then
    say "GUILDBOT_TEST_IMAGE is set: using ${GUILDBOT_TEST_IMAGE}, nothing to build"
    echo "${GUILDBOT_TEST_IMAGE}"
    exit 0
fi

# Packages in the image. systemd/systemd-sysv/dbus make it bootable, python3/sudo make it an Ansible
# host; the rest only saves time in converge (the roles still install everything they need).
packages=systemd,systemd-sysv,dbus,python3,python3-apt,sudo,procps,python3-venv,cron,logrotate,sqlite3

# Bump when the way the rootfs is made changes (so cached images are rebuilt).
recipe=2
tag="$(printf '%s %s' "$recipe" "$packages" | sha256sum | cut -c1-12)"
image="localhost/guildbot-debian12:${tag}"

if podman image exists "$image"; then
    podman tag "$image" localhost/guildbot-debian12:latest
    say "image ${image} is cached"
    echo "$image"
    exit 0
fi

mirror="${GUILDBOT_DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
    mirror="$( (cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null || true) \
        | grep -Eo 'https?://[^ ]*/debian/?( |$)' | head -n1 | tr -d ' ' || true)"
fi
if [ -z "$mirror" ]; then
    say "no Debian mirror found in /etc/apt/sources.list*; set GUILDBOT_DEBIAN_MIRROR" >&2
    exit 1
fi

rootfs="$(mktemp -d /var/tmp/guildbot-rootfs.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT

say "debootstrap bookworm from ${mirror} into ${rootfs} (about a minute)"
debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
    tail -n 30 "$rootfs.log" >&2
    say "debootstrap failed (full log: $rootfs.log)" >&2
    exit 1
}
rm -f "$rootfs.log"

say "trimming the rootfs (apt lists, docs) and masking units that do not work in a container"
# (the package caches go with the lists, or apt would think its empty cache is fresh)
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/*
# Point apt inside the container at the same mirror.
echo "deb ${mirror} bookworm main" >"$rootfs/etc/apt/sources.list"
for unit in systemd-remount-fs.service getty.target console-getty.service systemd-logind.service; do
    ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
done
: >"$rootfs/etc/machine-id"

say "importing into podman as ${image}"
tar -C "$rootfs" -c . | podman import --change 'CMD ["/sbin/init"]' --change 'STOPSIGNAL SIGRTMIN+3' --quiet - "$image" >/dev/null

podman tag "$image" localhost/guildbot-debian12:latest
say "built ${image} (also tagged :latest)"
echo "$image"
