#!/usr/bin/env bash
# A scheme built outside the tree goes through everything a built-in one
# does (issue 18): test/lib's fp4 scheme, configured on its own against the
# installed MixQ package, as a scheme author would build it.
#
#   1. `cmake --install` of this build into a scratch prefix;
#   2. test/lib/TestSchemes as a project of its own: find_package(MixQ),
#      mixq_tablegen, mixq_add_scheme_plugin -> libMixQTestSchemesPlugin.so;
#   3. mixq-opt --load-dialect-plugin: a SPEC names fp4;
#   4. mixq-compile --load-scheme-plugin: --list-schemes lists it, and
#      mixq-e2e-tests' SchemePlugin test compiles stories260K with it and
#      runs the CPU package against a fake-quantized fp32 reference;
#   5. with ptxas: the CUDA package's kernels, assembled for sm_80 and sm_90;
#   6. with ptxas and nvdisasm: the SASS budgets of its kernels
#      (check-sass-budgets.sh, package "fp4" in scripts/sass-budgets.json).
#
#   scripts/test-scheme-plugin.sh [BUILD_DIR]      (default: build/)
#
# MIXQ_PLUGIN_KEEP=1 keeps the scratch folder.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
bin="$build/bin"
work="$(mktemp -d "${TMPDIR:-/tmp}/mixq-plugin.XXXXXX")"
[ "${MIXQ_PLUGIN_KEEP:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT
step() { echo "test-scheme-plugin: $*"; }
fail() { echo "test-scheme-plugin: FAIL: $*"; exit 1; }

step "1. installing $build into $work/prefix"
cmake --install "$build" --prefix "$work/prefix" >"$work/install.log" 2>&1 ||
  { tail -20 "$work/install.log"; fail "cmake --install"; }
[ -f "$work/prefix/lib/cmake/MixQ/MixQConfig.cmake" ] ||
  fail "no MixQConfig.cmake installed"

step "2. building test/lib/TestSchemes out of tree against it"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake ${generator[@]+"${generator[@]}"} -S "$root/test/lib/TestSchemes" \
  -B "$work/plugin" -DCMAKE_BUILD_TYPE=Release \
  -DMixQ_DIR="$work/prefix/lib/cmake/MixQ" >"$work/configure.log" 2>&1 ||
  { tail -20 "$work/configure.log"; fail "configuring the plugin"; }
cmake --build "$work/plugin" >"$work/build.log" 2>&1 ||
  { tail -30 "$work/build.log"; fail "building the plugin"; }
plugin="$work/plugin/libMixQTestSchemesPlugin.so"
[ -f "$plugin" ] || fail "$plugin was not built"
# It must bind to the loading tool's mixq, not carry its own.
# (To a file: grep -q would close the pipe early, and pipefail fail nm.)
nm -D --defined-only "$plugin" >"$work/plugin-symbols.txt" ||
  fail "nm -D $plugin"
if grep -q 'registerSchemeSyntax' "$work/plugin-symbols.txt"; then
  fail "the plugin defines mixq's registry itself"
fi

step "3. mixq-opt --load-dialect-plugin"
cat >"$work/block.mlir" <<'MLIR'
func.func @block(%x: tensor<?x64xf32>) -> tensor<?x8xf32> {
  %w = llm.weight @up : tensor<8x64xf32>
  %y = llm.linear %x, %w : tensor<?x64xf32>, tensor<8x64xf32> -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
MLIR
"$bin/mixq-opt" --load-dialect-plugin="$plugin" "$work/block.mlir" \
  --mixq-quantize="scheme=fp4:group=16,spike=true" >"$work/quantized.mlir" ||
  fail "mixq-opt with the plugin"
grep -q '!mixq.qtensor<8x64, #mixq_test.fp4<group = 16, spike = true>>' \
  "$work/quantized.mlir" || { cat "$work/quantized.mlir"; fail "no fp4 weight"; }
if "$bin/mixq-opt" "$work/block.mlir" --mixq-quantize="scheme=fp4" \
    >/dev/null 2>"$work/unknown.log"; then
  fail "fp4 is known without the plugin"
fi
grep -q "unknown scheme 'fp4'" "$work/unknown.log" ||
  { cat "$work/unknown.log"; fail "no unknown-scheme error without the plugin"; }

step "4. mixq-compile --load-scheme-plugin: CPU package against the reference"
"$bin/mixq-compile" --load-scheme-plugin="$plugin" --list-schemes |
  grep -q '^fp4 (#mixq_test.fp4)' || fail "--list-schemes does not list fp4"
if "$bin/mixq-compile" --load-scheme-plugin="$work/missing.so" --list-schemes \
    >/dev/null 2>"$work/missing.log"; then
  fail "a missing plugin is accepted"
fi
grep -q "load-scheme-plugin" "$work/missing.log" || fail "no error for a missing plugin"
e2e="$build/test/e2e/mixq-e2e-tests"
if [ ! -f "$root/../shared/models/stories260K.bin" ]; then
  step "4. SKIPPED the CPU run: ../shared/models/stories260K.bin is missing"
else
  MIXQ_FP4_PLUGIN="$plugin" "$e2e" --gtest_filter='SchemePlugin.*' \
    >"$work/e2e.log" 2>&1 || { tail -30 "$work/e2e.log"; fail "mixq-e2e-tests"; }
  if grep -q '\[  SKIPPED \]' "$work/e2e.log"; then
    grep 'SKIPPED\|Skipped' "$work/e2e.log"
    fail "the end-to-end test was skipped"
  fi
  grep '\[  PASSED  \]' "$work/e2e.log" | sed 's/^/  /'
fi

ptxas="${PTXAS:-$(command -v ptxas || echo "${CUDA_HOME:-/usr/local/cuda}/bin/ptxas")}"
if [ -x "$ptxas" ]; then
  step "5. CUDA kernels of the plugin's scheme, through ptxas"
  "$bin/mixq-synth" -o "$work/tiny.gguf" --preset tiny >/dev/null 2>&1 ||
    fail "mixq-synth"
  for chip in sm_80 sm_90; do
    "$bin/mixq-compile" "$work/tiny.gguf" --load-scheme-plugin="$plugin" \
      --scheme=fp4:group=4 --target=cuda --gpu-arch="$chip" --emit=ptx \
      -o "$work/fp4-$chip.ptx" >"$work/ptx.log" 2>&1 ||
      { tail -20 "$work/ptx.log"; fail "mixq-compile --emit=ptx ($chip)"; }
    "$ptxas" -arch="$chip" -v "$work/fp4-$chip.ptx" -o "$work/fp4.cubin" \
      >"$work/ptxas.log" 2>&1 || { tail -20 "$work/ptxas.log"; fail "ptxas ($chip)"; }
    if grep -q 'bytes spill stores' "$work/ptxas.log" &&
        grep 'spill' "$work/ptxas.log" | grep -vq ' 0 bytes spill stores'; then
      grep spill "$work/ptxas.log" | sort | uniq -c
      fail "spills ($chip)"
    fi
    echo "  $chip: $(grep -c 'Compiling entry' "$work/ptxas.log") kernels assembled, no spills"
  done
else
  step "5. SKIPPED: no ptxas"
fi

step "6. SASS budgets of the plugin's kernels"
set +e
# Group 128: a step of the tensor-core GEMV (4 lanes x 32 columns) lies in
# one group, so the plugin's scale factors are applied to the sums.
MIXQ_SASS_PLUGIN="$plugin" MIXQ_SASS_EXTRA="fp4|fp4:group=128" \
  MIXQ_SASS_SCHEMES=fp4 "$root/scripts/check-sass-budgets.sh" "$build"
status=$?
set -e
case $status in
  0) ;;
  77) step "6. SKIPPED (see above)" ;;
  *) fail "SASS budgets" ;;
esac
step "PASS"
