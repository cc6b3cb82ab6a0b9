#!/usr/bin/env bash
# The main job. Installs dependencies, builds, then compiles the example in
# docs/examples/ with mixq-opt: quantizes a weight at compile time through
# #mixq.affine, lowers it through the reference linalg lowering and runs it on
# the CPU with mlir-runner, printing the result next to the fp32 product.
#
# (The frontend, package and runtime issues extend this to: synthesize a
# model, compile it, run it on the GPU if present, otherwise on the CPU.)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${MIXQ_BUILD_DIR:-$root/build}"
llvm_bin=/usr/lib/llvm-22/bin
llvm_lib=/usr/lib/llvm-22/lib

"$root/scripts/bootstrap.sh"
"$root/scripts/build.sh"

example="$root/docs/examples/quantized-matmul.mlir"
echo "=== mixq-opt: $example (scheme #mixq.affine<bits = 4, group = 8>) ==="
"$build/bin/mixq-opt" "$example" --canonicalize | grep -E "mixq\."
echo "=== reference lowering -> LLVM -> mlir-runner (CPU) ==="
"$build/bin/mixq-opt" "$example" --mixq-reference-to-llvm |
  "$llvm_bin/mlir-runner" -e main -entry-point-result=void \
    -shared-libs="$llvm_lib/libmlir_runner_utils.so,$llvm_lib/libmlir_c_runner_utils.so" |
  awk '/^Unranked/ { n++; print (n == 1 ? "y = x * W^T, W in 4 bits:" : "y = x * W^T, W in fp32:"); next } { print }' 
