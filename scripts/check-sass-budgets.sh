#!/usr/bin/env bash
# The static SASS budgets: every kernel of a one-block llama2-7b-shaped
# model, for every scheme, compiled for sm_90, assembled by ptxas and
# disassembled by nvdisasm (scripts/sass-report), must stay within
# scripts/sass-budgets.json (registers, spills, and for the matmuls the K
# loop's instructions per weight, load widths and scalar x loads). Prints
# each package's table and every violation.
#
#   scripts/check-sass-budgets.sh [BUILD_DIR]       (default: build/)
#
# Exits 77 (ctest: skipped) without python3, ptxas or nvdisasm (PTXAS,
# NVDISASM, CUDA_HOME pick them; `python3 -m pip install
# nvidia-cuda-nvdisasm` provides nvdisasm). MIXQ_SASS_SCHEMES: a subset of
# the names below; MIXQ_SASS_BUDGETS: another budget file; MIXQ_SASS_KEEP=1
# keeps the work folder (packages deleted, JSON reports kept);
# MIXQ_SASS_PLUGIN: a scheme plugin for mixq-compile to load, and
# MIXQ_SASS_EXTRA: more "name|spec" entries, ';'-separated, e.g. the
# plugin's schemes (scripts/test-scheme-plugin.sh).
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
bin="$build/bin"
report="$root/scripts/sass-report"
budgets="${MIXQ_SASS_BUDGETS:-$root/scripts/sass-budgets.json}"
start=$SECONDS

if ! command -v python3 >/dev/null; then
  echo "check-sass-budgets: SKIPPED: no python3"
  exit 77
fi
tools="$("$report" --check-tools 2>&1)"
case $? in
  0) echo "$tools" | sed 's/^/check-sass-budgets: /' ;;
  77) echo "check-sass-budgets: SKIPPED: ${tools#sass-report: }"; exit 77 ;;
  *) echo "check-sass-budgets: FAIL: $tools"; exit 1 ;;
esac
for tool in mixq-synth mixq-compile; do
  if [ ! -x "$bin/$tool" ]; then
    echo "check-sass-budgets: FAIL: $bin/$tool is missing (build first)"
    exit 1
  fi
done

# name|--scheme[|more mixq-compile flags]; the names are the budget file's
# package keys.
schemes=(
  "fp16|fp16"
  "affine4|affine:bits=4,group=128"
  "affine3|affine:bits=3,group=64"
  "lut3|lut:bits=3"
  "lut2|lut:bits=2"
  "lut3-shared|lut:bits=3|--share-gemv-copies"
  "mixed|mixed"
  "bitplane|bitplane:seed=2,parent=4"
  "bitplane3|bitplane:seed=2,parent=4,width=3"
  "bitplane2|bitplane:seed=2,parent=4,width=2"
  "lut3sparse|lut:bits=3+sparse:frac=0.0045"
  "quik4|quik:cols=256,bits=4"
  "quik4act8|quik:cols=256,bits=4,act-bits=8"
)
if [ -n "${MIXQ_SASS_EXTRA:-}" ]; then
  IFS=';' read -ra extra <<<"$MIXQ_SASS_EXTRA"
  schemes+=("${extra[@]}")
fi
plugin=()
if [ -n "${MIXQ_SASS_PLUGIN:-}" ]; then
  plugin=(--load-scheme-plugin="$MIXQ_SASS_PLUGIN")
fi
wanted="${MIXQ_SASS_SCHEMES:-}"

work="$(mktemp -d "${TMPDIR:-/tmp}/mixq-sass.XXXXXX")"
[ "${MIXQ_SASS_KEEP:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT

# Weightless packages (when this mixq-compile has --weights=none) hold the
# PTX and the manifest only: small files, nothing quantized to store.
weights=()
if "$bin/mixq-compile" --help 2>/dev/null | grep -q -- '--weights='; then
  weights=(--weights=none)
fi

# Kernels depend on shapes only: one block of llama2-7b.
if ! "$bin/mixq-synth" -o "$work/l7b1.gguf" --preset llama2-7b --layers 1 \
    >"$work/synth.log" 2>&1; then
  echo "check-sass-budgets: FAIL: mixq-synth failed:"
  tail -5 "$work/synth.log"
  exit 1
fi

failures=0
checked=0
for entry in "${schemes[@]}"; do
  IFS='|' read -r name spec flags <<<"$entry"
  if [ -n "$wanted" ] && [[ " $wanted " != *" $name "* ]]; then
    continue
  fi
  pkg="$work/$name.mixq"
  # shellcheck disable=SC2086 # $flags holds zero or more flags
  if ! "$bin/mixq-compile" "$work/l7b1.gguf" --scheme="$spec" $flags \
      ${plugin[@]+"${plugin[@]}"} \
      --target=cuda --gpu-arch=sm_90 ${weights[@]+"${weights[@]}"} \
      -o "$pkg" >"$work/$name.log" 2>&1; then
    echo "check-sass-budgets: FAIL: $name: mixq-compile failed:"
    grep -v -e '^mixq-compile: quantizing' -e '^mixq-compile: writing' \
      "$work/$name.log" | tail -20
    failures=$((failures + 1))
    continue
  fi
  "$report" "$pkg" --budgets "$budgets" --json-out "$work/$name.json"
  status=$?
  rm -f "$pkg"
  checked=$((checked + 1))
  if [ "$status" -ne 0 ]; then
    echo "check-sass-budgets: FAIL: $name (sass-report exit $status)"
    failures=$((failures + 1))
  fi
done

echo "check-sass-budgets: $checked packages checked against" \
  "${budgets#"$root/"}, $failures failing, $((SECONDS - start)) s"
if [ "$checked" -eq 0 ] || [ "$failures" -ne 0 ]; then
  exit 1
fi
