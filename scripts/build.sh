#!/usr/bin/env bash
# Configures (once) and builds mixq into $MIXQ_BUILD_DIR (default: build/).
# Extra arguments are passed to the first CMake configure.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${MIXQ_BUILD_DIR:-$root/build}"
jobs="${MIXQ_JOBS:-$(nproc)}"

if [ ! -f "$build/build.ninja" ]; then
  cmake -G Ninja -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release "$@"
fi
start=$(date +%s)
cmake --build "$build" -j "$jobs"
echo "build: done in $(( $(date +%s) - start )) s ($build)"
