#!/usr/bin/env bash
# The main job, end to end: installs dependencies, builds, synthesizes the
# `tiny` model, compiles it twice (the `mixed` scheme and fp32) into .mixq
# packages, and generates with the mixed package on the GPU if one is usable,
# otherwise on the CPU, printing bits/weight, tok/s and the maximum logit
# difference to the fp32 compile.
#
# Environment: MIXQ_BUILD_DIR (default build/), MIXQ_RUN_DIR (default
# build/run), MIXQ_SCHEME (default the mixed scheme below), MIXQ_PRESET
# (default tiny).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${MIXQ_BUILD_DIR:-$root/build}"
out="${MIXQ_RUN_DIR:-$build/run}"
preset="${MIXQ_PRESET:-tiny}"
# tiny's FFN width (172) is not a multiple of mixed's group (64), so
# down_proj gets a 3-bit per-row LUT instead.
scheme="${MIXQ_SCHEME:-mixed}"
overrides="${MIXQ_OVERRIDES:-down_proj=lut:bits=3}"

"$root/scripts/bootstrap.sh"
"$root/scripts/build.sh"
mkdir -p "$out"
bin="$build/bin"

echo "=== mixq-synth: the '$preset' preset ==="
"$bin/mixq-synth" -o "$out/$preset.gguf" --preset "$preset"

echo "=== mixq-compile: --scheme=$scheme (and fp32 for comparison) ==="
"$bin/mixq-compile" "$out/$preset.gguf" --scheme="$scheme" \
  --overrides="$overrides" --report --target=all -o "$out/$preset-mixed.mixq" |
  tail -n 1
"$bin/mixq-compile" "$out/$preset.gguf" --scheme=fp32 \
  -o "$out/$preset-fp32.mixq" >/dev/null
"$bin/mixq-inspect" "$out/$preset-mixed.mixq"

echo "=== mixq-run: 64 tokens from a prompt (device auto) ==="
"$bin/mixq-run" "$out/$preset-mixed.mixq" --prompt "Once upon a time" \
  -n 64 --temp 0 --device auto --reference "$out/$preset-fp32.mixq"
