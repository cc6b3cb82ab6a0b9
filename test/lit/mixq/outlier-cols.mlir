// #mixq.outlier_cols (QUIK): round trip (custom and generic form, parse ->
// print -> parse), the components of a folded mixq.quantize worked out by
// hand, and every verifier error of the scheme.
// RUN: mixq-opt %s -split-input-file -verify-diagnostics | mixq-opt -split-input-file | FileCheck %s
// RUN: mixq-opt %s -split-input-file -verify-diagnostics --mlir-print-op-generic | mixq-opt -split-input-file | FileCheck %s
// RUN: mixq-opt %s -split-input-file -verify-diagnostics --canonicalize | FileCheck %s --check-prefix=FOLD

// Parameters in any order; both are always printed.
// CHECK-LABEL: func.func @scheme_params
// CHECK-SAME: !mixq.qtensor<8x512, #mixq.outlier_cols<cols = 256, bits = 4>>
// CHECK-SAME: !mixq.qtensor<8x64, #mixq.outlier_cols<cols = 8, bits = 8>>
// CHECK-SAME: !mixq.qtensor<8x64, #mixq.outlier_cols<cols = 0, bits = 4>>
func.func @scheme_params(
    %a: !mixq.qtensor<8x512, #mixq.outlier_cols<cols = 256, bits = 4>>,
    %b: !mixq.qtensor<8x64, #mixq.outlier_cols<bits = 8, cols = 8>>,
    %c: !mixq.qtensor<8x64, #mixq.outlier_cols<cols = 0, bits = 4>>) {
  return
}

// CHECK-LABEL: func.func @weight
// CHECK: mixq.weight @blk0.wq : !mixq.qtensor<64x128, #mixq.outlier_cols<cols = 8, bits = 4>>
func.func @weight() -> !mixq.qtensor<64x128, #mixq.outlier_cols<cols = 8, bits = 4>> {
  %w = mixq.weight @blk0.wq : !mixq.qtensor<64x128, #mixq.outlier_cols<cols = 8, bits = 4>>
  return %w : !mixq.qtensor<64x128, #mixq.outlier_cols<cols = 8, bits = 4>>
}

// Components of an N x K matrix, n = cols, Kq = K - n: outlier_cols i32 n,
// outlier_weights f16 N x n, codes i32 N x ceil(Kq * bits / 32), scales f16
// N, row_sums i32 N, col_map i16 K (i32 when K > 32768).
// 2 x 8, n = 2, 4 bits: Kq = 6, 24 bits -> 1 word per row. Bytes:
// 8 + 8 + 8 + 4 + 8 + 16 = 52, i.e. 52 * 8 / 16 = 26 bits per weight.
// CHECK-LABEL: func.func @assemble
// CHECK: mixq.assemble %{{.*}} : tensor<2xi32>, tensor<2x2xf16>, tensor<2x1xi32>, tensor<2xf16>, tensor<2xi32>, tensor<8xi16> -> !mixq.qtensor<2x8, #mixq.outlier_cols<cols = 2, bits = 4>>
func.func @assemble(%cols: tensor<2xi32>, %ow: tensor<2x2xf16>,
                    %codes: tensor<2x1xi32>, %scales: tensor<2xf16>,
                    %sums: tensor<2xi32>, %map: tensor<8xi16>)
    -> !mixq.qtensor<2x8, #mixq.outlier_cols<cols = 2, bits = 4>> {
  %q = mixq.assemble %cols, %ow, %codes, %scales, %sums, %map
      : tensor<2xi32>, tensor<2x2xf16>, tensor<2x1xi32>, tensor<2xf16>,
        tensor<2xi32>, tensor<8xi16>
      -> !mixq.qtensor<2x8, #mixq.outlier_cols<cols = 2, bits = 4>>
  return %q : !mixq.qtensor<2x8, #mixq.outlier_cols<cols = 2, bits = 4>>
}

// K = 40000 > 32768: col_map is i32. 8 bits, n = 1: 39999 bytes of codes
// per row -> 10000 words.
// CHECK-LABEL: func.func @assemble_wide
// CHECK: mixq.assemble %{{.*}} : tensor<1xi32>, tensor<1x1xf16>, tensor<1x10000xi32>, tensor<1xf16>, tensor<1xi32>, tensor<40000xi32> -> !mixq.qtensor<1x40000, #mixq.outlier_cols<cols = 1, bits = 8>>
func.func @assemble_wide(%cols: tensor<1xi32>, %ow: tensor<1x1xf16>,
                         %codes: tensor<1x10000xi32>, %scales: tensor<1xf16>,
                         %sums: tensor<1xi32>, %map: tensor<40000xi32>)
    -> !mixq.qtensor<1x40000, #mixq.outlier_cols<cols = 1, bits = 8>> {
  %q = mixq.assemble %cols, %ow, %codes, %scales, %sums, %map
      : tensor<1xi32>, tensor<1x1xf16>, tensor<1x10000xi32>, tensor<1xf16>,
        tensor<1xi32>, tensor<40000xi32>
      -> !mixq.qtensor<1x40000, #mixq.outlier_cols<cols = 1, bits = 8>>
  return %q : !mixq.qtensor<1x40000, #mixq.outlier_cols<cols = 1, bits = 8>>
}

