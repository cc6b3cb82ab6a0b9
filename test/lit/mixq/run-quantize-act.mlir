// End-to-end check of mixq.quantize_act through the reference lowering, run
// on the CPU by mlir-runner, against values computed by hand with the host
// formula (quant/OutlierColumns.cpp quantizeActivationsPerToken on the
// non-outlier columns; round is half away from zero):
//   lo = min(0, min x), hi = max(0, max x) over the non-outlier columns,
//   s = fp16((hi - lo) / (2^bits - 1)) (1 when hi == lo),
//   z = clamp(round(-lo / s), 0, 2^bits - 1),
//   q = clamp(round(x / s) + z, 0, 2^bits - 1), x' = (q - z) * s,
// outlier columns unchanged.
//
// RUN: mixq-opt %s --mixq-reference-to-llvm \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:     -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils \
// RUN: | FileCheck %s

func.func private @printMemrefF32(tensor<*xf32>)

// f16 -> f32 for printing (elementwise arith on tensors is not bufferized).
func.func @widen(%h: tensor<1x?xf16>) -> tensor<1x?xf32> {
  %c1 = arith.constant 1 : index
  %n = tensor.dim %h, %c1 : tensor<1x?xf16>
  %empty = tensor.empty(%n) : tensor<1x?xf32>
  %e = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%h : tensor<1x?xf16>) outs(%empty : tensor<1x?xf32>) {
  ^bb0(%in: f16, %out: f32):
    %w = arith.extf %in : f16 to f32
    linalg.yield %w : f32
  } -> tensor<1x?xf32>
  return %e : tensor<1x?xf32>
}

// The weight of run-outlier-cols.mlir: outlier columns 2 and 5 (by column
// norm), exact at 4 bits, so the dequantized matrix is W itself. Its
// scheme takes 4-bit activations, @weights8's 8-bit ones; the weights are
// the same.
func.func @weights() -> !mixq.qtensor<2x8, #mixq.outlier_cols<cols = 2, bits = 4, act_bits = 4>> {
  %c = arith.constant dense<[[1.0, 2.0, 60.0, 3.0, -7.0, -30.0, 4.0, 5.0],
                             [0.5, -1.0, -20.0, 1.5, 2.0, 40.0, -3.5, 3.0]]> : tensor<2x8xf32>
  %q = mixq.quantize %c : tensor<2x8xf32> -> !mixq.qtensor<2x8, #mixq.outlier_cols<cols = 2, bits = 4, act_bits = 4>>
  return %q : !mixq.qtensor<2x8, #mixq.outlier_cols<cols = 2, bits = 4, act_bits = 4>>
}

func.func @weights8() -> !mixq.qtensor<2x8, #mixq.outlier_cols<cols = 2, bits = 4, act_bits = 8>> {
  %c = arith.constant dense<[[1.0, 2.0, 60.0, 3.0, -7.0, -30.0, 4.0, 5.0],
                             [0.5, -1.0, -20.0, 1.5, 2.0, 40.0, -3.5, 3.0]]> : tensor<2x8xf32>
  %q = mixq.quantize %c : tensor<2x8xf32> -> !mixq.qtensor<2x8, #mixq.outlier_cols<cols = 2, bits = 4, act_bits = 8>>
  return %q : !mixq.qtensor<2x8, #mixq.outlier_cols<cols = 2, bits = 4, act_bits = 8>>
}

// Four tokens (a dynamic number of rows), 4 bits (maxq = 15); columns 2
// and 5 pass through and take no part in lo/hi:
//   t0 = -5 0.4 [100] 2.6 10 [-100] 7.2 -0.6: lo -5, hi 10, s = 1, z = 5,
//        x' = round(x) = -5 0 3 10 7 -1
//   t1 = 1 2 [1000] 4 5 [6] 7 8: lo 0, hi 8, s = fp16(8 / 15) = 0.533203125,
//        z = 0, q = round(x / s) = 2 4 8 9 13 15, x' = q s =
//        1.06641 2.13281 4.26562 4.79883 6.93164 7.99805
//   t2 = 0 0 [50] 0 0 [-3] 0 0: hi == lo, s = 1, z = 0, x' = 0
//   t3 = -0.3 14.7 [1] 3.4 0 [1] 7.5 -0.2: lo -0.3, hi 14.7, s = 1,
//        z = round(0.3) = 0, so -0.3 and -0.2 clamp to code 0 (x' = 0);
//        7.5 rounds away from zero to 8, 14.7 to 15
func.func @tokens() -> tensor<?x8xf32> {
  %x = arith.constant dense<[[-5.0, 0.4, 100.0, 2.6, 10.0, -100.0, 7.2, -0.6],
                             [1.0, 2.0, 1000.0, 4.0, 5.0, 6.0, 7.0, 8.0],
                             [0.0, 0.0, 50.0, 0.0, 0.0, -3.0, 0.0, 0.0],
                             [-0.3, 14.7, 1.0, 3.4, 0.0, 1.0, 7.5, -0.2]]> : tensor<4x8xf32>
  %d = tensor.cast %x : tensor<4x8xf32> to tensor<?x8xf32>
  return %d : tensor<?x8xf32>
}

