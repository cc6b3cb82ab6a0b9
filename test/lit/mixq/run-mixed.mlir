// End-to-end check of #mixq.mixed through the reference lowering: fp32
// constants are quantized by folding mixq.quantize (the host quantizer), the
// result is lowered with --mixq-lower-to-linalg (buildDequantTile) and run on
// the CPU (mlir-runner). The matrices are chosen so that quantization is
// exact (see fold-quantize.mlir for the derivation of their components), so
// every product below is computed by hand from the fp32 weights.
//
// RUN: mixq-opt %s --mixq-reference-to-llvm \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:     -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils \
// RUN: | FileCheck %s
// The CPU backend's vector form (a group decode per tile of 32 columns, the
// outliers after the row's reduction) gives the same numbers:
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

// x = [ones; 1 .. K; e_a; e_b] (K = the number of inputs).
func.func @inputs(%k: index, %a: index, %b: index) -> tensor<4x?xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c3 = arith.constant 3 : index
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %empty = tensor.empty(%k) : tensor<4x?xf32>
  %x = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      outs(%empty : tensor<4x?xf32>) {
  ^bb0(%out: f32):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %j1 = arith.addi %j, %c1 : index
    %j1i = arith.index_cast %j1 : index to i64
    %iota = arith.sitofp %j1i : i64 to f32
    %is0 = arith.cmpi eq, %i, %c0 : index
    %is1 = arith.cmpi eq, %i, %c1 : index
    %is2 = arith.cmpi eq, %i, %c2 : index
    %ja = arith.cmpi eq, %j, %a : index
    %jb = arith.cmpi eq, %j, %b : index
    %ea = arith.select %ja, %one, %zero : f32
    %eb = arith.select %jb, %one, %zero : f32
    %v2 = arith.select %is2, %ea, %eb : f32
    %v1 = arith.select %is1, %iota, %v2 : f32
    %v0 = arith.select %is0, %one, %v1 : f32
    linalg.yield %v0 : f32
  } -> tensor<4x?xf32>
  return %x : tensor<4x?xf32>
}

