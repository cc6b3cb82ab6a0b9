// End-to-end check of llm.swiglu and llm.add through the reference lowering
// (--mixq-lower-llm-to-linalg inside --mixq-reference-to-llvm), run on the
// CPU with mlir-runner. Both ops compute in f32 and round the result to
// nearest even into T.
//
// RUN: mixq-opt %s --mixq-reference-to-llvm \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:     -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils \
// RUN: | FileCheck %s

func.func private @printMemrefF32(tensor<*xf32>)
func.func private @printMemrefF16(tensor<*xf16>) attributes {llvm.emit_c_interface}
func.func private @printMemrefBF16(tensor<*xbf16>) attributes {llvm.emit_c_interface}

// silu(g) * u = g / (1 + exp(-g)) * u:
//   g =  0, u = 1:    0
//   g =  1, u = 2:    1 / (1 + e^-1) * 2   = 0.7310586 * 2    = 1.4621172
//   g = -1, u = -1:  -1 / (1 + e) * -1     = 0.2689414
//   g =  2, u = 0.5:  2 / (1 + e^-2) * 0.5 = 1.7615942 * 0.5  = 0.8807971
//   g = -3, u = 4:   -3 / (1 + e^3) * 4    = -0.1422776 * 4   = -0.5691105
//   g = 20, u = 1:   20 / (1 + 2.1e-9)     = 20 (in f32)
func.func @swiglu_f32() {
  %gate = arith.constant dense<[[0.0, 1.0, -1.0], [2.0, -3.0, 20.0]]> : tensor<2x3xf32>
  %up = arith.constant dense<[[1.0, 2.0, -1.0], [0.5, 4.0, 1.0]]> : tensor<2x3xf32>
  %r = llm.swiglu %gate, %up : tensor<2x3xf32>, tensor<2x3xf32> -> tensor<2x3xf32>
  %u = tensor.cast %r : tensor<2x3xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [2, 3]
// CHECK-NEXT: {{\[\[}}0, {{ *}}1.46212, {{ *}}0.268941],
// CHECK-NEXT: {{ \[}}0.880797, {{ *}}-0.56911, {{ *}}20]]

// The same in f16 with a dynamic S: the f32 results round to the nearest
// f16 (spacing 2^-10 in [1, 2), 2^-11 in [0.5, 1), 2^-12 in [0.25, 0.5)):
//   1.4621172 -> 1497 * 2^-10 = 1.4619141    0.2689414 -> 1102 * 2^-12 = 0.2690430
//   0.8807971 -> 1804 * 2^-11 = 0.8808594   -0.5691105 -> -1166 * 2^-11 = -0.5693359
func.func @swiglu_f16() {
  %gate = arith.constant dense<[[0.0, 1.0, -1.0], [2.0, -3.0, 20.0]]> : tensor<2x3xf16>
  %up = arith.constant dense<[[1.0, 2.0, -1.0], [0.5, 4.0, 1.0]]> : tensor<2x3xf16>
  %g = tensor.cast %gate : tensor<2x3xf16> to tensor<?x3xf16>
  %v = tensor.cast %up : tensor<2x3xf16> to tensor<?x3xf16>
  %r = llm.swiglu %g, %v : tensor<?x3xf16>, tensor<?x3xf16> -> tensor<?x3xf16>
  %u = tensor.cast %r : tensor<?x3xf16> to tensor<*xf16>
  call @printMemrefF16(%u) : (tensor<*xf16>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [2, 3]
// CHECK-NEXT: {{\[\[}}0, {{ *}}1.46191, {{ *}}0.269043],
// CHECK-NEXT: {{ \[}}0.880859, {{ *}}-0.569336, {{ *}}20]]

// f32 residual add, dynamic S on one side only (the result is static).
func.func @add_f32() {
  %lhs = arith.constant dense<[[1.0, 2.5], [-3.0, 0.25]]> : tensor<2x2xf32>
  %rhs = arith.constant dense<[[0.5, -2.5], [4.0, 0.125]]> : tensor<2x2xf32>
  %l = tensor.cast %lhs : tensor<2x2xf32> to tensor<?x2xf32>
  %r = llm.add %l, %rhs : tensor<?x2xf32>, tensor<2x2xf32> -> tensor<2x2xf32>
  %u = tensor.cast %r : tensor<2x2xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [2, 2]
// CHECK-NEXT: {{\[\[}}1.5, {{ *}}0],
// CHECK-NEXT: {{ \[}}1, {{ *}}0.375]]

// bf16 (7 mantissa bits, spacing 2^-7 = 0.0078125 in [1, 2)): the f32 sum is
// rounded to nearest, ties to even:
//   1         + 2^-8        = 1.00390625  tie -> 1          (even mantissa 0)
//   1.0078125 + 2^-8        = 1.01171875  tie -> 1.015625   (even mantissa 2)
//   1         + 1.5 * 2^-8  = 1.005859375      -> 1.0078125 (nearest)
//  -1.0078125 - 2^-8        = -1.01171875 tie -> -1.015625
func.func @add_bf16() {
  %lhs = arith.constant dense<[[1.0, 1.0078125, 1.0, -1.0078125]]> : tensor<1x4xbf16>
  %rhs = arith.constant dense<[[0.00390625, 0.00390625, 0.005859375, -0.00390625]]> : tensor<1x4xbf16>
  %l = tensor.cast %lhs : tensor<1x4xbf16> to tensor<?x4xbf16>
  %r = tensor.cast %rhs : tensor<1x4xbf16> to tensor<?x4xbf16>
  %s = llm.add %l, %r : tensor<?x4xbf16>, tensor<?x4xbf16> -> tensor<?x4xbf16>
  %u = tensor.cast %s : tensor<?x4xbf16> to tensor<*xbf16>
  call @printMemrefBF16(%u) : (tensor<*xbf16>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [1, 4]
// CHECK-NEXT: {{\[\[}}1, {{ *}}1.01562, {{ *}}1.00781, {{ *}}-1.01562]]

func.func @main() {
  call @swiglu_f32() : () -> ()
  call @swiglu_f16() : () -> ()
  call @add_f32() : () -> ()
  call @add_bf16() : () -> ()
  return
}
