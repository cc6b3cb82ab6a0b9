// End-to-end check of llm.linear and llm.logits through the reference
// lowering (--mixq-lower-llm-to-linalg inside --mixq-reference-to-llvm), run
// on the CPU with mlir-runner.
//
// RUN: mixq-opt %s --mixq-reference-to-llvm \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:     -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils \
// RUN: | FileCheck %s

func.func private @printMemrefF32(tensor<*xf32>)
func.func private @printMemrefF16(tensor<*xf16>) attributes {llvm.emit_c_interface}

// y[s, n] = sum_k x[s, k] * W[n, k], W is N x K = 4 x 3:
//   x0 = (1, 2, 3):     (1, 2 + 3, 1 + 2 + 3, 2 - 2 + 1.5)  = (1, 5, 6, 1.5)
//   x1 = (0, -1, 0.5):  (0, -1 + 0.5, -0.5, 1 + 0.25)       = (0, -0.5, -0.5, 1.25)
func.func @linear_f32() {
  %x = arith.constant dense<[[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]]> : tensor<2x3xf32>
  %w = arith.constant dense<[[1.0, 0.0, 0.0], [0.0, 1.0, 1.0], [1.0, 1.0, 1.0],
                             [2.0, -1.0, 0.5]]> : tensor<4x3xf32>
  %y = llm.linear %x, %w : tensor<2x3xf32>, tensor<4x3xf32> -> tensor<2x4xf32>
  %u = tensor.cast %y : tensor<2x4xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [2, 4]
// CHECK-NEXT: {{\[\[}}1, {{ *}}5, {{ *}}6, {{ *}}1.5],
// CHECK-NEXT: {{ \[}}0, {{ *}}-0.5, {{ *}}-0.5, {{ *}}1.25]]

// f16, dynamic S, W = (1, 1, 1):
//   x0 = (2048, 1, 1): accumulated in f32 the sum is 2050, an f16 value (an
//        f16 accumulator would lose both ones: 2048 + 1 ties to 2048);
//   x1 = (1, 0.001, 0): 0.001 is the f16 0.0010004, the f32 sum 1.0010004
//        rounds to 1025 * 2^-10 = 1.0009766 in f16.
func.func @linear_f16() {
  %x = arith.constant dense<[[2048.0, 1.0, 1.0], [1.0, 0.001, 0.0]]> : tensor<2x3xf16>
  %w = arith.constant dense<[[1.0, 1.0, 1.0]]> : tensor<1x3xf16>
  %xd = tensor.cast %x : tensor<2x3xf16> to tensor<?x3xf16>
  %y = llm.linear %xd, %w : tensor<?x3xf16>, tensor<1x3xf16> -> tensor<?x1xf16>
  %u = tensor.cast %y : tensor<?x1xf16> to tensor<*xf16>
  call @printMemrefF16(%u) : (tensor<*xf16>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [2, 1]
// CHECK-NEXT: {{\[\[}}2050],
// CHECK-NEXT: {{ \[}}1.00098]]

// logits, V x D = 3 x 2 with rows (1, 1), (1, -1), (0.5, 0), every row and
// the last row only of a dynamic S = 3 input:
//   (1, 0) -> (1, 1, 0.5)   (0, 1) -> (1, -1, 0)   (2, 3) -> (5, -1, 1)
func.func @logits_f32() {
  %x = arith.constant dense<[[1.0, 0.0], [0.0, 1.0], [2.0, 3.0]]> : tensor<3x2xf32>
  %w = arith.constant dense<[[1.0, 1.0], [1.0, -1.0], [0.5, 0.0]]> : tensor<3x2xf32>
  %xd = tensor.cast %x : tensor<3x2xf32> to tensor<?x2xf32>
  %all = llm.logits %xd, %w : tensor<?x2xf32>, tensor<3x2xf32> -> tensor<?x3xf32>
  %u = tensor.cast %all : tensor<?x3xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  %last = llm.logits %xd, %w {last_token_only}
      : tensor<?x2xf32>, tensor<3x2xf32> -> tensor<1x3xf32>
  %v = tensor.cast %last : tensor<1x3xf32> to tensor<*xf32>
  call @printMemrefF32(%v) : (tensor<*xf32>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [3, 3]
// CHECK-NEXT: {{\[\[}}1, {{ *}}1, {{ *}}0.5],
// CHECK-NEXT: {{ \[}}1, {{ *}}-1, {{ *}}0],
// CHECK-NEXT: {{ \[}}5, {{ *}}-1, {{ *}}1]]
// CHECK-LABEL: rank = 2 offset = 0 sizes = [1, 3]
// CHECK-NEXT: {{\[\[}}5, {{ *}}-1, {{ *}}1]]

// f16 input, static S = 2, last row only: the logit stays f32, it is not
// rounded to f16: 1 + 0.0010004 = 1.0010004 (f16 would give 1.0009766).
func.func @logits_f16() {
  %x = arith.constant dense<[[2048.0, 1.0], [1.0, 0.001]]> : tensor<2x2xf16>
  %w = arith.constant dense<[[1.0, 1.0], [0.0, -2.0]]> : tensor<2x2xf16>
  %last = llm.logits %x, %w {last_token_only}
      : tensor<2x2xf16>, tensor<2x2xf16> -> tensor<1x2xf32>
  %u = tensor.cast %last : tensor<1x2xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [1, 2]
// CHECK-NEXT: {{\[\[}}1.001, {{ *}}-0.00200081]]

func.func @main() {
  call @linear_f32() : () -> ()
  call @linear_f16() : () -> ()
  call @logits_f32() : () -> ()
  call @logits_f16() : () -> ()
  return
}
