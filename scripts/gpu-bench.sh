#!/usr/bin/env bash
# The prepared GPU run: made here, run once on a lent GPU machine (which has
# nvidia-smi, ncu, compute-sanitizer, python3 with torch and the CUDA
# toolkit, but no MLIR and no network), in at most 6 minutes on an H200.
#
#   scripts/gpu-bench.sh prepare DIR [BUILD_DIR]
#       Writes the whole device payload into DIR (under 40 MiB; DIR should
#       be ignored by git and carried to the device):
#         DIR/bin        mixq-run, mixq-bench, mixq-inspect and libxxhash
#         DIR/pkgs/stories260K, DIR/pkgs/tiny16, DIR/pkgs/tiny
#                        every scheme, with weights, CPU code and sm_90 PTX
#                        (the CPU executor is the GPU's reference); tiny16
#                        is tiny in f16, whose decode GEMVs run on tensor
#                        cores
#         DIR/pkgs/wide16 the entries that name it, on mixq-synth's
#                        tiny-wide in f16 (rows of 256 and 512: 3-bit code
#                        rows 16-byte aligned, so --share-gemv-copies
#                        applies, as on no other small model)
#         DIR/pkgs/7b    weightless llama2-7b packages (mixq-compile
#                        --weights=none, sm_90 PTX) of fp16, affine4 g128
#                        (also unfused), lut3, mixed (also with f32-FMA
#                        GEMVs), bitplane (widths 4, 3, 2) and QUIK, each with
#                        weights-SCHEME.json (decode kernel -> weights/call)
#         DIR/scripts    gpu_bench/summarize.py and torch_baselines.py
#         DIR/run.sh     this script
#       The llama2-7b checkpoint (13.5 GB) is synthesized once into
#       $MIXQ_GPU_BENCH_WORK (default /tmp/mixq-gpu-bench) and reused.
#   DIR/run.sh [OUT_DIR]
#       On the GPU machine: the run below, its raw outputs packed into
#       OUT_DIR/gpu-bench-results.tar.gz (OUT_DIR: default $OUT, else .)
#       beside OUT_DIR/summary.md, the markdown summary it also prints
#       (under 12,000 characters).
#   scripts/gpu-bench.sh pack RESULTS_DIR OUT_DIR
#       The last step of run.sh alone: summary, tar (tested without a GPU).
#
# The run, each stage under a time limit so that the whole stays inside
# MIXQ_GPU_BENCH_SECONDS (default 340):
#   1. correctness: every stories260K package, 128 greedy steps from BOS
#      on the GPU against the CPU executor on the same package (ids, max
#      |logit diff|, mean KL), and a multi-width package also by a width
#      schedule (every width's graph): gpu-check-stories260K.txt; then
#      the same for every tiny16 package (the tensor-core GEMVs):
#      gpu-check-tiny16.txt, and every wide16 one: gpu-check-wide16.txt;
#   2. mixq-bench --dummy-weights on every 7B package (pp, tg, per-kernel
#      table with read ceilings, cuBLAS): bench-7b-SCHEME.txt; a multi-width
#      package also tg at each width and by a schedule through them:
#      bench-7b-SCHEME-wW.txt, bench-7b-SCHEME-schedule.txt;
#   3. ncu over the first layer of one decode step per 7B package, reduced
#      to CSV (raw reports kept): ncu-SCHEME.csv, ncu-SCHEME.ncu-rep;
#   4. torch fp16 F.linear and int4 tinygemm on the 7B shapes:
#      torch-baselines.json;
#   5. correctness as in 1 for every tiny package: gpu-check-tiny.txt;
#   6. compute-sanitizer memcheck over one decode step of every stories260K
#      package: sanitizer-SCHEME.txt.
# Each stage's seconds go to stages.txt, what the deadline cut to
# skipped.txt; both are appended to the summary.
#
# Environment for prepare: MIXQ_GPU_BENCH_MODELS (default "stories260K
# tiny16 wide16 tiny 7b"), MIXQ_GPU_BENCH_SCHEMES / MIXQ_GPU_BENCH_7B_SCHEMES (subsets by
# name), MIXQ_GPU_BENCH_7B_LAYERS (default 32; tests use 1).
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

