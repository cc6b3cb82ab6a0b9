// mixq.quantize of a constant with a #mixq.sparse scheme is folded by the host
// dense-and-sparse quantizer: the outliers are selected, clamped into the
// range of their row's other weights, the masked matrix is quantized by the
// dense scheme's own quantizer, and the fp16 residuals w - dense' are stored
// as CSR after the dense components. Expected values are worked out by hand
// (the dense derivations are those of fold-quantize.mlir).
// RUN: mixq-opt %s --canonicalize | FileCheck %s

// lut 2 bits, nnz = round(0.125 * 16) = 2, the two largest |w|: 1000 at
// (0, 3) and -500 at (1, 5). Masked to 2 (row 0's range is [-1, 2]) and -3
// (row 1's is [-3, 8]), the rows are those of fold-quantize.mlir's
// @fold_lut2: codebooks -1 0 1 2 and -3 0.5 4 8, codes 0x1BE4 = 7140 and
// 0xF0A5 = 61605. Residuals: 1000 - 2 = 998 and -500 - (-3) = -497.
// CHECK-LABEL: func.func @fold_lut
// CHECK-DAG: %[[CODES:.*]] = arith.constant dense<{{\[\[}}7140], [61605]]> : tensor<2x1xi32>
// CHECK-DAG: %[[LUT:.*]] = arith.constant dense<{{\[\[}}-1.000000e+00, 0.000000e+00, 1.000000e+00, 2.000000e+00], [-3.000000e+00, 5.000000e-01, 4.000000e+00, 8.000000e+00]]> : tensor<2x4xf16>
// CHECK-DAG: %[[PTR:.*]] = arith.constant dense<[0, 1, 2]> : tensor<3xi32>
// CHECK-DAG: %[[COL:.*]] = arith.constant dense<[3, 5]> : tensor<2xi16>
// CHECK-DAG: %[[VAL:.*]] = arith.constant dense<[9.980000e+02, -4.970000e+02]> : tensor<2xf16>
// CHECK: %[[Q:.*]] = mixq.assemble %[[CODES]], %[[LUT]], %[[PTR]], %[[COL]], %[[VAL]]
// CHECK-NOT: mixq.quantize
// CHECK: return %[[Q]]
func.func @fold_lut() -> !mixq.qtensor<2x8, #mixq.sparse<#mixq.lut<bits = 2>, frac = 0.125>> {
  %w = arith.constant dense<[[-1.0, 0.0, 1.0, 1000.0, 2.0, 1.0, 0.0, -1.0],
                             [0.5, 0.5, 4.0, 4.0, -3.0, -500.0, 8.0, 8.0]]> : tensor<2x8xf32>
  %q = mixq.quantize %w : tensor<2x8xf32>
      -> !mixq.qtensor<2x8, #mixq.sparse<#mixq.lut<bits = 2>, frac = 0.125>>
  return %q : !mixq.qtensor<2x8, #mixq.sparse<#mixq.lut<bits = 2>, frac = 0.125>>
}

// The residual is rounded to fp16: 1000.3 - 2 = 998.3 lies between the fp16
// values 998 and 998.5 (spacing 0.5 in [512, 1024)) and is stored as 998.5,
// so dense + sparse gives 1000.5 for 1000.3: exact up to the fp16 rounding
// of the residual.
// CHECK-LABEL: func.func @fold_residual_rounding
// CHECK: arith.constant dense<[9.985000e+02, -4.970000e+02]> : tensor<2xf16>
func.func @fold_residual_rounding() -> !mixq.qtensor<2x8, #mixq.sparse<#mixq.lut<bits = 2>, frac = 0.125>> {
  %w = arith.constant dense<[[-1.0, 0.0, 1.0, 1000.3, 2.0, 1.0, 0.0, -1.0],
                             [0.5, 0.5, 4.0, 4.0, -3.0, -500.0, 8.0, 8.0]]> : tensor<2x8xf32>
  %q = mixq.quantize %w : tensor<2x8xf32>
      -> !mixq.qtensor<2x8, #mixq.sparse<#mixq.lut<bits = 2>, frac = 0.125>>
  return %q : !mixq.qtensor<2x8, #mixq.sparse<#mixq.lut<bits = 2>, frac = 0.125>>
}

