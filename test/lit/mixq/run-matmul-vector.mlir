// End-to-end check of the CPU backend's vector dot product with scale
// factors: on f16, affine's unscaled tiles come in f16x2 pair order, so x
// is permuted to match (once, before the rows), and each group's sums are
// multiplied by its scale once; on f32, the zero comes off as a lane
// offset (z times x's tile sums). x varies along K, so a tile or an x taken
// in the wrong order changes the sums. The reference lowering gives the
// same numbers, computed by hand below.
//
// RUN: mixq-opt %s --mixq-reference-to-llvm \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:     -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils \
// RUN: | FileCheck %s
// RUN: mixq-opt %s --mixq-reference-to-llvm=dequant-vector-width=16 \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:     -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils \
// RUN: | FileCheck %s
// The CPU backend's sums of 8 lanes (vector-sum-lanes=8):
// RUN: mixq-opt %s --mixq-reference-to-llvm="dequant-vector-width=16 vector-sum-lanes=8" \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:     -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils \
// RUN: | FileCheck %s

func.func private @printMemrefF32(tensor<*xf32>)

// int4, asymmetric, one group of 32, f16 everywhere.
//   row 0: q_k = k mod 16, z = 8, s = 0.5:   w_k = (k mod 16 - 8) / 2
//   row 1: q_k = 15 - k mod 16, z = 0, s = 0.25: w_k = (15 - k mod 16) / 4
// Nibbles LSB first: 0x76543210 = 1985229328, 0xFEDCBA98 = -19088744,
// 0x89ABCDEF = -1985229329, 0x01234567 = 19088743.
//   x_k = k + 1 for k < 16, 0 after:
//   y0 = 1/2 sum_{k<16} (k - 8)(k + 1) = 1/2 (1240 - 7 * 120 - 128) = 136
//   y1 = 1/4 sum_{k<16} (15 - k)(k + 1) = 1/4 (14 * 120 + 240 - 1240) = 170
func.func @f16_pairs() {
  %codes = arith.constant dense<[[1985229328, -19088744, 1985229328, -19088744],
                                 [-1985229329, 19088743, -1985229329, 19088743]]> : tensor<2x4xi32>
  %scales = arith.constant dense<[[0.5], [0.25]]> : tensor<2x1xf16>
  %zeros = arith.constant dense<[[8.0], [0.0]]> : tensor<2x1xf16>
  %w = mixq.assemble %codes, %scales, %zeros
      : tensor<2x4xi32>, tensor<2x1xf16>, tensor<2x1xf16>
      -> !mixq.qtensor<2x32, #mixq.affine<bits = 4, group = 32>>
  %x = arith.constant dense<[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0,
                              9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0,
                              0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
                              0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]> : tensor<1x32xf16>
  %y = mixq.matmul %x, %w : tensor<1x32xf16>,
      !mixq.qtensor<2x32, #mixq.affine<bits = 4, group = 32>> -> tensor<1x2xf16>
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %y0 = tensor.extract %y[%c0, %c0] : tensor<1x2xf16>
  %y1 = tensor.extract %y[%c0, %c1] : tensor<1x2xf16>
  %u = tensor.from_elements %y0, %y1 : tensor<1x2xf16>
  %u32 = tensor.empty() : tensor<1x2xf32>
  %v = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%u : tensor<1x2xf16>) outs(%u32 : tensor<1x2xf32>) {
  ^bb0(%in: f16, %out: f32):
    %e = arith.extf %in : f16 to f32
    linalg.yield %e : f32
  } -> tensor<1x2xf32>
  %p = tensor.cast %v : tensor<1x2xf32> to tensor<*xf32>
  call @printMemrefF32(%p) : (tensor<*xf32>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [1, 2]
// CHECK-NEXT: {{\[\[}}136, {{ *}}170]]

// The same weights on f32: affine's unscaled f32 tiles are q - z, which
// the vector forms take as q times x less z times x's sum over each tile
// of 16 (taken once per matmul). x is 0 past column 15, so the second tile
// of 16 adds nothing, and a tile sum taken from the wrong tile leaves out
// 8 * 136 / 2 = 544 from y0 (the checks fail). y1 (z = 0) takes no
// offset; -x in the second row flips both signs.
func.func @f32_offsets() {
  %codes = arith.constant dense<[[1985229328, -19088744, 1985229328, -19088744],
                                 [-1985229329, 19088743, -1985229329, 19088743]]> : tensor<2x4xi32>
  %scales = arith.constant dense<[[0.5], [0.25]]> : tensor<2x1xf16>
  %zeros = arith.constant dense<[[8.0], [0.0]]> : tensor<2x1xf16>
  %w = mixq.assemble %codes, %scales, %zeros
      : tensor<2x4xi32>, tensor<2x1xf16>, tensor<2x1xf16>
      -> !mixq.qtensor<2x32, #mixq.affine<bits = 4, group = 32>>
  %x = arith.constant dense<[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0,
                              9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0,
                              0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
                              0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                             [-1.0, -2.0, -3.0, -4.0, -5.0, -6.0, -7.0, -8.0,
                              -9.0, -10.0, -11.0, -12.0, -13.0, -14.0, -15.0, -16.0,
                              0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
                              0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]> : tensor<2x32xf32>
  %y = mixq.matmul %x, %w : tensor<2x32xf32>,
      !mixq.qtensor<2x32, #mixq.affine<bits = 4, group = 32>> -> tensor<2x2xf32>
  %p = tensor.cast %y : tensor<2x2xf32> to tensor<*xf32>
  call @printMemrefF32(%p) : (tensor<*xf32>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [2, 2]
// CHECK-NEXT: {{\[\[}}136, {{ *}}170],
// CHECK-NEXT: {{ *}}[-136, {{ *}}-170]]

func.func @main() {
  call @f16_pairs() : () -> ()
  call @f32_offsets() : () -> ()
  return
}