# name|--scheme|--overrides[|more mixq-compile flags[|models]] for
# stories260K and tiny (K = 172 in down_proj needs groups of 4 there), as
# the CPU end-to-end tests use them; `models` limits an entry to those
# models. bitplane is a multi-width package: its default width is the
# single-width package's, and the check also runs a schedule. affine3 is
# checked on tiny16 only: its f16 pair path (buildCenteredStreamCodePairs)
# is what the GPU == CPU check covers, and only f16 weights take it.
# wide16 takes only the entries that name it: lut3-shared, whose 16-byte
# pieces (and the warp barrier that publishes them) need 3-bit code rows
# that start 16-byte aligned.
small_schemes=(
  "fp32|fp32|"
  "fp16|fp16|"
  "affine8|affine:bits=8,group=64|down_proj=affine:bits=8,group=4"
  "affine4|affine:bits=4,group=32|down_proj=affine:bits=4,group=4"
  "lut3|lut:bits=3|"
  "lut4|lut:bits=4|"
  "mixed|mixed:group=16|down_proj=affine:bits=4,group=4"
  "bitplane|bitplane:seed=2,parent=4||--widths=4,3,2"
  "lut3sparse|lut:bits=3+sparse:frac=0.0045|"
  "quik4act8|quik:cols=8,bits=4,act-bits=8|"
  "affine4-pdl|affine:bits=4,group=32|down_proj=affine:bits=4,group=4|--programmatic-launch"
  "affine3|affine:bits=3,group=32|down_proj=affine:bits=3,group=4||tiny16"
  "lut3-shared|lut:bits=3||--share-gemv-copies|wide16"
)
# name|--scheme|more mixq-compile flags for llama2-7b. affine4-unfused is
# the same package with one kernel per op (13 a layer instead of 5): the
# fused decode step measured against it. mixed-fma is mixed with the f32-FMA
# decode GEMVs: the tensor-core ones measured against them. affine4-regs
# loads its codes straight into registers, prefetched a step ahead
# (--mixq-prefetch-loads), instead of the pipelined cp.async staging
# (--stage-gemv-weights=false: 1.73 SASS instructions per weight against
# 2.19-2.25): which of the two pipelines is faster is what it measures.
# mixed-tiles applies mixed's group scales to the mma sums per lane tile
# (--gemv-tile-factors: 2.50-2.62 instructions per weight against
# 2.82-3.20, but 76-94 registers against 64-72 on sm_90, so the fused
# q/k/v kernel's 768 blocks need 5.8 an SM where 5 fit). affine4-pdl is affine4
# with programmatic dependent launch (--programmatic-launch: each decode
# kernel's blocks start while the one before finishes); its tg128 against
# affine4's is the launch overhead it saves. Its small packages' GPU == CPU
# checks are the check that the programmatic edges are safe. quik4act8
# quantizes x for each matmul in its fused dispatch's prologue (5 kernels a
# layer, where each quantize_act was one more): its tg128 against quik4's
# is what that prologue costs. lut3-shared stages its 3-bit codes by 16-byte
# cp.async pieces the 4 lanes of a row copy together (--share-gemv-copies:
# every weight load 16 bytes wide, 58-66 registers, 2.15-2.33 instructions
# per weight) where lut3 loads them into registers 4 bytes at a time
# (2.02-2.05, 64-71 registers): which is faster is what it measures; the
# wide16 GPU == CPU check is the check of the pieces' warp barrier.
# affine4-unbiased takes the unscaled tiles (--biased-gemv-tiles=false:
# q - z by one f16x2 op a pair, 2.19-2.25 instructions per weight) where
# affine4 takes the biased ones and subtracts the biases with a second mma
# a step (1.92-1.98, 62-78 registers against 56-71): which is faster, and
# whether the greedy ids agree, is what it measures.
large_schemes=(
  "fp16|fp16|"
  "affine4|affine:bits=4,group=128|"
  "affine4-unfused|affine:bits=4,group=128|--fuse-decode=false"
  "affine4-regs|affine:bits=4,group=128|--stage-gemv-weights=false"
  "affine4-unbiased|affine:bits=4,group=128|--biased-gemv-tiles=false"
  "mixed-fma|mixed|--tensor-core-gemv=false"
  "lut3|lut:bits=3|"
  "mixed|mixed|"
  "mixed-tiles|mixed|--gemv-tile-factors"
  "bitplane|bitplane:seed=2,parent=4|--widths=4,3,2"
  "quik4|quik:cols=256,bits=4|"
  "quik4act8|quik:cols=256,bits=4,act-bits=8|"
  "affine4-pdl|affine:bits=4,group=128|--programmatic-launch"
  "lut3-shared|lut:bits=3|--share-gemv-copies"
)
# Limits of the payload and of each weightless 7B package. The device
# carries at most 64 MiB, the repository's tracked files (3.4 MiB) with
# it. On 2026-12-06 the payload was 44 MiB: the 7B packages 16, tiny,
# tiny16 and stories260K 7-10 each (CPU and sm_90 kernels of every
# scheme), the runtime 3.
payload_limit_mib=52
weightless_limit_mib=8