// CHECK-LABEL: func.func @ops
// CHECK: mixq.quantize %{{.*}} : tensor<64x128xf32> -> !mixq.qtensor<64x128, #mixq.outlier_cols<cols = 8, bits = 4, act_bits = 8>>
// CHECK: mixq.dequantize %{{.*}} : !mixq.qtensor<64x128, #mixq.outlier_cols<cols = 8, bits = 4, act_bits = 8>> -> tensor<64x128xf16>
// CHECK: %[[XQ:.*]] = mixq.quantize_act %{{.*}}, %{{.*}} bits = 8 : tensor<?x128xf16>, !mixq.qtensor<64x128, #mixq.outlier_cols<cols = 8, bits = 4, act_bits = 8>> -> tensor<?x128xf16>
// CHECK: mixq.matmul %[[XQ]], %{{.*}} : tensor<?x128xf16>, !mixq.qtensor<64x128, #mixq.outlier_cols<cols = 8, bits = 4, act_bits = 8>> -> tensor<?x64xf16>
func.func @ops(%w: tensor<64x128xf32>, %x: tensor<?x128xf16>)
    -> (tensor<64x128xf16>, tensor<?x64xf16>) {
  %q = mixq.quantize %w : tensor<64x128xf32>
      -> !mixq.qtensor<64x128, #mixq.outlier_cols<cols = 8, bits = 4, act_bits = 8>>
  %d = mixq.dequantize %q : !mixq.qtensor<64x128, #mixq.outlier_cols<cols = 8, bits = 4, act_bits = 8>>
      -> tensor<64x128xf16>
  %xq = mixq.quantize_act %x, %q bits = 8 : tensor<?x128xf16>,
      !mixq.qtensor<64x128, #mixq.outlier_cols<cols = 8, bits = 4, act_bits = 8>> -> tensor<?x128xf16>
  %y = mixq.matmul %xq, %q : tensor<?x128xf16>,
      !mixq.qtensor<64x128, #mixq.outlier_cols<cols = 8, bits = 4, act_bits = 8>> -> tensor<?x64xf16>
  return %d, %y : tensor<64x128xf16>, tensor<?x64xf16>
}

// -----

// The host quantizer, by hand (2 x 8, n = 2, 4 bits, no calibration data):
// column sums of squares 1.25, 5, 4000, 11.25, 53, 2500, 28.25, 34, so the
// outlier columns are 2 and 5 (the largest L2 norms), stored increasing.
// The quantized columns 0 1 3 4 6 7:
//   row 0: 1 2 3 -7 4 5          amax 7   -> s = 7 / 7 = 1,   q = w,
//          row sum 8
//   row 1: 0.5 -1 1.5 2 -3.5 3   amax 3.5 -> s = 0.5, q = 1 -2 3 4 -7 6,
//          row sum 5
// Codes q + 8 of all 8 columns, 8 (a weight of 0) at the outlier columns,
// nibbles LSB first: row 0 = 9 A 8 B 1 8 C D -> 0xDC81B8A9 = -595478359 as
// i32; row 1 = 9 6 8 B C 8 1 E -> 0xE18CB869 = -510871447.
// col_map: outlier slots 0 (column 2) and 1 (column 5), -1 for the
// quantized columns.
// FOLD-LABEL: func.func @fold_outlier_cols
// FOLD-DAG: %[[COLS:.*]] = arith.constant dense<[2, 5]> : tensor<2xi32>
// FOLD-DAG: %[[OW:.*]] = arith.constant dense<{{\[\[}}6.000000e+01, -3.000000e+01], [-2.000000e+01, 4.000000e+01]]> : tensor<2x2xf16>
// FOLD-DAG: %[[CODES:.*]] = arith.constant dense<{{\[\[}}-595478359], [-510871447]]> : tensor<2x1xi32>
// FOLD-DAG: %[[SCALES:.*]] = arith.constant dense<[1.000000e+00, 5.000000e-01]> : tensor<2xf16>
// FOLD-DAG: %[[SUMS:.*]] = arith.constant dense<[8, 5]> : tensor<2xi32>
// FOLD-DAG: %[[MAP:.*]] = arith.constant dense<[-1, -1, 0, -1, -1, 1, -1, -1]> : tensor<8xi16>
// FOLD: %[[Q:.*]] = mixq.assemble %[[COLS]], %[[OW]], %[[CODES]], %[[SCALES]], %[[SUMS]], %[[MAP]]
// FOLD-NOT: mixq.quantize
// FOLD: return %[[Q]]
func.func @fold_outlier_cols() -> !mixq.qtensor<2x8, #mixq.outlier_cols<cols = 2, bits = 4>> {
  %w = arith.constant dense<[[1.0, 2.0, 60.0, 3.0, -7.0, -30.0, 4.0, 5.0],
                             [0.5, -1.0, -20.0, 1.5, 2.0, 40.0, -3.5, 3.0]]> : tensor<2x8xf32>
  %q = mixq.quantize %w : tensor<2x8xf32>
      -> !mixq.qtensor<2x8, #mixq.outlier_cols<cols = 2, bits = 4>>
  return %q : !mixq.qtensor<2x8, #mixq.outlier_cols<cols = 2, bits = 4>>
}

