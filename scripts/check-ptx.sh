#!/usr/bin/env bash
# Every CUDA kernel mixq makes, for every scheme, on the tiny preset, the
# trained stories260K and a one-block llama2-7b-shaped model, assembled by
# ptxas for sm_80 and sm_90: fails on any ptxas error or spill, and prints a
# table of registers, shared memory and spills per kernel.
#
#   scripts/check-ptx.sh [BUILD_DIR]       (default: build/)
#
# Exits 77 (ctest: skipped) when there is no ptxas. Set PTXAS to pick one,
# MIXQ_PTX_MODELS to a subset of "tiny stories 7b", MIXQ_PTX_7B to a whole
# llama2-7b checkpoint (default: a one-block one), MIXQ_PTX_KEEP=1 to keep
# the PTX files.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
bin="$build/bin"
ptxas="${PTXAS:-$(command -v ptxas || echo "${CUDA_HOME:-/usr/local/cuda}/bin/ptxas")}"
if [ ! -x "$ptxas" ]; then
  echo "check-ptx: SKIPPED: no ptxas (install the CUDA toolkit or set PTXAS)"
  exit 77
fi
models="${MIXQ_PTX_MODELS:-tiny stories 7b}"
chips="sm_80 sm_90"
work="$(mktemp -d "${TMPDIR:-/tmp}/mixq-ptx.XXXXXX")"
[ "${MIXQ_PTX_KEEP:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT

# name|--scheme|--overrides; K = 172 (tiny, stories down_proj) needs small
# groups there.
schemes=(
  "fp16|fp16|"
  "affine8|affine:bits=8,group=64|down_proj=affine:bits=8,group=4"
  "affine4|affine:bits=4,group=32|down_proj=affine:bits=4,group=4"
  "affine3|affine:bits=3,group=32|down_proj=affine:bits=3,group=4"
  "affine2|affine:bits=2,group=32|down_proj=affine:bits=2,group=4"
  "mixed|mixed:group=16|down_proj=affine:bits=4,group=4"
  "lut3|lut:bits=3|"
  "lut4|lut:bits=4|"
  "lut3sparse|lut:bits=3+sparse:frac=0.0045|"
  "quik4act8|quik:cols=8,bits=4,act-bits=8|"
  "bitplane|bitplane:seed=2,parent=4|"
)
schemes7b=(
  "fp16|fp16|"
  "affine4|affine:bits=4,group=128|"
  # g32: the fused q/k/v kernel's resident scales and zeros (over 48 KiB
  # before the tensor-core segments shared them).
  "affine4g32|affine:bits=4,group=32|"
  "affine3|affine:bits=3,group=64|"
  "affine2|affine:bits=2,group=64|"
  "mixed|mixed|"
  "lut3|lut:bits=3|"
  "lut3sparse|lut:bits=3+sparse:frac=0.0045|"
  "quik4act8|quik:cols=256,bits=4,act-bits=8|"
  "bitplane|bitplane:seed=2,parent=4|"
  # Widths 3 and 2: their pair tables (width 4 has none).
  "bitplane3|bitplane:seed=2,parent=4,width=3|"
  "bitplane2|bitplane:seed=2,parent=4,width=2|"
  # The configurations scripts/gpu-bench.sh benches beside the defaults
  # (name|--scheme|--overrides|more mixq-compile flags).
  "mixed-tiles|mixed||--gemv-tile-factors"
  "mixed-fma|mixed||--tensor-core-gemv=false"
  "affine4-regs|affine:bits=4,group=128||--stage-gemv-weights=false"
  "affine4-unbiased|affine:bits=4,group=128||--biased-gemv-tiles=false"
)

checkpoint() {
  case "$1" in
    tiny)
      "$bin/mixq-synth" -o "$work/tiny.gguf" --preset tiny >/dev/null 2>&1 &&
        echo "$work/tiny.gguf" ;;
    stories)
      local path="$root/../shared/models/stories260K.bin"
      [ -f "$path" ] && echo "$path" ;;
    7b)
      # Kernels depend on shapes only: one block of llama2-7b, never
      # quantized (--emit=ptx does not read the weights). MIXQ_PTX_7B names
      # a whole llama2-7b checkpoint to use instead.
      if [ -n "${MIXQ_PTX_7B:-}" ]; then
        echo "$MIXQ_PTX_7B"
        return
      fi
      "$bin/mixq-synth" -o "$work/7b.gguf" --preset llama2-7b --layers 1 \
        >/dev/null 2>&1 && echo "$work/7b.gguf" ;;
  esac
}