fail() {
  echo "gpu-bench: error: $*" >&2
  exit 1
}

# Whether NAME is selected by the space-separated list in $2 (empty: all).
selected() {
  [ -z "$2" ] && return 0
  case " $2 " in *" $1 "*) return 0 ;; esac
  return 1
}

mib() { echo $(( ($1 + 1048575) / 1048576 )); }

compile_small() {
  local bin="$1" model="$2" out="$3"
  mkdir -p "$out" || fail "cannot create $out"
  local entry name spec overrides flags only
  for entry in "${small_schemes[@]}"; do
    IFS='|' read -r name spec overrides flags only <<<"$entry"
    selected "$name" "${MIXQ_GPU_BENCH_SCHEMES:-}" || continue
    [ -z "$only" ] || selected "$(basename "$out")" "$only" || continue
    [ "$(basename "$out")" != wide16 ] || [ -n "$only" ] || continue
    # shellcheck disable=SC2086 # $flags holds zero or more flags
    "$bin/mixq-compile" "$model" --scheme="$spec" --overrides="$overrides" \
      $flags --target=all --gpu-arch=sm_90 --cpu=x86-64-v2 -o "$out/$name.mixq" \
      2>"$out/$name.log" || fail "compiling $name: $(tail -n 3 "$out/$name.log")"
    rm -f "$out/$name.log"
  done
}

# The llama2-7b checkpoint, synthesized once and reused.
large_checkpoint() {
  local bin="$1" layers="${MIXQ_GPU_BENCH_7B_LAYERS:-32}"
  local work="${MIXQ_GPU_BENCH_WORK:-/tmp/mixq-gpu-bench}"
  local ckpt="$work/llama2-7b-l$layers.gguf"
  mkdir -p "$work" || fail "cannot create $work"
  if [ ! -s "$ckpt" ]; then
    echo "gpu-bench: synthesizing llama2-7b ($layers layers) into $ckpt" >&2
    "$bin/mixq-synth" --preset llama2-7b --layers "$layers" -o "$ckpt.tmp" \
      >&2 || fail "mixq-synth failed"
    mv "$ckpt.tmp" "$ckpt"
  fi
  echo "$ckpt"
}

compile_large() {
  local bin="$1" out="$2" ckpt
  ckpt="$(large_checkpoint "$bin")" || exit 1
  mkdir -p "$out" || fail "cannot create $out"
  for entry in "${large_schemes[@]}"; do
    IFS='|' read -r name spec flags <<<"$entry"
    selected "$name" "${MIXQ_GPU_BENCH_7B_SCHEMES:-}" || continue
    local start=$SECONDS
    # shellcheck disable=SC2086 # $flags holds zero or more flags
    "$bin/mixq-compile" "$ckpt" --scheme="$spec" --target=cuda $flags \
      --gpu-arch=sm_90 --max-seq-len=1024 --weights=none \
      -o "$out/$name.mixq" 2>"$out/$name.log" ||
      fail "compiling 7b $name: $(tail -n 3 "$out/$name.log")"
    rm -f "$out/$name.log"
    local size
    size=$(stat -c %s "$out/$name.mixq")
    [ "$size" -le $((weightless_limit_mib << 20)) ] ||
      fail "the weightless 7b $name package is $(mib "$size") MiB, over" \
        "$weightless_limit_mib MiB"
    python3 "$root/scripts/gpu_bench/kernel_weights.py" "$out/$name.mixq" \
      >"$out/weights-$name.json" || fail "kernel weights of $name"
    echo "gpu-bench: 7b $name: $(mib "$size") MiB in $((SECONDS - start)) s" >&2
  done
}

