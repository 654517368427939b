#!/usr/bin/env bash
# Makes the base image the Dockerfile builds on, debian:bookworm-slim, when the Docker engine
# does not have it and cannot pull it (no registry): a minimal Debian 12 root file system made
# by debootstrap from Debian's archive, imported into the engine. Where a registry is
# reachable, `docker pull debian:bookworm-slim` does the same job.
#
#   deploy/base-image.sh [MIRROR]     (default http://deb.debian.org/debian)
set -euo pipefail

image=debian:bookworm-slim
mirror=${1:-http://deb.debian.org/debian}

if docker image inspect "$image" >/dev/null 2>&1; then
  echo "base-image: $image is present"
  exit 0
fi
if ! command -v debootstrap >/dev/null; then
  echo "base-image: debootstrap is missing (apt-get install debootstrap)" >&2
  exit 1
fi
root=$(mktemp -d /tmp/ember-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "base-image: debootstrap bookworm from $mirror (a few minutes)"
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.log" 2>&1 || {
  tail -20 "$root.log" >&2
  echo "base-image: debootstrap failed (log above)" >&2
  exit 1
}
rm -f "$root.log"
# What the official slim image also drops: caches and docs.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
tar -C "$root" -c . | docker import --change 'CMD ["bash"]' - "$image" >/dev/null
echo "base-image: imported $image ($(docker image inspect -f '{{.Size}}' "$image") bytes)"
