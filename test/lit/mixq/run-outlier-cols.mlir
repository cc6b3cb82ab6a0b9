// End-to-end check of #mixq.outlier_cols (QUIK weights) through the
// reference lowering: mixq.quantize of fp32 constants is folded by the host
// quantizer, dequantization is the IR of buildDequantTile (col_map lookup,
// fp16 outlier weight or sign-extended code * row scale), run on the CPU by
// mlir-runner. Every expected value is computed by hand.
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

// W (2 x 8): the column norms make columns 2 and 5 the outliers (sums of
// squares 4000 and 2500; the others are at most 53). The quantized columns
// are exact at 4 bits: row 0 has amax 7 (scale 1), row 1 amax 3.5 (scale
// 0.5, codes 1 -2 3 4 -7 6); see outlier-cols.mlir for the components. So
// the dequantized matrix is W itself.
func.func @weights() -> !mixq.qtensor<2x8, #mixq.outlier_cols<cols = 2, bits = 4>> {
  %c = arith.constant dense<[[1.0, 2.0, 60.0, 3.0, -7.0, -30.0, 4.0, 5.0],
                             [0.5, -1.0, -20.0, 1.5, 2.0, 40.0, -3.5, 3.0]]> : tensor<2x8xf32>
  %q = mixq.quantize %c : tensor<2x8xf32> -> !mixq.qtensor<2x8, #mixq.outlier_cols<cols = 2, bits = 4>>
  return %q : !mixq.qtensor<2x8, #mixq.outlier_cols<cols = 2, bits = 4>>
}

func.func @dequantize_folded() {
  %q = call @weights() : () -> !mixq.qtensor<2x8, #mixq.outlier_cols<cols = 2, bits = 4>>
  %w = mixq.dequantize %q : !mixq.qtensor<2x8, #mixq.outlier_cols<cols = 2, bits = 4>> -> tensor<2x8xf32>
  %u = tensor.cast %w : tensor<2x8xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [2, 8]
// CHECK-NEXT: {{\[\[}}1, {{ *}}2, {{ *}}60, {{ *}}3, {{ *}}-7, {{ *}}-30, {{ *}}4, {{ *}}5],
// CHECK-NEXT: {{ \[}}0.5, {{ *}}-1, {{ *}}-20, {{ *}}1.5, {{ *}}2, {{ *}}40, {{ *}}-3.5, {{ *}}3]]

// y = x W^T for x = ones, 1 .. 8, e2 (an outlier column), e4:
//   ones:  1 + 2 + 60 + 3 - 7 - 30 + 4 + 5 = 38;
//          0.5 - 1 - 20 + 1.5 + 2 + 40 - 3.5 + 3 = 22.5
//   1..8:  1 + 4 + 180 + 12 - 35 - 180 + 28 + 40 = 50;
//          0.5 - 2 - 60 + 6 + 10 + 240 - 24.5 + 24 = 194
//   e2:    (60, -20);  e4: (-7, 2)
func.func @matmul_folded() {
  %q = call @weights() : () -> !mixq.qtensor<2x8, #mixq.outlier_cols<cols = 2, bits = 4>>
  %x = arith.constant dense<[[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
                             [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
                             [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                             [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]]> : tensor<4x8xf32>
  %y = mixq.matmul %x, %q : tensor<4x8xf32>, !mixq.qtensor<2x8, #mixq.outlier_cols<cols = 2, bits = 4>> -> tensor<4x2xf32>
  %u = tensor.cast %y : tensor<4x2xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [4, 2]
// CHECK-NEXT: {{\[\[}}38, {{ *}}22.5],
// CHECK-NEXT: {{ \[}}50, {{ *}}194],
// CHECK-NEXT: {{ \[}}60, {{ *}}-20],
// CHECK-NEXT: {{ \[}}-7, {{ *}}2]]

// Hand-written 8-bit components (2 x 4, the last column is the outlier):
// the IR alone decides, no host quantizer. Codes q + 128, 128 (a weight of
// 0) at the outlier column, bytes LSB first:
//   row 0: q 127 -1 -127 = 0xFF 0x7F 0x01 0x80 -> 0x80017FFF = -2147385345
//          as i32, scale 0.25 -> 31.75 -0.25 -31.75, outlier 7.5
//   row 1: q 1 -2 100    = 0x81 0x7E 0xE4 0x80 -> 0x80E47E81 = -2132509055,
//          scale 3    -> 3 -6 300, outlier -2.5
// col_map = -1 -1 -1 0 (three quantized columns, outlier slot 0).
func.func @dequantize_assembled() {
  %cols = arith.constant dense<[3]> : tensor<1xi32>
  %ow = arith.constant dense<[[7.5], [-2.5]]> : tensor<2x1xf16>
  %codes = arith.constant dense<[[-2147385345], [-2132509055]]> : tensor<2x1xi32>
  %scales = arith.constant dense<[0.25, 3.0]> : tensor<2xf16>
  %sums = arith.constant dense<[-1, 99]> : tensor<2xi32>
  %map = arith.constant dense<[-1, -1, -1, 0]> : tensor<4xi16>
  %q = mixq.assemble %cols, %ow, %codes, %scales, %sums, %map
      : tensor<1xi32>, tensor<2x1xf16>, tensor<2x1xi32>, tensor<2xf16>,
        tensor<2xi32>, tensor<4xi16>
      -> !mixq.qtensor<2x4, #mixq.outlier_cols<cols = 1, bits = 8>>
  %w = mixq.dequantize %q : !mixq.qtensor<2x4, #mixq.outlier_cols<cols = 1, bits = 8>> -> tensor<2x4xf32>
  %u = tensor.cast %w : tensor<2x4xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [2, 4]
// CHECK-NEXT: {{\[\[}}31.75, {{ *}}-0.25, {{ *}}-31.75, {{ *}}7.5],
// CHECK-NEXT: {{ \[}}3, {{ *}}-6, {{ *}}300, {{ *}}-2.5]]

// No outlier columns (cols = 0), 4 bits, dequantized to f16: one row
// 0.1 0.2 0.3 0.7 has amax 0.7, scale s = fp16(0.7 / 7) = 1638 / 16384
// (0.0999756), codes round(w / s) = 1 2 3 7. In f32 k * s is 1638, 3276,
// 4914 and 11466 / 16384; rounded to f16 (ulp 2 / 16384 below 0.25, 4 below
// 0.5, 8 below 1, ties to even) the last two become 4912 / 16384 = 0.299805
// and 11464 / 16384 = 0.699707.
func.func @dequantize_no_outliers() {
  %c = arith.constant dense<[[0.1, 0.2, 0.3, 0.7]]> : tensor<1x4xf32>
  %q = mixq.quantize %c : tensor<1x4xf32> -> !mixq.qtensor<1x4, #mixq.outlier_cols<cols = 0, bits = 4>>
  %w = mixq.dequantize %q : !mixq.qtensor<1x4, #mixq.outlier_cols<cols = 0, bits = 4>> -> tensor<1x4xf16>
  %d = tensor.cast %w : tensor<1x4xf16> to tensor<1x?xf16>
  %f = call @widen(%d) : (tensor<1x?xf16>) -> tensor<1x?xf32>
  %u = tensor.cast %f : tensor<1x?xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [1, 4]
// CHECK-NEXT: {{\[\[}}0.0999756, {{ *}}0.199951, {{ *}}0.299805, {{ *}}0.699707]]

func.func @main() {
  call @dequantize_folded() : () -> ()
  call @matmul_folded() : () -> ()
  call @dequantize_assembled() : () -> ()
  call @dequantize_no_outliers() : () -> ()
  return
}