copy_runtime() {
  local build="$1" dir="$2"
  mkdir -p "$dir/bin" "$dir/scripts/gpu_bench" || fail "cannot create $dir"
  for tool in mixq-run mixq-bench mixq-inspect; do
    cp "$build/bin/$tool" "$dir/bin/" || fail "no $build/bin/$tool"
  done
  # The one shared library the runtime needs beyond libc and libstdc++.
  local xxhash
  xxhash="$(ldd "$build/bin/mixq-run" | awk '/libxxhash/ {print $3}')"
  [ -n "$xxhash" ] && cp -L "$xxhash" "$dir/bin/"
  cp "$root/scripts/gpu_bench/summarize.py" \
    "$root/scripts/gpu_bench/torch_baselines.py" "$dir/scripts/gpu_bench/" ||
    fail "cannot copy scripts/gpu_bench"
  cp "$0" "$dir/run.sh" && chmod +x "$dir/run.sh"
}

prepare() {
  local dir="${1:-}" build="${2:-$root/build}"
  [ -n "$dir" ] || fail "usage: gpu-bench.sh prepare DIR [BUILD_DIR]"
  local bin="$build/bin" models="${MIXQ_GPU_BENCH_MODELS:-stories260K tiny16 wide16 tiny 7b}"
  for tool in mixq-compile mixq-synth mixq-run mixq-bench mixq-inspect; do
    [ -x "$bin/$tool" ] || fail "no $bin/$tool (build first)"
  done
  # The CUDA kernels call libdevice, which MLIR links from this toolkit.
  export CUDA_HOME="${CUDA_HOME:-/usr/local/cuda}"
  rm -rf "$dir/pkgs" "$dir/bin" "$dir/scripts"
  mkdir -p "$dir" || fail "cannot create $dir"
  local start=$SECONDS
  if selected stories260K "$models"; then
    local model="$root/../shared/models/stories260K.bin"
    [ -f "$model" ] || fail "no $model"
    compile_small "$bin" "$model" "$dir/pkgs/stories260K"
  fi
  if selected tiny "$models"; then
    local tiny="${MIXQ_GPU_BENCH_WORK:-/tmp/mixq-gpu-bench}/tiny.gguf"
    mkdir -p "$(dirname "$tiny")" || fail "cannot create $(dirname "$tiny")"
    "$bin/mixq-synth" --preset tiny -o "$tiny" >/dev/null ||
      fail "mixq-synth --preset tiny failed"
    compile_small "$bin" "$tiny" "$dir/pkgs/tiny"
  fi
  # tiny in f16: its decode GEMVs run on tensor cores (mma.sync), which
  # stories260K's and tiny's f32 ones never do.
  if selected tiny16 "$models"; then
    local tiny16="${MIXQ_GPU_BENCH_WORK:-/tmp/mixq-gpu-bench}/tiny16.gguf"
    mkdir -p "$(dirname "$tiny16")" || fail "cannot create $(dirname "$tiny16")"
    "$bin/mixq-synth" --preset tiny --dtype f16 -o "$tiny16" >/dev/null ||
      fail "mixq-synth --preset tiny --dtype f16 failed"
    compile_small "$bin" "$tiny16" "$dir/pkgs/tiny16"
  fi
  if selected wide16 "$models"; then
    local wide16="${MIXQ_GPU_BENCH_WORK:-/tmp/mixq-gpu-bench}/wide16.gguf"
    mkdir -p "$(dirname "$wide16")" || fail "cannot create $(dirname "$wide16")"
    "$bin/mixq-synth" --preset tiny-wide --dtype f16 -o "$wide16" >/dev/null ||
      fail "mixq-synth --preset tiny-wide --dtype f16 failed"
    compile_small "$bin" "$wide16" "$dir/pkgs/wide16"
  fi
  selected 7b "$models" && compile_large "$bin" "$dir/pkgs/7b"
  copy_runtime "$build" "$dir"
  local bytes
  bytes=$(du -sb "$dir" | cut -f1)
  [ "$bytes" -le $((payload_limit_mib << 20)) ] ||
    fail "the payload is $(mib "$bytes") MiB, over $payload_limit_mib MiB"
  echo "gpu-bench: prepared $(find "$dir/pkgs" -name '*.mixq' | wc -l)" \
    "packages in $dir ($(mib "$bytes") MiB, $((SECONDS - start)) s);" \
    "on the GPU machine run $dir/run.sh"
}

