// End-to-end check of llm.rms_norm and llm.embed through the reference
// lowering (--mixq-lower-llm-to-linalg inside --mixq-reference-to-llvm), run
// on the CPU with mlir-runner.
//
// RUN: mixq-opt %s --mixq-reference-to-llvm \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:     -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils \
// RUN: | FileCheck %s

func.func private @printMemrefF32(tensor<*xf32>)
func.func private @printMemrefF16(tensor<*xf16>) attributes {llvm.emit_c_interface}

// rms_norm with eps = 0.25 and weight (1, 1, 2, 0.5):
//   row (1, 2, 3, 4):    sum x^2 = 30, 30 / 4 + 0.25 = 7.75, r = 1 / sqrt(7.75)
//                        = 0.3592106 -> (0.3592106, 0.7184212, 3 r * 2, 4 r / 2)
//                        = (0.359211, 0.718421, 2.15526, 0.718421)
//   row (2, -2, 2, -2):  sum = 16, 4 + 0.25 = 4.25, r = 0.4850713
//                        -> (0.970143, -0.970143, 1.94029, -0.485071)
//   row 0:               r = 1 / sqrt(0.25) = 2 -> 0 (eps keeps it finite)
func.func @rms_norm_f32() {
  %x = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [2.0, -2.0, 2.0, -2.0],
                             [0.0, 0.0, 0.0, 0.0]]> : tensor<3x4xf32>
  %w = arith.constant dense<[1.0, 1.0, 2.0, 0.5]> : tensor<4xf32>
  %n = llm.rms_norm %x, %w {eps = 0.25 : f32}
      : tensor<3x4xf32>, tensor<4xf32> -> tensor<3x4xf32>
  %u = tensor.cast %n : tensor<3x4xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [3, 4]
// CHECK-NEXT: {{\[\[}}0.359211, {{ *}}0.718421, {{ *}}2.15526, {{ *}}0.718421],
// CHECK-NEXT: {{ \[}}0.970143, {{ *}}-0.970143, {{ *}}1.94029, {{ *}}-0.485071],
// CHECK-NEXT: {{ \[}}0, {{ *}}0, {{ *}}0, {{ *}}0]]

// The same rows in f16 with a dynamic S: only the result is rounded to f16
// (r stays f32). 0.3592106 * 4096 = 1471.3 -> 1471 * 2^-12 = 0.3591309,
// 0.7184212 * 2048 = 1471.3 -> 0.7182617, 2.1552637 * 512 = 1103.5 -> 1103
// * 2^-9 = 2.1542969, 0.9701425 * 2048 = 1986.9 -> 1987 * 2^-11 = 0.9702148,
// 1.9402851 * 1024 = 1986.9 -> 1.9404297, 0.4850713 * 4096 = 1986.9
// -> 0.4851074.
func.func @rms_norm_f16() {
  %x = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [2.0, -2.0, 2.0, -2.0],
                             [0.0, 0.0, 0.0, 0.0]]> : tensor<3x4xf16>
  %w = arith.constant dense<[1.0, 1.0, 2.0, 0.5]> : tensor<4xf16>
  %xd = tensor.cast %x : tensor<3x4xf16> to tensor<?x4xf16>
  %n = llm.rms_norm %xd, %w {eps = 0.25 : f32}
      : tensor<?x4xf16>, tensor<4xf16> -> tensor<?x4xf16>
  %u = tensor.cast %n : tensor<?x4xf16> to tensor<*xf16>
  call @printMemrefF16(%u) : (tensor<*xf16>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [3, 4]
// CHECK-NEXT: {{\[\[}}0.359131, {{ *}}0.718262, {{ *}}2.1543, {{ *}}0.718262],
// CHECK-NEXT: {{ \[}}0.970215, {{ *}}-0.970215, {{ *}}1.94043, {{ *}}-0.485107],
// CHECK-NEXT: {{ \[}}0, {{ *}}0, {{ *}}0, {{ *}}0]]

// embed: result[s] = table[tokens[s]], tokens (2, 0, 3, 2).
func.func @embed_f32() {
  %table = arith.constant dense<[[0.0, 1.0, 2.0], [10.0, 11.0, 12.0],
                                 [20.0, 21.0, 22.0], [30.0, 31.0, 32.0]]> : tensor<4x3xf32>
  %tokens = arith.constant dense<[2, 0, 3, 2]> : tensor<4xi32>
  %h = llm.embed %table, %tokens : tensor<4x3xf32>, tensor<4xi32> -> tensor<4x3xf32>
  %u = tensor.cast %h : tensor<4x3xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [4, 3]
// CHECK-NEXT: {{\[\[}}20, {{ *}}21, {{ *}}22],
// CHECK-NEXT: {{ \[}}0, {{ *}}1, {{ *}}2],
// CHECK-NEXT: {{ \[}}30, {{ *}}31, {{ *}}32],
// CHECK-NEXT: {{ \[}}20, {{ *}}21, {{ *}}22]]

// f16 table, dynamic S: the rows are copied bit-exactly (0.1 is stored as
// the f16 0.0999756, -65504 is the f16 minimum).
func.func @embed_f16() {
  %table = arith.constant dense<[[0.1, -65504.0], [1.5, 2.0], [-0.0, 3.0]]> : tensor<3x2xf16>
  %tokens = arith.constant dense<[1, 0]> : tensor<2xi32>
  %t = tensor.cast %tokens : tensor<2xi32> to tensor<?xi32>
  %h = llm.embed %table, %t : tensor<3x2xf16>, tensor<?xi32> -> tensor<?x2xf16>
  %u = tensor.cast %h : tensor<?x2xf16> to tensor<*xf16>
  call @printMemrefF16(%u) : (tensor<*xf16>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [2, 2]
// CHECK-NEXT: {{\[\[}}1.5, {{ *}}2],
// CHECK-NEXT: {{ \[}}0.0999756, {{ *}}-65504]]

func.func @main() {
  call @rms_norm_f32() : () -> ()
  call @rms_norm_f16() : () -> ()
  call @embed_f32() : () -> ()
  call @embed_f16() : () -> ()
  return
}
