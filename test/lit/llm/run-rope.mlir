// End-to-end check of llm.rope through the reference lowering
// (--mixq-lower-llm-to-linalg inside --mixq-reference-to-llvm), run on the
// CPU with mlir-runner.
//
// RUN: mixq-opt %s --mixq-reference-to-llvm \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:     -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils \
// RUN: | FileCheck %s

func.func private @printMemrefF32(tensor<*xf32>)
func.func private @printMemrefF16(tensor<*xf16>) attributes {llvm.emit_c_interface}

// Two heads of Dh = 4, theta = 10000: freq = 10000^(-0/4) = 1 and
// 10000^(-2/4) = 0.01. Row 0 is at position 0 (angles 0: unchanged), row 1
// at position 1 (angles 1 and 0.01):
//   cos 1 = 0.5403023, sin 1 = 0.8414710, cos 0.01 = 0.9999500,
//   sin 0.01 = 0.0099998.
// interleaved, pairs (x0, x1) at angle 1 and (x2, x3) at angle 0.01:
//   head 0 = (1, 2, 3, 4):
//     1 cos1 - 2 sin1 = -1.14264     1 sin1 + 2 cos1 = 1.92208
//     3 cos.01 - 4 sin.01 = 2.95985  3 sin.01 + 4 cos.01 = 4.0298
//   head 1 = (-1, 0.5, 2, -3):
//     -cos1 - 0.5 sin1 = -0.961038   -sin1 + 0.5 cos1 = -0.57132
//     2 cos.01 + 3 sin.01 = 2.0299   2 sin.01 - 3 cos.01 = -2.97985
func.func @interleaved_f32() {
  %x = arith.constant dense<[[1.0, 2.0, 3.0, 4.0, -1.0, 0.5, 2.0, -3.0],
                             [1.0, 2.0, 3.0, 4.0, -1.0, 0.5, 2.0, -3.0]]> : tensor<2x8xf32>
  %pos = arith.constant dense<[0, 1]> : tensor<2xi32>
  %r = llm.rope %x, %pos {num_heads = 2 : i64, head_dim = 4 : i64, theta = 1.0e+04 : f32,
                          layout = #llm.rope_layout<interleaved>}
      : tensor<2x8xf32>, tensor<2xi32> -> tensor<2x8xf32>
  %u = tensor.cast %r : tensor<2x8xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [2, 8]
// CHECK-NEXT: {{\[\[}}1, {{ *}}2, {{ *}}3, {{ *}}4, {{ *}}-1, {{ *}}0.5, {{ *}}2, {{ *}}-3],
// CHECK-NEXT: {{ \[}}-1.14264, {{ *}}1.92208, {{ *}}2.95985, {{ *}}4.0298, {{ *}}-0.961038, {{ *}}-0.57132, {{ *}}2.0299, {{ *}}-2.97985]]

// rotate_half, dynamic S: pairs (x0, x2) at angle 1 and (x1, x3) at 0.01.
//   head 0 = (1, 2, 3, 4):
//     x0 = 1 cos1 - 3 sin1 = -1.98411    x2 = 1 sin1 + 3 cos1 = 2.46238
//     x1 = 2 cos.01 - 4 sin.01 = 1.9599  x3 = 2 sin.01 + 4 cos.01 = 4.0198
//   head 1 = (-1, 0.5, 2, -3):
//     x0 = -cos1 - 2 sin1 = -2.22324     x2 = -sin1 + 2 cos1 = 0.239134
//     x1 = 0.5 cos.01 + 3 sin.01 = 0.529975
//     x3 = 0.5 sin.01 - 3 cos.01 = -2.99485
func.func @rotate_half_f32() {
  %x = arith.constant dense<[[1.0, 2.0, 3.0, 4.0, -1.0, 0.5, 2.0, -3.0],
                             [1.0, 2.0, 3.0, 4.0, -1.0, 0.5, 2.0, -3.0]]> : tensor<2x8xf32>
  %pos = arith.constant dense<[0, 1]> : tensor<2xi32>
  %xd = tensor.cast %x : tensor<2x8xf32> to tensor<?x8xf32>
  %pd = tensor.cast %pos : tensor<2xi32> to tensor<?xi32>
  %r = llm.rope %xd, %pd {num_heads = 2 : i64, head_dim = 4 : i64, theta = 1.0e+04 : f32,
                          layout = #llm.rope_layout<rotate_half>}
      : tensor<?x8xf32>, tensor<?xi32> -> tensor<?x8xf32>
  %u = tensor.cast %r : tensor<?x8xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [2, 8]
// CHECK-NEXT: {{\[\[}}1, {{ *}}2, {{ *}}3, {{ *}}4, {{ *}}-1, {{ *}}0.5, {{ *}}2, {{ *}}-3],
// CHECK-NEXT: {{ \[}}-1.98411, {{ *}}1.9599, {{ *}}2.46238, {{ *}}4.0198, {{ *}}-2.22324, {{ *}}0.529975, {{ *}}0.239134, {{ *}}-2.99485]]

// Both layouts in f16 with a dynamic S: the f32 results above rounded to
// f16 (e.g. -1.14264 * 1024 = -1170.06 -> -1170 * 2^-10 = -1.14258,
// 4.0298 * 256 = 1031.6 -> 1032 * 2^-8 = 4.03125).
func.func @both_f16() {
  %x = arith.constant dense<[[1.0, 2.0, 3.0, 4.0, -1.0, 0.5, 2.0, -3.0]]> : tensor<1x8xf16>
  %pos = arith.constant dense<[1]> : tensor<1xi32>
  %xd = tensor.cast %x : tensor<1x8xf16> to tensor<?x8xf16>
  %pd = tensor.cast %pos : tensor<1xi32> to tensor<?xi32>
  %r = llm.rope %xd, %pd {num_heads = 2 : i64, head_dim = 4 : i64, theta = 1.0e+04 : f32,
                          layout = #llm.rope_layout<interleaved>}
      : tensor<?x8xf16>, tensor<?xi32> -> tensor<?x8xf16>
  %u = tensor.cast %r : tensor<?x8xf16> to tensor<*xf16>
  call @printMemrefF16(%u) : (tensor<*xf16>) -> ()
  %h = llm.rope %xd, %pd {num_heads = 2 : i64, head_dim = 4 : i64, theta = 1.0e+04 : f32,
                          layout = #llm.rope_layout<rotate_half>}
      : tensor<?x8xf16>, tensor<?xi32> -> tensor<?x8xf16>
  %v = tensor.cast %h : tensor<?x8xf16> to tensor<*xf16>
  call @printMemrefF16(%v) : (tensor<*xf16>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [1, 8]
// CHECK-NEXT: {{\[\[}}-1.14258, {{ *}}1.92188, {{ *}}2.95898, {{ *}}4.03125, {{ *}}-0.960938, {{ *}}-0.571289, {{ *}}2.0293, {{ *}}-2.98047]]
// CHECK-LABEL: rank = 2 offset = 0 sizes = [1, 8]
// CHECK-NEXT: {{\[\[}}-1.98438, {{ *}}1.95996, {{ *}}2.46289, {{ *}}4.01953, {{ *}}-2.22266, {{ *}}0.529785, {{ *}}0.239136, {{ *}}-2.99414]]

// Llama 3.1 scaling, Dh = 8, theta = 10000: freq = 1, 0.1, 0.01, 0.001 with
// wavelengths 2 pi / freq = 6.28, 62.8, 628, 6283. factor 8, low/high freq
// factors 1 and 4, original_max_position 1000: low = 1000 / 1 = 1000,
// high = 1000 / 4 = 250. So
//   freq 1, 0.1 are kept (wavelength < 250);
//   freq 0.01 is blended: t = (1000 / 628.3185 - 1) / (4 - 1) = 0.1971831,
//     (1 - t) * 0.01 / 8 + t * 0.01 = 0.0029753523;
//   freq 0.001 is divided (wavelength > 1000): 0.000125.
// At position 100 the angles are 100, 10, 0.2975352 and 0.0125:
//   cos 100 = 0.862319   sin 100 = -0.506366   cos 10 = -0.839072
//   sin 10 = -0.544021   cos 0.2975352 = 0.956062   sin = 0.293165
//   cos 0.0125 = 0.999922   sin 0.0125 = 0.0124997
// interleaved x = (1, 0, 1, 0, ...) gives (cos a_i, sin a_i) per pair;
// rotate_half x = (1, 0, 0, 0, 0, 1, 0, 0) gives x0 = cos a0, x4 = sin a0,
// x1 = -sin a1, x5 = cos a1.
func.func @llama3() {
  %x = arith.constant dense<[[1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0]]> : tensor<1x8xf32>
  %pos = arith.constant dense<[100]> : tensor<1xi32>
  %r = llm.rope %x, %pos {num_heads = 1 : i64, head_dim = 8 : i64, theta = 1.0e+04 : f32,
                          layout = #llm.rope_layout<interleaved>,
                          scaling = #llm.llama3_rope_scaling<factor = 8.0 : f32,
                              low_freq_factor = 1.0 : f32, high_freq_factor = 4.0 : f32,
                              original_max_position = 1000>}
      : tensor<1x8xf32>, tensor<1xi32> -> tensor<1x8xf32>
  %u = tensor.cast %r : tensor<1x8xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  %y = arith.constant dense<[[1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]]> : tensor<1x8xf32>
  %yd = tensor.cast %y : tensor<1x8xf32> to tensor<?x8xf32>
  %h = llm.rope %yd, %pos {num_heads = 1 : i64, head_dim = 8 : i64, theta = 1.0e+04 : f32,
                           layout = #llm.rope_layout<rotate_half>,
                           scaling = #llm.llama3_rope_scaling<factor = 8.0 : f32,
                               low_freq_factor = 1.0 : f32, high_freq_factor = 4.0 : f32,
                               original_max_position = 1000>}
      : tensor<?x8xf32>, tensor<1xi32> -> tensor<?x8xf32>
  %v = tensor.cast %h : tensor<?x8xf32> to tensor<*xf32>
  call @printMemrefF32(%v) : (tensor<*xf32>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [1, 8]
// CHECK-NEXT: {{\[\[}}0.862319, {{ *}}-0.506366, {{ *}}-0.839072, {{ *}}-0.544021, {{ *}}0.956062, {{ *}}0.293165, {{ *}}0.999922, {{ *}}0.0124997]]
// CHECK-LABEL: rank = 2 offset = 0 sizes = [1, 8]
// CHECK-NEXT: {{\[\[}}0.862319, {{ *}}0.544021, {{ *}}0, {{ *}}0, {{ *}}-0.506366, {{ *}}-0.839072, {{ *}}0, {{ *}}0]]

func.func @main() {
  call @interleaved_f32() : () -> ()
  call @rotate_half_f32() : () -> ()
  call @both_f16() : () -> ()
  call @llama3() : () -> ()
  return
}
