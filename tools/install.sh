#!/usr/bin/env bash
# Installs Ember for users and job authors:
#
#   bazel run //:install -- --prefix /usr/local       (or tools/install.sh --prefix DIR)
#
#   PREFIX/bin/                  ember-driver, ember-executor, ember-submit, ember-textserver
#   PREFIX/include/ember/common/ the public, header-only job API (#include "common/ember.h")
#   PREFIX/lib/pkgconfig/ember.pc
#   PREFIX/lib/cmake/Ember/      find_package(Ember): the Ember::ember target, ember_add_job()
#   PREFIX/share/ember/          VERSION (version and ABI), the job template, example plugins
#
# A plugin links no Ember library: it is built against the headers with its runtime symbols
# left undefined, and they resolve against the ember-submit or executor process that loads it
# (one runtime per process). The flags for that are in ember.pc and Ember::ember.
set -euo pipefail

prefix=""
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
    --prefix=*) prefix=${1#--prefix=}; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install: unknown argument $1 (usage: install --prefix DIR)" >&2; exit 2 ;;
  esac
done
[ -n "$prefix" ] || { echo "install: --prefix DIR is required" >&2; exit 2; }
# Under `bazel run` the working directory is the runfiles tree: relative prefixes are the
# user's.
if [[ "$prefix" != /* ]]; then prefix="${BUILD_WORKING_DIRECTORY:-$PWD}/$prefix"; fi

if [ -x driver/ember-driver ] && [ -f common/ember.h ]; then
  src=$PWD  # the runfiles tree (bazel run, or a test), laid out as the workspace
else
  cd "$(dirname "$0")/.."
  bazel build //:install >/dev/null
  src=$(bazel info bazel-bin 2>/dev/null)/install.runfiles/ember
fi

version=$(sed -n 's/#define EMBER_VERSION_STRING "\(.*\)"/\1/p' "$src/common/job.h")
abi=$(sed -n 's/#define EMBER_ABI_VERSION \([0-9]*\)/\1/p' "$src/common/job.h")

install -d "$prefix/bin" "$prefix/include/ember/common" "$prefix/lib/pkgconfig" \
  "$prefix/lib/cmake/Ember" "$prefix/share/ember/template" "$prefix/share/ember/examples"
install -m 755 "$src/driver/ember-driver" "$src/executor/ember-executor" \
  "$src/tools/ember-submit" "$src/tools/ember-textserver" "$prefix/bin/"
for h in "$src"/common/*.h; do install -m 644 "$h" "$prefix/include/ember/common/"; done
install -m 644 "$src"/examples/template/* "$prefix/share/ember/template/"
install -m 644 "$src"/examples/*.so "$prefix/share/ember/examples/"
printf 'version %s\nabi %s\n' "$version" "$abi" >"$prefix/share/ember/VERSION"

cat >"$prefix/lib/pkgconfig/ember.pc" <<PC
prefix=$prefix
includedir=\${prefix}/include/ember
abi=$abi

Name: ember
Description: Ember job API (header-only; build a plugin with -shared, runtime symbols resolve at load)
Version: $version
Cflags: -std=c++17 -fPIC -fvisibility=hidden -fvisibility-inlines-hidden -I\${includedir}
Libs:
PC

cat >"$prefix/lib/cmake/Ember/EmberConfigVersion.cmake" <<CMAKE
set(PACKAGE_VERSION "$version")
if(PACKAGE_FIND_VERSION VERSION_GREATER PACKAGE_VERSION)
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
elseif(PACKAGE_FIND_VERSION_MAJOR STREQUAL "0" AND
       NOT PACKAGE_FIND_VERSION_MINOR STREQUAL "$(echo "$version" | cut -d. -f2)")
  set(PACKAGE_VERSION_COMPATIBLE FALSE)  # 0.x: minor versions are not compatible
else()
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
  if(PACKAGE_FIND_VERSION STREQUAL PACKAGE_VERSION)
    set(PACKAGE_VERSION_EXACT TRUE)
  endif()
endif()
CMAKE

cat >"$prefix/lib/cmake/Ember/EmberConfig.cmake" <<'CMAKE'
# find_package(Ember): the Ember::ember target (the header-only job API and the flags a plugin
# needs) and ember_add_job(NAME SOURCES...), which builds libNAME.so.
get_filename_component(_ember_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
if(NOT TARGET Ember::ember)
  add_library(Ember::ember INTERFACE IMPORTED)
  set_target_properties(Ember::ember PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${_ember_prefix}/include/ember"
    INTERFACE_COMPILE_FEATURES cxx_std_17
    INTERFACE_COMPILE_OPTIONS "-fvisibility=hidden;-fvisibility-inlines-hidden")
endif()
CMAKE
cat >>"$prefix/lib/cmake/Ember/EmberConfig.cmake" <<CMAKE
set(EMBER_VERSION "$version")
set(EMBER_ABI_VERSION $abi)
CMAKE
cat >>"$prefix/lib/cmake/Ember/EmberConfig.cmake" <<'CMAKE'
function(ember_add_job name)
  add_library(${name} MODULE ${ARGN})
  target_link_libraries(${name} PRIVATE Ember::ember)
  set_target_properties(${name} PROPERTIES PREFIX "lib" SUFFIX ".so"
    CXX_EXTENSIONS OFF POSITION_INDEPENDENT_CODE ON)
endfunction()
set(Ember_FOUND TRUE)
CMAKE
echo "install: Ember $version (ABI $abi) in $prefix"
