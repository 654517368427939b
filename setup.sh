#!/usr/bin/env bash
# Installs every Debian package Ember's build, tests, examples and benchmarks need.
# Idempotent: when everything is present it only checks, in about a second.
set -euo pipefail

PACKAGES=(
  # build
  bazel-bootstrap bazel-platforms bazel-rules-java g++ pkg-config
  protobuf-compiler protobuf-compiler-grpc libprotobuf-dev libgrpc++-dev
  libabsl-dev librocksdb-dev libgoogle-glog-dev
  # Kafka: the direct stream and the producer (librdkafka; its mock cluster for the tests)
  librdkafka-dev
  # ZeroMQ: its SUB source (libzmq)
  libzmq3-dev
  # MQTT: its source (libmosquitto at QoS 0 and 2; Ember's own client at QoS 1, on OpenSSL
  # for ssl:// brokers), and the broker its tests start
  libmosquitto-dev libssl-dev mosquitto
  # SQL over batches: the engine every query runs on (SQLite)
  libsqlite3-dev
  # Hadoop's SequenceFiles: DefaultCodec and GzipCodec compression (zlib)
  zlib1g-dev
  # PostgreSQL: the sink's client (libpq), and the server its tests start
  libpq-dev postgresql
  # the driver's web UI and REST API: HTTP server, JSON, charts served by the driver itself
  libcpp-httplib-dev nlohmann-json3-dev libjs-chart.js
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev python3
  # the Spark interoperability test: real Spark (pyspark from PyPI, in a virtualenv) on Java 17
  python3-venv openjdk-17-jre-headless
  # the TLS tests' certificates, made at run time
  openssl
  # the partition tests' hosts: network namespaces, veth pairs and blackhole rules
  iproute2
  # the backpressure benchmark's chart (docs/backpressure.png)
  gnuplot-nox
  # the compose test's base image, made without a registry (deploy/base-image.sh)
  debootstrap
  # the job template's builds in the toolkit test (tools/toolkit_test.sh)
  cmake make
  # the Debian package (deploy/deb/build-deb.sh): dpkg-deb builds it, dpkg-shlibdeps computes
  # its Depends
  dpkg-dev
  # the web UI's browser test
  chromium chromium-driver
  # lint (documented in the README)
  clang-format clang-tidy
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

install_packages() {

echo "setup: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=sudo
  else
    echo "setup: error: these packages are missing and installing them needs root: ${missing[*]}" >&2
    echo "setup: run ./setup.sh as root (or with passwordless sudo)" >&2
    exit 1
  fi
else
  SUDO=
fi

export DEBIAN_FRONTEND=noninteractive
# A dead archive must fail fast, not hang: bounded retries and timeouts.
APT_OPTS=(-o Acquire::Retries=1 -o Acquire::http::Timeout=10 -o Acquire::https::Timeout=10)
if ! $SUDO apt-get "${APT_OPTS[@]}" update -qq; then
  echo "setup: error: apt-get update failed: is Debian's package archive reachable?" >&2
  exit 1
fi
if ! $SUDO apt-get "${APT_OPTS[@]}" install -y -qq --no-install-recommends "${missing[@]}"; then
  echo "setup: error: could not install: ${missing[*]}" >&2
  exit 1
fi

# Verify rather than trust: every package must now be installed.
for p in "${missing[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    echo "setup: error: $p is still not installed" >&2
    exit 1
  fi
done
echo "setup: installed ${#missing[@]} packages"
}

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
else
  install_packages
fi

# The Kubernetes manifests' check renders them with `kubectl kustomize` (no cluster needed):
# Debian's kubernetes-client, unless a kubectl is installed already (another package of it
# would conflict).
if ! command -v kubectl >/dev/null; then
  missing=(kubernetes-client)
  install_packages
fi

# PyPI packages the tests use, in a virtualenv of their own (Debian's Python is externally
# managed): pyspark, pinned, for tests/spark_interop_test.py.
VENV="$HOME/.cache/ember-venv"
PYSPARK_VERSION=3.5.3
if ! "$VENV/bin/python" -c "import pyspark, sys; sys.exit(pyspark.__version__ != '$PYSPARK_VERSION')" \
    2>/dev/null; then
  echo "setup: installing pyspark $PYSPARK_VERSION into $VENV"
  python3 -m venv "$VENV"
  if ! "$VENV/bin/pip" install -q --disable-pip-version-check --timeout 60 \
      "pyspark==$PYSPARK_VERSION"; then
    echo "setup: error: pip could not install pyspark: is Python's package index reachable?" >&2
    exit 1
  fi
fi
echo "setup: pyspark $PYSPARK_VERSION present in $VENV"
# kubernetes-validate, pinned: the Kubernetes manifests checked against the API's schemas
# offline (deploy/kubernetes_test.sh).
K8S_VALIDATE_VERSION=1.31.0
if ! "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('kubernetes-validate') != '$K8S_VALIDATE_VERSION')" \
    2>/dev/null; then
  echo "setup: installing kubernetes-validate $K8S_VALIDATE_VERSION into $VENV"
  if ! "$VENV/bin/pip" install -q --disable-pip-version-check --timeout 60 \
      "kubernetes-validate==$K8S_VALIDATE_VERSION"; then
    echo "setup: error: pip could not install kubernetes-validate: is Python's package index reachable?" >&2
    exit 1
  fi
fi
echo "setup: kubernetes-validate $K8S_VALIDATE_VERSION present in $VENV"
