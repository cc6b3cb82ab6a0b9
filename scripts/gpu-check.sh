#!/usr/bin/env bash
# The GPU correctness check, prepared here and run on a lent GPU machine
# (which has no MLIR: it gets packages compiled here and the runtime binaries).
#
#   scripts/gpu-check.sh prepare DIR [BUILD_DIR]
#       compiles stories260K for every scheme with --target=all into DIR/pkgs,
#       copies mixq-run (and mixq-bench, libxxhash) into DIR/bin and writes
#       DIR/run.sh. DIR should be ignored by git and carried to the device
#       (a few MiB).
#   DIR/run.sh [OUT_DIR]
#       on the GPU machine: for every package, runs 128 greedy steps from BOS
#       on the GPU with the same package on the CPU as --reference (max
#       |logit diff|, mean KL), compares the greedy ids of GPU and CPU, and
#       writes a table to OUT_DIR/gpu-check.txt (default: $OUT or .), and
#       runs mixq-bench on three of them (bench-*.txt).
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

prepare() {
  local dir="$1" build="${2:-$root/build}"
  local model="$root/../shared/models/stories260K.bin"
  [ -f "$model" ] || { echo "gpu-check: no $model"; exit 1; }
  mkdir -p "$dir/pkgs" "$dir/bin" || exit 1
  # name|--scheme|--overrides, as the CPU end-to-end tests use them.
  local schemes=(
    "fp32|fp32|"
    "fp16|fp16|"
    "affine8|affine:bits=8,group=64|down_proj=affine:bits=8,group=4"
    "affine4|affine:bits=4,group=32|down_proj=affine:bits=4,group=4"
    "lut3|lut:bits=3|"
    "lut4|lut:bits=4|"
    "mixed|mixed:group=16|down_proj=affine:bits=4,group=4"
    "bitplane|bitplane:seed=2,parent=4|"
    "lut3sparse|lut:bits=3+sparse:frac=0.0045|"
    "quik4act8|quik:cols=8,bits=4,act-bits=8|"
  )
  for entry in "${schemes[@]}"; do
    IFS='|' read -r name spec overrides <<<"$entry"
    "$build/bin/mixq-compile" "$model" --scheme="$spec" \
      --overrides="$overrides" --target=all --cpu=x86-64-v2 \
      -o "$dir/pkgs/$name.mixq" 2>&1 | tail -n 1 || exit 1
  done
  for tool in mixq-run mixq-bench mixq-inspect; do
    [ -x "$build/bin/$tool" ] && cp "$build/bin/$tool" "$dir/bin/"
  done
  # The one shared library the runtime needs beyond libc/libstdc++.
  local xxhash
  xxhash="$(ldd "$build/bin/mixq-run" | awk '/libxxhash/ {print $3}')"
  [ -n "$xxhash" ] && cp -L "$xxhash" "$dir/bin/"
  cp "$0" "$dir/run.sh"
  echo "gpu-check: prepared $(ls "$dir/pkgs" | wc -l) packages in $dir" \
    "($(du -sh "$dir" | cut -f1)); on the GPU machine run $dir/run.sh"
}

run() {
  local dir out
  dir="$(cd "$(dirname "$0")" && pwd)"
  out="${1:-${OUT:-.}}"
  mkdir -p "$out"
  export LD_LIBRARY_PATH="$dir/bin${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  local report="$out/gpu-check.txt" failures=0
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv \
    >"$report" 2>&1
  printf '%-11s %-8s %-14s %-12s %s\n' scheme ids max_diff mean_kl tok/s \
    >>"$report"
  for pkg in "$dir"/pkgs/*.mixq; do
    local name log gpu cpu diff kl speed same
    name="$(basename "$pkg" .mixq)"
    log="$out/$name.log"
    gpu="$("$dir/bin/mixq-run" "$pkg" --device cuda --tokens 1 -n 128 \
      --print-ids --reference "$pkg" 2>"$log")"
    if [ $? -ne 0 ]; then
      printf '%-11s FAILED (see %s)\n' "$name" "$name.log" >>"$report"
      failures=$((failures + 1))
      continue
    fi
    cpu="$("$dir/bin/mixq-run" "$pkg" --device cpu --tokens 1 -n 128 \
      --print-ids 2>/dev/null)"
    same=differ
    [ "$gpu" = "$cpu" ] && same=equal
    diff="$(sed -n 's/.*max |logit diff| \([^,]*\),.*/\1/p' "$log")"
    kl="$(sed -n 's/.*mean KL \([^ ]*\) nats.*/\1/p' "$log")"
    speed="$(sed -n 's/.*decode [0-9]* tokens in [^(]*(\([^)]*\)).*/\1/p' \
      "$log")"
    printf '%-11s %-8s %-14s %-12s %s\n' "$name" "$same" "$diff" "$kl" \
      "$speed" >>"$report"
  done
  # The benchmark's GPU paths (copy bandwidth, per-kernel table, cuBLAS).
  if [ -x "$dir/bin/mixq-bench" ]; then
    for name in fp16 affine4 mixed; do
      [ -f "$dir/pkgs/$name.mixq" ] || continue
      "$dir/bin/mixq-bench" "$dir/pkgs/$name.mixq" --device cuda -p 128 \
        -n 64 -r 3 >"$out/bench-$name.txt" 2>&1 ||
        failures=$((failures + 1))
    done
  fi
  cat "$report"
  [ "$failures" -eq 0 ]
}

case "${1:-}" in
  prepare) shift; prepare "$@" ;;
  *) run "$@" ;;
esac
