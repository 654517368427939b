#!/usr/bin/env bash
# Runs tests/spark_interop_test.py with the virtualenv's Python, where setup.sh put pyspark.
# (Bazel points HOME at the test's temporary directory, so the account's home is looked up.)
home=$(getent passwd "$(id -u)" | cut -d: -f6)
python="$home/.cache/ember-venv/bin/python"
if [ ! -x "$python" ]; then
  echo "spark_interop_test: $python is missing: run ./setup.sh" >&2
  exit 1
fi
exec "$python" tests/spark_interop_test.py