table="$work/table.txt"
failures=0
kernels=0
for model in $models; do
  ckpt="$(checkpoint "$model")" || ckpt=""
  if [ -z "$ckpt" ]; then
    echo "check-ptx: $model: no checkpoint (skipped)"
    continue
  fi
  if [ "$model" = 7b ]; then list=("${schemes7b[@]}"); else list=("${schemes[@]}"); fi
  for entry in "${list[@]}"; do
    IFS='|' read -r name spec overrides flags <<<"$entry"
    ptx="$work/$model-$name.ptx"
    # shellcheck disable=SC2086 # $flags holds zero or more flags
    if ! "$bin/mixq-compile" "$ckpt" --scheme="$spec" --overrides="$overrides" \
        $flags --emit=ptx --gpu-arch=sm_80,sm_90 -o "$ptx" 2>"$ptx.log"; then
      echo "check-ptx: FAIL: $model $name: mixq-compile failed:"
      cat "$ptx.log"
      failures=$((failures + 1))
      continue
    fi
    for chip in $chips; do
      one="$work/$model-$name-$chip.ptx"
      awk -v want="// ===== $chip =====" \
        '$0 == want {on = 1; next} /^\/\/ ===== / {on = 0} on' "$ptx" >"$one"
      if ! "$ptxas" -arch="$chip" -v "$one" -o /dev/null >"$one.log" 2>&1; then
        echo "check-ptx: FAIL: $model $name $chip: ptxas failed:"
        head -20 "$one.log"
        failures=$((failures + 1))
        continue
      fi
      # ptxas -v: "Compiling entry function 'K' for 'sm_80'", then the
      # stack/spill line, then "Used N registers, ... M bytes smem".
      awk -v model="$model" -v scheme="$name" -v chip="$chip" '
        /Compiling entry function/ { match($0, /'"'"'[^'"'"']+'"'"'/);
          kernel = substr($0, RSTART + 1, RLENGTH - 2); spill = 0; next }
        /bytes spill stores/ { for (i = 1; i <= NF; i++)
          if ($(i + 1) == "bytes" && $(i + 2) == "spill") spill += $i; next }
        /Used [0-9]+ registers/ { regs = 0; smem = 0;
          for (i = 1; i <= NF; i++) {
            if ($(i + 1) == "registers,") regs = $i;
            if ($(i + 2) == "smem" || $(i + 2) == "smem,") smem = $i }
          printf "%-8s %-11s %-6s %-28s %5d %8d %6d\n", model, scheme, chip,
            kernel, regs, smem, spill }' "$one.log" >>"$table"
    done
  done
done

printf '%-8s %-11s %-6s %-28s %5s %8s %6s\n' model scheme chip kernel regs \
  smem spill
sort -k1,1 -k2,2 -k3,3 -k4,4 "$table"
kernels=$(wc -l <"$table")
spilling=$(awk '$7 > 0' "$table" | wc -l)
echo "check-ptx: $kernels kernel builds assembled, $spilling with spills," \
  "$failures failures"
if [ "$kernels" -eq 0 ] || [ "$spilling" -ne 0 ] || [ "$failures" -ne 0 ]; then
  awk '$7 > 0 { print "check-ptx: SPILL: " $0 }' "$table"
  exit 1
fi