#===----------------------------------------------------------------------===#
# The device side
#===----------------------------------------------------------------------===#

# Seconds left of the run's budget.
left() { echo $((deadline - SECONDS)); }

# Runs "$@" with at most $1 seconds, never past the deadline; notes skips.
limited() {
  local seconds="$1"
  shift
  local room=$(($(left) - 5))
  [ "$room" -lt "$seconds" ] && seconds=$room
  if [ "$seconds" -lt 5 ]; then
    echo "gpu-bench: skipped (out of time): $*" >>"$results/skipped.txt"
    return 124
  fi
  timeout --kill-after=5 "$seconds" "$@"
}

# GPU against CPU on every package of one model: gpu-check-MODEL.txt.
check_model() {
  local dir="$1" model="$2"
  local report="$results/gpu-check-$model.txt"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv \
    >"$report" 2>&1
  printf '%-11s %-8s %-14s %-12s %s\n' scheme ids max_diff mean_kl tok/s \
    >>"$report"
  for pkg in "$dir/pkgs/$model"/*.mixq; do
    [ -f "$pkg" ] || continue
    local name log gpu cpu diff kl speed same
    name="$(basename "$pkg" .mixq)"
    log="$results/check-$model-$name.log"
    gpu="$(limited 30 "$bin/mixq-run" "$pkg" --device cuda --tokens 1 -n 128 \
      --print-ids --reference "$pkg" 2>"$log")"
    if [ $? -ne 0 ]; then
      printf '%-11s FAILED (see %s)\n' "$name" "$(basename "$log")" >>"$report"
      failures=$((failures + 1))
      continue
    fi
    cpu="$(limited 30 "$bin/mixq-run" "$pkg" --device cpu --tokens 1 -n 128 \
      --print-ids 2>/dev/null)"
    same=differ
    [ "$gpu" = "$cpu" ] && same=equal
    diff="$(sed -n 's/.*max |logit diff| \([^,]*\),.*/\1/p' "$log")"
    kl="$(sed -n 's/.*mean KL \([^ ]*\) nats.*/\1/p' "$log")"
    speed="$(sed -n 's/.*decode [0-9]* tokens in [^(]*(\([^)]*\)).*/\1/p' \
      "$log")"
    printf '%-11s %-8s %-14s %-12s %s\n' "$name" "$same" "$diff" "$kl" \
      "$speed" >>"$report"
    check_schedule "$pkg" "$name" "$report"
  done
}

# A schedule through every width of a multi-width package, widest first,
# 32 decode steps each and the last to the end ("4:32,3:32,2"); nothing for
# a package with one decode plan.
width_schedule() {
  "$bin/mixq-inspect" "$1" 2>/dev/null |
    sed -n 's/^.*decode \([0-9]*\): plan .*/\1/p' |
    awk 'BEGIN { ORS = "" }
         { w[NR] = $1 }
         END { for (i = 1; i <= NR; i++) {
                 if (i > 1) print ","
                 print w[i]
                 if (i < NR) print ":32" } }'
}

# A multi-width package once more, by a width schedule, so that every
# width's decode graph runs: the GPU's ids against the CPU's by the same
# schedule (the CPU reference would run the default width only).
check_schedule() {
  local pkg="$1" name="$2" report="$3" schedule gpu cpu same speed
  schedule="$(width_schedule "$pkg")"
  [ -n "$schedule" ] || return 0
  local log="$results/check-$(basename "$(dirname "$pkg")")-$name-schedule.log"
  gpu="$(limited 30 "$bin/mixq-run" "$pkg" --device cuda --tokens 1 -n 128 \
    --print-ids --schedule "$schedule" 2>"$log")"
  if [ $? -ne 0 ]; then
    printf '%-11s FAILED (see %s)\n' "$name@schedule" "$(basename "$log")" \
      >>"$report"
    failures=$((failures + 1))
    return 0
  fi
  if ! cpu="$(limited 30 "$bin/mixq-run" "$pkg" --device cpu --tokens 1 \
    -n 128 --print-ids --schedule "$schedule" 2>>"$log")"; then
    printf '%-11s FAILED on the CPU (see %s)\n' "$name@schedule" \
      "$(basename "$log")" >>"$report"
    failures=$((failures + 1))
    return 0
  fi
  same=differ
  [ "$gpu" = "$cpu" ] && same=equal
  speed="$(sed -n 's/.*decode [0-9]* tokens in [^(]*(\([^)]*\)).*/\1/p' "$log")"
  printf '%-11s %-8s %-14s %-12s %s\n' "$name@schedule" "$same" - - \
    "$speed" >>"$report"
}