func.func @act4() {
  %q = call @weights() : () -> !mixq.qtensor<2x8, #mixq.outlier_cols<cols = 2, bits = 4, act_bits = 4>>
  %x = call @tokens() : () -> tensor<?x8xf32>
  %xq = mixq.quantize_act %x, %q bits = 4 : tensor<?x8xf32>,
      !mixq.qtensor<2x8, #mixq.outlier_cols<cols = 2, bits = 4, act_bits = 4>> -> tensor<?x8xf32>
  %u = tensor.cast %xq : tensor<?x8xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [4, 8]
// CHECK-NEXT: {{\[\[}}-5, {{ *}}0, {{ *}}100, {{ *}}3, {{ *}}10, {{ *}}-100, {{ *}}7, {{ *}}-1],
// CHECK-NEXT: {{ \[}}1.06641, {{ *}}2.13281, {{ *}}1000, {{ *}}4.26562, {{ *}}4.79883, {{ *}}6, {{ *}}6.93164, {{ *}}7.99805],
// CHECK-NEXT: {{ \[}}0, {{ *}}0, {{ *}}50, {{ *}}0, {{ *}}0, {{ *}}-3, {{ *}}0, {{ *}}0],
// CHECK-NEXT: {{ \[}}0, {{ *}}15, {{ *}}1, {{ *}}3, {{ *}}0, {{ *}}1, {{ *}}8, {{ *}}0]]

// 8 bits (maxq = 255): -51 0.5 [9] 204 -0.5 [1] 2.5 3.49 has lo -51,
// hi 204, s = 255 / 255 = 1, z = 51, x' = round(x) = -51 1 204 -1 3 3
// (halves away from zero).
func.func @act8() {
  %q = call @weights8() : () -> !mixq.qtensor<2x8, #mixq.outlier_cols<cols = 2, bits = 4, act_bits = 8>>
  %x = arith.constant dense<[[-51.0, 0.5, 9.0, 204.0, -0.5, 1.0, 2.5, 3.49]]> : tensor<1x8xf32>
  %xq = mixq.quantize_act %x, %q bits = 8 : tensor<1x8xf32>,
      !mixq.qtensor<2x8, #mixq.outlier_cols<cols = 2, bits = 4, act_bits = 8>> -> tensor<1x8xf32>
  %u = tensor.cast %xq : tensor<1x8xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [1, 8]
// CHECK-NEXT: {{\[\[}}-51, {{ *}}1, {{ *}}9, {{ *}}204, {{ *}}-1, {{ *}}1, {{ *}}3, {{ *}}3]]

// f16 activations are widened to f32, quantized, and rounded back: t0 in
// f16 (0.4 -> 0.39990234, 2.6 -> 2.5996094, 7.2 -> 7.1992188,
// -0.6 -> -0.60009766) quantizes exactly as in f32.
func.func @act4_f16() {
  %q = call @weights() : () -> !mixq.qtensor<2x8, #mixq.outlier_cols<cols = 2, bits = 4, act_bits = 4>>
  %x = arith.constant dense<[[-5.0, 0.4, 100.0, 2.6, 10.0, -100.0, 7.2, -0.6]]> : tensor<1x8xf16>
  %xq = mixq.quantize_act %x, %q bits = 4 : tensor<1x8xf16>,
      !mixq.qtensor<2x8, #mixq.outlier_cols<cols = 2, bits = 4, act_bits = 4>> -> tensor<1x8xf16>
  %d = tensor.cast %xq : tensor<1x8xf16> to tensor<1x?xf16>
  %f = call @widen(%d) : (tensor<1x?xf16>) -> tensor<1x?xf32>
  %u = tensor.cast %f : tensor<1x?xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [1, 8]
// CHECK-NEXT: {{\[\[}}-5, {{ *}}0, {{ *}}100, {{ *}}3, {{ *}}10, {{ *}}-100, {{ *}}7, {{ *}}-1]]

// QUIK's product: mixq.matmul of the quantized activations above by W
// (the same numbers as the host's outlierColumnsMatmul, which computes
// s_x s_w (sum qx qw - z_x row_sum) + the fp16 outlier columns):
//   t0: -5 + 6000 + 9 - 70 + 3000 + 28 - 5 = 8957;
//       -2.5 - 2000 + 4.5 + 20 - 4000 - 24.5 - 3 = -6005.5
//   t1: 98 s + 60000 - 180 = 59872.25; 26.5 s - 20000 + 240 = -19745.87
//   t2: 50 * 60 - 3 * -30 = 3090;  50 * -20 - 3 * 40 = -1120
//   t3: 30 + 60 + 9 - 30 + 32 = 101;  -15 - 20 + 4.5 + 40 - 28 = -18.5
func.func @matmul_act4() {
  %q = call @weights() : () -> !mixq.qtensor<2x8, #mixq.outlier_cols<cols = 2, bits = 4, act_bits = 4>>
  %x = call @tokens() : () -> tensor<?x8xf32>
  %xq = mixq.quantize_act %x, %q bits = 4 : tensor<?x8xf32>,
      !mixq.qtensor<2x8, #mixq.outlier_cols<cols = 2, bits = 4, act_bits = 4>> -> tensor<?x8xf32>
  %y = mixq.matmul %xq, %q : tensor<?x8xf32>,
      !mixq.qtensor<2x8, #mixq.outlier_cols<cols = 2, bits = 4, act_bits = 4>> -> tensor<?x2xf32>
  %u = tensor.cast %y : tensor<?x2xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [4, 2]
// CHECK-NEXT: {{\[\[}}8957, {{ *}}-6005.5],
// CHECK-NEXT: {{ \[}}59872.3, {{ *}}-19745.9],
// CHECK-NEXT: {{ \[}}3090, {{ *}}-1120],
// CHECK-NEXT: {{ \[}}101, {{ *}}-18.5]]

func.func @main() {
  call @act4() : () -> ()
  call @act8() : () -> ()
  call @act4_f16() : () -> ()
  call @matmul_act4() : () -> ()
  return
}
