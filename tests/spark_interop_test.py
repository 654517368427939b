#!/usr/bin/env python3
"""Spark reads what Ember writes, and Ember reads what Spark writes.

Real Spark (pyspark from PyPI, installed by setup.sh into ~/.cache/ember-venv; Java 17 from
Debian) in local mode:
  - reads every Hadoop output of one Ember batch (tests/hadoop_interop.cc write): TextOutputFormat
    with both APIs' file names, SequenceFiles uncompressed and record- and block-compressed with
    DefaultCodec and GzipCodec, IntWritable/DoubleWritable, BooleanWritable/FloatWritable,
    NullWritable/BytesWritable, key-only text lines, and object files; and compares the records;
  - writes SequenceFiles with rdd.saveAsSequenceFile (uncompressed, block-compressed) and
    saveAsHadoopFile (record-compressed), which Ember reads back (hadoop_interop read).
Spark cannot write GzipCodec SequenceFiles without Hadoop's native library, so Ember's
reading of gzip files is checked against Ember's own files only.
"""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

TOOL = "tests/hadoop_interop"


def main():
    try:
        from pyspark import SparkConf, SparkContext
    except ImportError:
        sys.exit("pyspark is missing: run ./setup.sh (it installs it into ~/.cache/ember-venv)")

    work = tempfile.mkdtemp(prefix="ember-spark-", dir=os.environ.get("TEST_TMPDIR"))
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    conf = (SparkConf().setMaster("local[2]").setAppName("ember-interop")
            .set("spark.ui.enabled", "false")
            .set("spark.driver.host", "127.0.0.1")
            .set("spark.local.dir", work))
    sc = SparkContext(conf=conf)
    sc.setLogLevel("ERROR")
    failures = []

    def check(name, got, want):
        if got == want:
            print(f"ok    {name} ({len(want)} records)")
        else:
            failures.append(name)
            missing = [x for x in want if x not in got][:3]
            extra = [x for x in got if x not in want][:3]
            print(f"FAIL  {name}: {len(got)} records, want {len(want)}; "
                  f"missing e.g. {missing}, unexpected e.g. {extra}")

    try:
        # ------------------------------------------------------------ Spark reads Ember
        out = os.path.join(work, "ember")
        os.makedirs(out)
        subprocess.run([TOOL, "write", out], check=True, timeout=300)
        with open(os.path.join(out, "expected.json")) as f:
            expected = json.load(f)
        t = expected["time"]

        def batch(prefix, suffix=""):
            path = os.path.join(out, f"{prefix}-{t}" + (f".{suffix}" if suffix else ""))
            if not os.path.exists(os.path.join(path, "_SUCCESS")):
                raise AssertionError(f"{path} has no _SUCCESS")
            return path

        def pairs(rdd):
            return sorted([list(kv) for kv in rdd.collect()], key=repr)

        text_long = sorted(expected["text_long"], key=repr)
        for variant in ["none", "record-default", "record-gzip", "block-default", "block-gzip"]:
            check(f"Spark sequenceFile of Ember's {variant} SequenceFile",
                  pairs(sc.sequenceFile(batch("seq", variant))), text_long)
        check("Spark textFile of Ember's TextOutputFormat",
              sorted(sc.textFile(batch("text")).collect()), sorted(expected["text_lines"]))
        newtext = batch("newtext")
        parts = sorted(os.path.basename(p) for p in glob.glob(os.path.join(newtext, "part-*")))
        if parts != ["part-r-00000", "part-r-00001"]:
            failures.append("new API file names")
            print(f"FAIL  new API file names: {parts}")
        check("Spark textFile of Ember's new-API TextOutputFormat",
              sorted(sc.textFile(newtext).collect()), sorted(expected["text_lines"]))
        check("Spark sequenceFile of (IntWritable, DoubleWritable)",
              pairs(sc.sequenceFile(batch("int_double"))),
              sorted(expected["int_double"], key=repr))
        check("Spark sequenceFile of (BooleanWritable, FloatWritable)",
              pairs(sc.sequenceFile(batch("bool_float"))),
              sorted(expected["bool_float"], key=repr))
        check("Spark sequenceFile of (NullWritable, BytesWritable)",
              pairs(sc.sequenceFile(batch("null_bytes")).mapValues(list)),
              sorted(expected["null_bytes"], key=repr))
        check("Spark textFile of key-only TextOutputFormat lines",
              sorted(sc.textFile(batch("key_only")).collect()),
              sorted(expected["key_only_lines"]))
        objects = sc.sequenceFile(batch("objects")).collect()
        keys = {k for k, _ in objects}
        if len(objects) != len(expected["int_double"]) or keys != {None}:
            failures.append("object files")
            print(f"FAIL  object files: {len(objects)} records, keys {keys}")
        else:
            print(f"ok    Spark counts Ember's object files ({len(objects)} records)")

        # ------------------------------------------------------------ Ember reads Spark
        spark = os.path.join(work, "spark")
        big = [(f"spark key {i} " + "y" * (i % 30), -(i + 1) * 2**33 - i) for i in range(60000)]
        written = {
            "plain": lambda p: sc.parallelize(big, 2).saveAsSequenceFile(p),
            "block-default": lambda p: sc.parallelize(big, 2).saveAsSequenceFile(
                p, "org.apache.hadoop.io.compress.DefaultCodec"),
            "record-default": lambda p: sc.parallelize(big, 2).saveAsHadoopFile(
                p, "org.apache.hadoop.mapred.SequenceFileOutputFormat",
                conf={"mapreduce.output.fileoutputformat.compress": "true",
                      "mapreduce.output.fileoutputformat.compress.type": "RECORD",
                      "mapreduce.output.fileoutputformat.compress.codec":
                          "org.apache.hadoop.io.compress.DefaultCodec"}),
        }

        def ember_read(kind, path):
            got = subprocess.run([TOOL, "read", kind, path], check=True, timeout=120,
                                 capture_output=True, text=True)
            return sorted(json.loads(got.stdout), key=repr)

        want = sorted([list(kv) for kv in big], key=repr)
        for name, save in written.items():
            path = os.path.join(spark, name)
            save(path)
            check(f"Ember reads Spark's {name} SequenceFile", ember_read("text_long", path), want)
        small = [(i - 20, i / 7.0) for i in range(40)]
        sc.parallelize(small, 2).saveAsSequenceFile(os.path.join(spark, "int_double"))
        check("Ember reads Spark's (IntWritable, DoubleWritable)",
              ember_read("int_double", os.path.join(spark, "int_double")),
              sorted([list(kv) for kv in small], key=repr))
        flags = [(i % 3 == 0, i * 1.5) for i in range(40)]
        sc.parallelize(flags, 2).saveAsSequenceFile(os.path.join(spark, "bool_double"))
        check("Ember reads Spark's (BooleanWritable, DoubleWritable)",
              ember_read("bool_double", os.path.join(spark, "bool_double")),
              sorted([list(kv) for kv in flags], key=repr))
        blobs = [(None, bytearray(bytes(range(i % 9)))) for i in range(40)]
        sc.parallelize(blobs, 2).saveAsSequenceFile(os.path.join(spark, "null_bytes"))
        check("Ember reads Spark's (NullWritable, BytesWritable)",
              ember_read("null_bytes", os.path.join(spark, "null_bytes")),
              sorted([[None, list(b)] for _, b in blobs], key=repr))
    finally:
        sc.stop()
        shutil.rmtree(work, ignore_errors=True)

    if failures:
        sys.exit(f"{len(failures)} checks failed: {failures}")
    print("all checks passed")


if __name__ == "__main__":
    main()