# compute-sanitizer memcheck over one decode step (a one-token prompt, then
# one decode) of every stories260K package.
sanitize() {
  local dir="$1"
  command -v compute-sanitizer >/dev/null || {
    echo "compute-sanitizer not found" >"$results/sanitizer-none.txt"
    return
  }
  for pkg in "$dir/pkgs/stories260K"/*.mixq; do
    [ -f "$pkg" ] || continue
    local name
    name="$(basename "$pkg" .mixq)"
    limited 25 compute-sanitizer --tool memcheck --error-exitcode 3 \
      "$bin/mixq-run" "$pkg" --device cuda --tokens 1 -n 2 --print-ids \
      >"$results/sanitizer-$name.txt" 2>&1 || failures=$((failures + 1))
  done
}

# mixq-bench on every weightless 7B package. mixq prints its tables only at
# the end, so each run is sized to finish well inside its limit: the mixed
# GEMV took 209 ms a token on 2026-12-04.
bench_large() {
  local dir="$1"
  for pkg in "$dir/pkgs/7b"/*.mixq; do
    [ -f "$pkg" ] || continue
    local name sizes=(-p 512 -n 128 -r 3)
    name="$(basename "$pkg" .mixq)"
    # mixed-fma: the same sizes as mixed, for the A/B of the GEMV paths.
    [ "$name" = mixed ] || [ "$name" = mixed-fma ] && sizes=(-p 64 -n 16 -r 1)
    [ "$name" = affine4-unfused ] || [ "$name" = affine4-regs ] ||
      [ "$name" = affine4-unbiased ] ||
      [ "$name" = mixed-tiles ] || [ "$name" = affine4-pdl ] ||
      [ "$name" = lut3-shared ] &&
      sizes=(-p 0 -n 128 -r 3)
    limited 60 "$bin/mixq-bench" "$pkg" --device cuda --dummy-weights \
      "${sizes[@]}" >"$results/bench-7b-$name.txt" 2>&1 ||
      failures=$((failures + 1))
    bench_widths "$pkg" "$name"
  done
}

# A multi-width 7B package: tg128 at each width, and by a schedule through
# every width, 32 steps each. (Not the prompt-adaptive policy: on random
# dummy weights its margins mean nothing.)
bench_widths() {
  local pkg="$1" name="$2" schedule width
  schedule="$(width_schedule "$pkg")"
  [ -n "$schedule" ] || return 0
  for width in $(echo "$schedule" | tr ',' '\n' | cut -d: -f1); do
    limited 30 "$bin/mixq-bench" "$pkg" --device cuda --dummy-weights \
      -p 0 -n 128 -r 3 --width "$width" \
      >"$results/bench-7b-$name-w$width.txt" 2>&1 ||
      failures=$((failures + 1))
  done
  limited 30 "$bin/mixq-bench" "$pkg" --device cuda --dummy-weights \
    -p 0 -n 128 -r 3 --schedule "$schedule" \
    >"$results/bench-7b-$name-schedule.txt" 2>&1 ||
    failures=$((failures + 1))
}

# ncu over the first layer of one decode step (the first 6 decode kernel
# launches: embed, then the fused layer: norm + q/k/v + rope, attention,
# o + residual, norm + gate/up + SwiGLU, down + residual), reduced to a raw
# CSV per package (not the comparison packages affine4-unfused, mixed-fma,
# affine4-pdl, affine4-unbiased, whose tg128 is the comparison;
# affine4-regs is profiled: its kernels' times beside affine4's are the
# comparison).
profile_large() {
  local dir="$1"
  command -v ncu >/dev/null || {
    echo "ncu not found" >"$results/ncu-none.txt"
    return
  }
  for pkg in "$dir/pkgs/7b"/*.mixq; do
    [ -f "$pkg" ] || continue
    local name report
    name="$(basename "$pkg" .mixq)"
    [ "$name" = affine4-unfused ] || [ "$name" = mixed-fma ] ||
      [ "$name" = affine4-pdl ] || [ "$name" = affine4-unbiased ] && continue
    report="$results/ncu-$name"
    cp "$dir/pkgs/7b/weights-$name.json" "$results/" 2>/dev/null
    limited 40 ncu --clock-control none --kernel-name regex:'^decode_' \
      --launch-count 6 --section SpeedOfLight --section LaunchStats \
      --section Occupancy --section WarpStateStats \
      --section InstructionStats -o "$report" -f \
      "$bin/mixq-bench" "$pkg" --device cuda --dummy-weights -p 0 -n 1 -r 1 \
      >"$report.log" 2>&1 || failures=$((failures + 1))
    [ -f "$report.ncu-rep" ] &&
      ncu --import "$report.ncu-rep" --csv --page raw >"$report.csv" 2>>"$report.log"
  done
}

# Summary and tar: OUT_DIR/summary.md and OUT_DIR/gpu-bench-results.tar.gz.
pack() {
  local from="$1" out="$2" scripts="${3:-$root/scripts}"
  mkdir -p "$out" || fail "cannot create $out"
  python3 "$scripts/gpu_bench/summarize.py" "$from" >"$out/summary.md" ||
    echo "gpu-bench: the summary failed" >>"$out/summary.md"
  # The first error of each failing tool, so that one run says what broke.
  grep -h -m 1 -E "error|ERROR|Error" "$from"/*.txt "$from"/*.log 2>/dev/null |
    sort -u | head -c 2500 >"$from/errors.txt"
  local log
  for log in errors.txt stages.txt skipped.txt; do
    [ -s "$from/$log" ] || continue
    printf '\n## %s\n\n```\n' "$log" >>"$out/summary.md"
    head -c 1500 "$from/$log" >>"$out/summary.md"
    printf '```\n' >>"$out/summary.md"
  done
  cp "$out/summary.md" "$from/summary.md"
  tar -C "$(dirname "$from")" -czf "$out/gpu-bench-results.tar.gz" \
    "$(basename "$from")" || fail "cannot pack $from"
  cat "$out/summary.md"
}

run() {
  local dir out
  dir="$(cd "$(dirname "$0")" && pwd)"
  out="${1:-${OUT:-.}}"
  bin="$dir/bin"
  # Raw outputs outside OUT_DIR: only the tar and the summary go back (a
  # lent machine returns at most 8 files).
  results="$(mktemp -d "${TMPDIR:-/tmp}/mixq-gpu-bench.XXXXXX")/gpu-bench-results"
  deadline=$((SECONDS + ${MIXQ_GPU_BENCH_SECONDS:-340}))
  failures=0
  mkdir -p "$results" "$out" || fail "cannot create $results or $out"
  export LD_LIBRARY_PATH="$bin${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  local cublas=/usr/local/cuda-13.0/targets/x86_64-linux/lib/libcublas.so
  [ -z "${MIXQ_CUBLAS:-}" ] && [ -f "$cublas" ] && export MIXQ_CUBLAS="$cublas"
  nvidia-smi >"$results/nvidia-smi.txt" 2>&1
  local stage
  # Most telling first: a stage the deadline cuts short says so in
  # skipped.txt, and the summary lists it.
  for stage in "check_model $dir stories260K" "check_model $dir tiny16" \
    "check_model $dir wide16" "bench_large $dir" \
    "profile_large $dir" "torch_baselines $dir" "check_model $dir tiny" \
    "sanitize $dir"; do
    local begin=$SECONDS
    $stage
    echo "$stage: $((SECONDS - begin)) s" >>"$results/stages.txt"
  done
  echo "failures: $failures" >>"$results/stages.txt"
  pack "$results" "$out" "$dir/scripts"
}

torch_baselines() {
  local dir="$1"
  limited 35 python3 "$dir/scripts/gpu_bench/torch_baselines.py" \
    --out "$results/torch-baselines.json" --budget-s 20 \
    >"$results/torch-baselines.log" 2>&1 || failures=$((failures + 1))
}

case "${1:-}" in
  prepare) shift; prepare "$@" ;;
  pack) shift; pack "$@" ;;
  -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d' ;;
  *) run "$@" ;;
esac
