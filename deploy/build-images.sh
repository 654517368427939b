#!/usr/bin/env bash
# Builds the Ember image (ember:VERSION and ember:latest) from the Bazel outputs:
#   deploy/build-images.sh
# Both images come from one installed Ember (tools/install.sh). With EMBER_BIN=DIR it installs
# from DIR (a runfiles tree laid out as the workspace) instead of building, as the compose
# test does. EMBER_SDK_IMAGE=0 skips the ember-sdk image.
# The base image, debian:bookworm-slim, is made locally by deploy/base-image.sh when the
# engine lacks it (no registry needed).
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n 's/#define EMBER_VERSION_STRING "\(.*\)"/\1/p' "${EMBER_BIN:-.}/common/job.h")
stage=$(mktemp -d /tmp/ember-image.XXXXXX)
trap 'rm -rf "$stage"' EXIT
if [ -n "${EMBER_BIN:-}" ]; then
  (cd "$EMBER_BIN" && tools/install.sh --prefix "$stage/prefix") >/dev/null
else
  tools/install.sh --prefix "$stage/prefix" >/dev/null
fi
# Smaller binaries: the debug info stays in the Bazel outputs.
strip --strip-debug "$stage"/prefix/bin/*

deploy/base-image.sh
docker build -q --target runtime -t "ember:$version" -t ember:latest -f deploy/Dockerfile "$stage"
echo "build-images: ember:$version ($(docker image inspect -f '{{.Size}}' ember:latest) bytes)"
if [ "${EMBER_SDK_IMAGE:-1}" = 1 ]; then
  docker build -q --target sdk -t "ember-sdk:$version" -t ember-sdk:latest -f deploy/Dockerfile "$stage"
  echo "build-images: ember-sdk:$version ($(docker image inspect -f '{{.Size}}' ember-sdk:latest) bytes)"
fi
