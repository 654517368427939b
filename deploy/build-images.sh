#!/usr/bin/env bash
# Builds the Ember image (ember:VERSION and ember:latest) from the Bazel outputs:
#   deploy/build-images.sh
# With EMBER_BIN=DIR it takes the binaries from DIR (laid out as bazel-bin: driver/, executor/,
# tools/, examples/) instead of building them, as the compose test does from its runfiles.
# The base image, debian:bookworm-slim, is made locally by deploy/base-image.sh when the
# engine lacks it (no registry needed).
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n 's/#define EMBER_VERSION_STRING "\(.*\)"/\1/p' common/job.h)
if [ -n "${EMBER_BIN:-}" ]; then
  bin=$EMBER_BIN
else
  bazel build //driver:ember-driver //executor:ember-executor //tools:ember-submit \
    //tools:ember-textserver //examples:libnetwork_word_count.so //examples:libfile_word_count.so
  bin=$(bazel info bazel-bin 2>/dev/null)
fi

stage=$(mktemp -d /tmp/ember-image.XXXXXX)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/examples"
install -m 755 "$bin/driver/ember-driver" "$bin/executor/ember-executor" \
  "$bin/tools/ember-submit" "$bin/tools/ember-textserver" "$stage/bin/"
install -m 644 "$bin/examples/libnetwork_word_count.so" "$bin/examples/libfile_word_count.so" \
  "$stage/examples/"
# Smaller binaries: the debug info stays in the Bazel outputs.
strip --strip-debug "$stage"/bin/*

deploy/base-image.sh
docker build -q -t "ember:$version" -t ember:latest -f deploy/Dockerfile "$stage"
echo "build-images: ember:$version ($(docker image inspect -f '{{.Size}}' ember:latest) bytes)"
