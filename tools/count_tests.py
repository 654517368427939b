#!/usr/bin/env python3
"""Counts test cases from a `bazel test` log and the test.xml files it wrote.

Prints "N passed, N failed" as its last line (after "N skipped" when a test reported itself
skipped, e.g. the compose test without a Docker engine); exits 1 when anything failed or
nothing ran.
A target that timed out, crashed before writing XML or failed to build counts as one failure.
"""
import os
import re
import sys
import xml.etree.ElementTree as ET

STATUS = re.compile(r"^(//\S+)\s+(?:\(cached\) )?(PASSED|FAILED|TIMEOUT|FLAKY|NO STATUS|"
                    r"FAILED TO BUILD|INCOMPLETE|SKIPPED)\b")


def count_xml(path):
    root = ET.parse(path).getroot()
    passed = failed = skipped = 0
    for case in root.iter("testcase"):
        if case.get("status") == "notrun" or case.find("skipped") is not None:
            skipped += 1
            continue
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        else:
            passed += 1
    return passed, failed, skipped


def main():
    log, testlogs = sys.argv[1], sys.argv[2]
    passed = failed = skipped = 0
    targets = 0
    with open(log, errors="replace") as f:
        for line in f:
            m = STATUS.match(line.strip())
            if not m:
                continue
            target, status = m.group(1), m.group(2)
            targets += 1
            xml = os.path.join(testlogs, target[2:].replace(":", "/"), "test.xml")
            p = fl = sk = 0
            if status in ("PASSED", "FAILED", "FLAKY") and os.path.exists(xml):
                try:
                    p, fl, sk = count_xml(xml)
                except ET.ParseError:
                    p, fl = 0, 1
            skipped += sk
            if status in ("PASSED", "FLAKY") and p + fl + sk == 0:
                p = 1  # a test binary that is not gtest: the target is the case
            if status not in ("PASSED", "FLAKY") and fl == 0:
                fl = 1
            passed += p
            failed += fl
    if targets == 0:
        failed += 1
        print("no test results found in the bazel log", file=sys.stderr)
    if skipped:
        print(f"{skipped} skipped (see their test logs for why)")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
