#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds, then runs the lit
# tests and the ctest suite (GoogleTest + doc checks), printing both
# summaries. Exits non-zero if either fails.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${MIXQ_BUILD_DIR:-$root/build}"
lit="${MIXQ_LIT:-/usr/lib/llvm-22/bin/lit}"

"$root/scripts/bootstrap.sh" || exit 1
"$root/scripts/build.sh" || exit 1

echo "=== lit (test/lit) ==="
"$lit" -sv --time-tests "$build/test/lit"
lit_status=$?

echo "=== ctest ==="
ctest --test-dir "$build" --output-on-failure -j "${MIXQ_JOBS:-$(nproc)}"
ctest_status=$?

echo "=== summary: lit exit $lit_status, ctest exit $ctest_status ==="
[ "$lit_status" -eq 0 ] && [ "$ctest_status" -eq 0 ]