// select = iqr: per row, only weights outside [Q1 - 3 IQR, Q3 + 3 IQR] are
// candidates. Row 0 sorted is -1 -1 0 0 1 1 2 1000: Q1 = -1, Q3 = 1, fence
// [-7, 7], so 1000 is the only candidate; row 1 (no outlier) has none. The
// second of the nnz = 2 slots goes to the largest |w - dense'| among the
// other weights: the dense part is exact, every such residual is 0, and the
// tie goes to the lowest row-major index, (0, 0), with residual 0.
// CHECK-LABEL: func.func @fold_iqr_padding
// CHECK-DAG: arith.constant dense<[0, 2, 2]> : tensor<3xi32>
// CHECK-DAG: arith.constant dense<[0, 3]> : tensor<2xi16>
// CHECK-DAG: arith.constant dense<[0.000000e+00, 9.980000e+02]> : tensor<2xf16>
// CHECK: mixq.assemble
func.func @fold_iqr_padding() -> !mixq.qtensor<2x8, #mixq.sparse<#mixq.lut<bits = 2>, frac = 0.125, select = iqr>> {
  %w = arith.constant dense<[[-1.0, 0.0, 1.0, 1000.0, 2.0, 1.0, 0.0, -1.0],
                             [0.5, 0.5, 4.0, 4.0, -3.0, -3.0, 8.0, 8.0]]> : tensor<2x8xf32>
  %q = mixq.quantize %w : tensor<2x8xf32>
      -> !mixq.qtensor<2x8, #mixq.sparse<#mixq.lut<bits = 2>, frac = 0.125, select = iqr>>
  return %q : !mixq.qtensor<2x8, #mixq.sparse<#mixq.lut<bits = 2>, frac = 0.125, select = iqr>>
}

// affine 4 bits, group 4 (asymmetric, maxq = 15), nnz = 2: 300 at (0, 1)
// and -400 at (1, 6). Masked into their rows' ranges they become 7.5 and 0:
// row 0, group 0: w = 0 7.5 3 7.5      s = 0.5,  z = 0, q = 0 15 6 15
// row 0, group 1: w = -1 0 1 2.75      s = 0.25, z = 4, q = 0 4 8 15
// row 1, group 0: w = 2 2 2 2          s = 2,    z = 0, q = 1 1 1 1
// row 1, group 1: w = 0 0 0 0          s = 1,    z = 0, q = 0 0 0 0
// Nibbles LSB first: row 0 = 0xF840F6F0 = -129960208, row 1 = 0x1111 = 4369.
// Residuals: 300 - 7.5 = 292.5 and -400 - 0 = -400 (both exact in fp16).
// CHECK-LABEL: func.func @fold_affine
// CHECK-DAG: %[[CODES:.*]] = arith.constant dense<{{\[\[}}-129960208], [4369]]> : tensor<2x1xi32>
// CHECK-DAG: %[[SCALES:.*]] = arith.constant dense<{{\[\[}}5.000000e-01, 2.500000e-01], [2.000000e+00, 1.000000e+00]]> : tensor<2x2xf16>
// CHECK-DAG: %[[ZEROS:.*]] = arith.constant dense<{{\[\[}}0.000000e+00, 4.000000e+00], [0.000000e+00, 0.000000e+00]]> : tensor<2x2xf16>
// CHECK-DAG: %[[PTR:.*]] = arith.constant dense<[0, 1, 2]> : tensor<3xi32>
// CHECK-DAG: %[[COL:.*]] = arith.constant dense<[1, 6]> : tensor<2xi16>
// CHECK-DAG: %[[VAL:.*]] = arith.constant dense<[2.925000e+02, -4.000000e+02]> : tensor<2xf16>
// CHECK: mixq.assemble %[[CODES]], %[[SCALES]], %[[ZEROS]], %[[PTR]], %[[COL]], %[[VAL]]
func.func @fold_affine() -> !mixq.qtensor<2x8, #mixq.sparse<#mixq.affine<bits = 4, group = 4>, frac = 0.125>> {
  %w = arith.constant dense<[[0.0, 300.0, 3.0, 7.5, -1.0, 0.0, 1.0, 2.75],
                             [2.0, 2.0, 2.0, 2.0, 0.0, 0.0, -400.0, 0.0]]> : tensor<2x8xf32>
  %q = mixq.quantize %w : tensor<2x8xf32>
      -> !mixq.qtensor<2x8, #mixq.sparse<#mixq.affine<bits = 4, group = 4>, frac = 0.125>>
  return %q : !mixq.qtensor<2x8, #mixq.sparse<#mixq.affine<bits = 4, group = 4>, frac = 0.125>>
}
