#!/usr/bin/env bash
# The packages' layers point one way: common < util, rpc < runtime < driver, executor < tools.
# Fails, naming the file and the include, when a source includes a package it may not.
set -uo pipefail

allowed() {  # package -> the project packages its sources may include
  case "$1" in
    common) echo "common" ;;
    proto) echo "proto" ;;
    util) echo "common proto util" ;;
    rpc) echo "proto rpc" ;;
    runtime) echo "common proto util rpc runtime" ;;
    driver) echo "common proto util rpc runtime driver" ;;
    executor) echo "common proto util rpc runtime executor" ;;
  esac
}

bad=0
checked=0
for pkg in common util rpc runtime driver executor; do
  for f in $(find "$pkg" -name '*.h' -o -name '*.cc' | grep -v '_test\.cc$' | grep -v /testdata/); do
    checked=$((checked + 1))
    while IFS= read -r inc; do
      top=${inc%%/*}
      case " $(allowed "$pkg") " in
        *" $top "*) ;;
        *)
          # Only the project's packages are layered; system headers are not.
          if [[ " common proto util rpc runtime driver executor tools tests bench examples " == *" $top "* ]]; then
            echo "layering: $f includes \"$inc\", but $pkg may include only: $(allowed "$pkg")"
            bad=1
          fi
          ;;
      esac
    done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
  done
done
[ "$checked" -gt 50 ] || { echo "layering: only $checked files found: wrong directory?"; exit 1; }
[ "$bad" -eq 0 ] && echo "layering: $checked files, every include points down"
exit "$bad"
