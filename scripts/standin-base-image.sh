#!/usr/bin/env bash
# Build a local stand-in for an official python:<version>-slim image, for the image tests.
#
#   scripts/standin-base-image.sh docker.io/library/python:3.11.14-slim-bookworm
#
# No container registry can be reached here, only Debian's and PyPI's mirrors, so the
# rendered Dockerfile's FROM image is made locally: a minimal Debian bookworm (debootstrap)
# with Debian's Python 3.11, pip and venv, committed to buildah's image store under the
# official image's name. Like the official image it has `python`, `pip` and no
# EXTERNALLY-MANAGED marker, so a Dockerfile that works on one works on the other.
#
# The Debian file system is cached as a tarball in $CACHE_DIR (default
# ~/.cache/copier-ml-deploy), so that only the first run on a machine pays for
# debootstrap; when the image is already in buildah's store nothing is done at all.
# Needs root (debootstrap, chroot, buildah mount).
set -euo pipefail

image=${1:?usage: $0 IMAGE_NAME (e.g. docker.io/library/python:3.11.14-slim-bookworm)}
suite=${DEBIAN_SUITE:-bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/copier-ml-deploy}
tarball="$cache/standin-$suite-python3.tar"
packages=python3,python3-pip,python3-venv,python-is-python3,ca-certificates

# One build at a time (the tests run in two processes).
mkdir -p "$cache"
exec 9>"$cache/standin.lock"
flock 9

if buildah inspect --type image "$image" >/dev/null 2>&1; then
    echo "stand-in base image $image: already built"
    exit 0
fi

if [ ! -s "$tarball" ]; then
    echo "stand-in base image: debootstrap of Debian $suite with $packages (once per machine)"
    root=$(mktemp -d "$cache/rootfs.XXXXXX")
    trap 'rm -rf "$root"' EXIT
    debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >"$cache/debootstrap.log" 2>&1 || {
        tail -20 "$cache/debootstrap.log" >&2
        exit 1
    }
    # The official image installs its own Python, not Debian's, so pip may install into it.
    rm -f "$root"/usr/lib/python3*/EXTERNALLY-MANAGED
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb
    tar -C "$root" -cf "$tarball.part" .
    mv "$tarball.part" "$tarball"
    rm -rf "$root"
    trap - EXIT
fi

container=$(buildah from scratch)
trap 'buildah rm "$container" >/dev/null 2>&1 || true' EXIT
mountpoint=$(buildah mount "$container")
tar -C "$mountpoint" -xf "$tarball"
# This machine reaches PyPI through a proxy whose certificate authority the host trusts:
# the stand-in trusts the same ones, as an image built on this machine's network would need.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$mountpoint/usr/local/share/ca-certificates/"
    chroot "$mountpoint" update-ca-certificates >/dev/null 2>&1
fi
buildah umount "$container" >/dev/null
buildah config \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 \
    --label org.opencontainers.image.description="stand-in for $image: Debian $suite with Debian's Python" \
    --cmd python3 \
    "$container"
buildah commit --quiet --rm "$container" "$image" >/dev/null
trap - EXIT
echo "stand-in base image $image: built"
