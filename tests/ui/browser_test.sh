#!/usr/bin/env bash
exec python3 tests/ui/browser_test.py