// 2 x 128, group 64, hi_frac = 0.25, outliers = 0.005: H = round(0.25 * 4) = 1 high group,
// nnz = round(0.005 * 256) = 1 outlier.
//   row 0, group 0 (high, 4 bits): w[c] = 16 * (c % 16 - 8), range 240,
//          s = 240 / 15 = 16, z = 8, code = c % 16; exact.
//   row 0, group 1 (low, 2 bits): w[64] = -80, w[65] = 80, w[66] = 160, else
//          0: range 240, s = 80, z = 1; exact.
//   row 1, group 0 (low): w[0] = -1, w[1] = 2, w[2] = 1, w[3] = 200 (the
//          outlier: largest |w| of the low groups), else 0. Without the
//          outlier the range is 3, s = 1, z = 1; the outlier's code clamps to
//          3, dense w' = 2, and the CSR residual 198 restores 200 exactly.
//   row 1, group 1 (low): w[64] = 2, w[65] = -1, else 0; s = 1, z = 1.
// y = W x for x = ones, 1 .. 128, e3, e66:
//   ones:    row 0: 4 * 16 * (0 + 1 + ... + 15 - 128) + 160 = -512 + 160
//                   = -352;  row 1: -1 + 2 + 1 + 200 + 2 - 1 = 203
//   1..128:  row 0: sum_c (c + 1) 16 (c % 16 - 8) over c < 64 = 5120, plus
//                   65 (-80) + 66 (80) + 67 (160) = 10800 -> 15920;
//            row 1: -1 + 4 + 3 + 800 + 130 - 66 = 870
//   e3:      (w[0][3], w[1][3]) = (16 * (3 - 8), 200) = (-80, 200)
//   e66:     (160, 0)
func.func @mixed_outlier() {
  %c = arith.constant dense<[[-128.0, -112.0, -96.0, -80.0, -64.0, -48.0, -32.0, -16.0, 0.0, 16.0, 32.0, 48.0, 64.0, 80.0, 96.0, 112.0, -128.0, -112.0, -96.0, -80.0, -64.0, -48.0, -32.0, -16.0, 0.0, 16.0, 32.0, 48.0, 64.0, 80.0, 96.0, 112.0, -128.0, -112.0, -96.0, -80.0, -64.0, -48.0, -32.0, -16.0, 0.0, 16.0, 32.0, 48.0, 64.0, 80.0, 96.0, 112.0, -128.0, -112.0, -96.0, -80.0, -64.0, -48.0, -32.0, -16.0, 0.0, 16.0, 32.0, 48.0, 64.0, 80.0, 96.0, 112.0, -80.0, 80.0, 160.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                            [-1.0, 2.0, 1.0, 200.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]> : tensor<2x128xf32>
  %w = mixq.quantize %c : tensor<2x128xf32> -> !mixq.qtensor<2x128, #mixq.mixed<group = 64, hi_frac = 0.25, outliers = 0.005>>
  %k = arith.constant 128 : index
  %a = arith.constant 3 : index
  %b = arith.constant 66 : index
  %xd = call @inputs(%k, %a, %b) : (index, index, index) -> tensor<4x?xf32>
  %x = tensor.cast %xd : tensor<4x?xf32> to tensor<4x128xf32>
  %y = mixq.matmul %x, %w : tensor<4x128xf32>, !mixq.qtensor<2x128, #mixq.mixed<group = 64, hi_frac = 0.25, outliers = 0.005>> -> tensor<4x2xf32>
  %u = tensor.cast %y : tensor<4x2xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [4, 2]
// CHECK-NEXT: {{\[\[}}-352, {{ *}}203],
// CHECK-NEXT: {{ \[}}15920, {{ *}}870],
// CHECK-NEXT: {{ \[}}-80, {{ *}}200],
// CHECK-NEXT: {{ \[}}160, {{ *}}0]]

// 2 x 192, group 64, hi_frac = 0.5, bits = 0 (no budget), no outliers:
// H = round(0.5 * 6) = 3 high groups, every group of range 240 (so the
// second-order step is 0 and the scale code 0 is exact). High groups hold
// the 16 values 16 (k - 8) (s = 16, z = 8), low groups values of
// 80 {-1, 0, 1, 2} (s = 80, z = 1):
//   row 0: g0 low  w[0] = -80, w[1] = 160
//          g1 high w[c] = 16 ((5c) % 16 - 8)
//          g2 low  w[130] = 80, w[131] = -80, w[132] = 160
//   row 1: g0 high w[c] = 16 (7 - c % 16)
//          g1 low  w[69] = 160, w[70] = -80
//          g2 high w[c] = 16 (c % 16 - 8)
// Bit maps 0b010 and 0b101, high_group_start = [[0], [1]]: row 1's group 2
// reads high-code row 1 + popcount(0b101 & 0b011) = 2.
// y for x = ones, 1 .. 192, e130, e69:
//   ones:    row 0: -80 + 160 + (-512) + 80 - 80 + 160 = -272
//            row 1: -512 + 160 - 80 - 512 = -944
//   1..192:  row 0: -26688, row 1: -93296
//   e130:    (80, 16 (2 - 8)) = (80, -96)
//   e69:     (16 ((5 * 69) % 16 - 8), 160) = (16, 160)
func.func @mixed_high_groups() {
  %c = arith.constant dense<[[-80.0, 160.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -128.0, -48.0, 32.0, 112.0, -64.0, 16.0, 96.0, -80.0, 0.0, 80.0, -96.0, -16.0, 64.0, -112.0, -32.0, 48.0, -128.0, -48.0, 32.0, 112.0, -64.0, 16.0, 96.0, -80.0, 0.0, 80.0, -96.0, -16.0, 64.0, -112.0, -32.0, 48.0, -128.0, -48.0, 32.0, 112.0, -64.0, 16.0, 96.0, -80.0, 0.0, 80.0, -96.0, -16.0, 64.0, -112.0, -32.0, 48.0, -128.0, -48.0, 32.0, 112.0, -64.0, 16.0, 96.0, -80.0, 0.0, 80.0, -96.0, -16.0, 64.0, -112.0, -32.0, 48.0, 0.0, 0.0, 80.0, -80.0, 160.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                            [112.0, 96.0, 80.0, 64.0, 48.0, 32.0, 16.0, 0.0, -16.0, -32.0, -48.0, -64.0, -80.0, -96.0, -112.0, -128.0, 112.0, 96.0, 80.0, 64.0, 48.0, 32.0, 16.0, 0.0, -16.0, -32.0, -48.0, -64.0, -80.0, -96.0, -112.0, -128.0, 112.0, 96.0, 80.0, 64.0, 48.0, 32.0, 16.0, 0.0, -16.0, -32.0, -48.0, -64.0, -80.0, -96.0, -112.0, -128.0, 112.0, 96.0, 80.0, 64.0, 48.0, 32.0, 16.0, 0.0, -16.0, -32.0, -48.0, -64.0, -80.0, -96.0, -112.0, -128.0, 0.0, 0.0, 0.0, 0.0, 0.0, 160.0, -80.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -128.0, -112.0, -96.0, -80.0, -64.0, -48.0, -32.0, -16.0, 0.0, 16.0, 32.0, 48.0, 64.0, 80.0, 96.0, 112.0, -128.0, -112.0, -96.0, -80.0, -64.0, -48.0, -32.0, -16.0, 0.0, 16.0, 32.0, 48.0, 64.0, 80.0, 96.0, 112.0, -128.0, -112.0, -96.0, -80.0, -64.0, -48.0, -32.0, -16.0, 0.0, 16.0, 32.0, 48.0, 64.0, 80.0, 96.0, 112.0, -128.0, -112.0, -96.0, -80.0, -64.0, -48.0, -32.0, -16.0, 0.0, 16.0, 32.0, 48.0, 64.0, 80.0, 96.0, 112.0]]> : tensor<2x192xf32>
  %w = mixq.quantize %c : tensor<2x192xf32> -> !mixq.qtensor<2x192, #mixq.mixed<group = 64, hi_frac = 0.5, bits = 0.0, outliers = 0.0>>
  %k = arith.constant 192 : index
  %a = arith.constant 130 : index
  %b = arith.constant 69 : index
  %xd = call @inputs(%k, %a, %b) : (index, index, index) -> tensor<4x?xf32>
  %x = tensor.cast %xd : tensor<4x?xf32> to tensor<4x192xf32>
  %y = mixq.matmul %x, %w : tensor<4x192xf32>, !mixq.qtensor<2x192, #mixq.mixed<group = 64, hi_frac = 0.5, bits = 0.0, outliers = 0.0>> -> tensor<4x2xf32>
  %u = tensor.cast %y : tensor<4x2xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [4, 2]
// CHECK-NEXT: {{\[\[}}-272, {{ *}}-944],
// CHECK-NEXT: {{ \[}}-26688, {{ *}}-93296],
// CHECK-NEXT: {{ \[}}80, {{ *}}-96],
// CHECK-NEXT: {{ \[}}16, {{ *}}160]]

func.func @main() {
  call @mixed_outlier() : () -> ()
  call @mixed_high_groups() : () -> ()
  return
}
