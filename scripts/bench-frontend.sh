#!/usr/bin/env bash
# Frontend load benchmark: synthesize the llama2-7b preset as an f16 GGUF
# (13.5 GB; needs that much free disk under $MIXQ_BENCH_DIR), then time
# loading it and emitting its llm IR, cold (page cache dropped when running
# as root) and warm, with peak RSS. Target: < 5 s and < 1 GB RSS.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${MIXQ_BUILD_DIR:-$root/build}/bin"
dir="${MIXQ_BENCH_DIR:-/tmp/mixq-bench}"
mkdir -p "$dir"
model="$dir/llama2-7b.gguf"
if [ ! -f "$model" ]; then
  "$bin/mixq-synth" -o "$model" --preset llama2-7b
fi
if [ "$(id -u)" -eq 0 ]; then
  sync && echo 3 > /proc/sys/vm/drop_caches && echo "page cache dropped"
fi
for run in cold warm; do
  /usr/bin/time -f "$run: wall %e s, peak RSS %M KB" \
    "$bin/mixq-compile" "$model" --emit=llm -o "$dir/llama2-7b.mlir" -v
done