// 8 bits, n = 1: mid - 1 = 127. Row 0 keeps 254 -127 0.5 (column 1, -1000,
// is the outlier): s = 254 / 127 = 2, q = 127 -64 0 (round(-63.5) = -64,
// half away from zero; round(0.25) = 0), q + 128 a byte each, 128 at the
// outlier column: FF 80 40 80 -> 0x804080FF = -2143256321 as i32, row sum
// 63.
// FOLD-LABEL: func.func @fold_outlier_cols8
// FOLD-DAG: arith.constant dense<1> : tensor<1xi32>
// FOLD-DAG: arith.constant dense<-1.000000e+03> : tensor<1x1xf16>
// FOLD-DAG: arith.constant dense<-2143256321> : tensor<1x1xi32>
// FOLD-DAG: arith.constant dense<2.000000e+00> : tensor<1xf16>
// FOLD-DAG: arith.constant dense<63> : tensor<1xi32>
// FOLD-DAG: arith.constant dense<[-1, 0, -1, -1]> : tensor<4xi16>
// FOLD: mixq.assemble
func.func @fold_outlier_cols8() -> !mixq.qtensor<1x4, #mixq.outlier_cols<cols = 1, bits = 8>> {
  %w = arith.constant dense<[[254.0, -1000.0, -127.0, 0.5]]> : tensor<1x4xf32>
  %q = mixq.quantize %w : tensor<1x4xf32>
      -> !mixq.qtensor<1x4, #mixq.outlier_cols<cols = 1, bits = 8>>
  return %q : !mixq.qtensor<1x4, #mixq.outlier_cols<cols = 1, bits = 8>>
}

// -----

// expected-error @+1 {{outlier_cols 'bits' must be 4 or 8, got 3}}
func.func @bad_bits(%q: !mixq.qtensor<8x64, #mixq.outlier_cols<cols = 8, bits = 3>>)

// -----

// expected-error @+1 {{outlier_cols 'cols' must be >= 0, got -1}}
func.func @negative_cols(%q: !mixq.qtensor<8x64, #mixq.outlier_cols<cols = -1, bits = 4>>)

// -----

// expected-error @+1 {{outlier_cols 'cols' (64) must be less than the number of inputs K = 64}}
func.func @all_columns(%q: !mixq.qtensor<8x64, #mixq.outlier_cols<cols = 64, bits = 4>>)

// -----

func.func @assemble_map_type(%cols: tensor<2xi32>, %ow: tensor<2x2xf16>,
                             %codes: tensor<2x1xi32>, %scales: tensor<2xf16>,
                             %sums: tensor<2xi32>, %map: tensor<8xi32>) {
  // expected-error @+1 {{'mixq.assemble' op component #5 ('col_map') must be 'tensor<8xi16>', got 'tensor<8xi32>'}}
  %q = mixq.assemble %cols, %ow, %codes, %scales, %sums, %map
      : tensor<2xi32>, tensor<2x2xf16>, tensor<2x1xi32>, tensor<2xf16>,
        tensor<2xi32>, tensor<8xi32>
      -> !mixq.qtensor<2x8, #mixq.outlier_cols<cols = 2, bits = 4>>
  return
}

// -----

func.func @assemble_count(%cols: tensor<2xi32>, %ow: tensor<2x2xf16>,
                          %codes: tensor<2x1xi32>, %scales: tensor<2xf16>,
                          %sums: tensor<2xi32>) {
  // expected-error @+1 {{'mixq.assemble' op scheme #mixq.outlier_cols<cols = 2, bits = 4> stores 6 components (outlier_cols, outlier_weights, codes, scales, row_sums, col_map), got 5 operands}}
  %q = mixq.assemble %cols, %ow, %codes, %scales, %sums
      : tensor<2xi32>, tensor<2x2xf16>, tensor<2x1xi32>, tensor<2xf16>,
        tensor<2xi32>
      -> !mixq.qtensor<2x8, #mixq.outlier_cols<cols = 2, bits = 4>>
  return
}
