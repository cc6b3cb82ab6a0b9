#!/usr/bin/env bash
# CPU decode speed of compiled packages next to the plain C++ fp32 reference
# forward pass, in the same process (test/e2e/CPUDecodeBench.cpp), for
# stories260K and the synthetic `small` preset. Results: docs/performance.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${MIXQ_BUILD_DIR:-$root/build}"
out="${MIXQ_BENCH_DIR:-/tmp/mixq-bench-cpu}"
bin="$build/bin"
mkdir -p "$out"
stories="$root/../shared/models/stories260K.bin"
"$bin/mixq-synth" -o "$out/small.gguf" --preset small >/dev/null 2>&1

compile() { "$bin/mixq-compile" "$@" 2>&1 | grep "wrote"; }
compile "$stories" --scheme=fp32 -o "$out/stories-fp32.mixq"
compile "$stories" --scheme=affine:bits=8,group=64 \
  --overrides='down_proj=affine:bits=8,group=4' -o "$out/stories-a8.mixq"
compile "$out/small.gguf" --scheme=fp32 -o "$out/small-fp32.mixq"
compile "$out/small.gguf" --scheme=affine:bits=4,group=32 -o "$out/small-a4.mixq"
compile "$out/small.gguf" --scheme=mixed:group=32 \
  --overrides='down_proj=affine:bits=4,group=32' -o "$out/small-mixed.mixq"

for p in stories-fp32 stories-a8; do
  "$bin/mixq-cpu-decode-bench" "$stories" "$out/$p.mixq" -n 256 --repeat 5
done
for p in small-fp32 small-a4 small-mixed; do
  "$bin/mixq-cpu-decode-bench" "$out/small.gguf" "$out/$p.mixq" -n 64 --repeat 3
done
