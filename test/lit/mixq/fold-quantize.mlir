// mixq.quantize of a constant is folded by the scheme's host quantizer into
// mixq.assemble of constant components. Expected values are worked out by
// hand from the formulas of #mixq.affine (asymmetric, group 4, 4 bits,
// maxq = 15): scale = (hi - lo) / 15, zero = round(-lo / scale),
// q = round(w / scale) + zero.
// RUN: mixq-opt %s --canonicalize | FileCheck %s

// row 0, group 0: w = 0 1.5 3 7.5      lo = 0,  hi = 7.5   -> s = 0.5,  z = 0
//                 q = 0 3 6 15
// row 0, group 1: w = -1 0 1 2.75      lo = -1, hi = 2.75  -> s = 0.25, z = 4
//                 q = 0 4 8 15
// row 1, group 0: w = 2 2 2 2 (constant group: s = |2| = 2, z = clamp(-1) = 0)
//                 q = 1 1 1 1
// row 1, group 1: w = 0 0 0 0 (all-zero group: s = 1, z = 0), q = 0 0 0 0
// Nibbles LSB first: row 0 = 0xF840F630 = -129960400, row 1 = 0x1111 = 4369.
// CHECK-LABEL: func.func @fold_affine4
// CHECK-DAG: %[[CODES:.*]] = arith.constant dense<{{\[\[}}-129960400], [4369]]> : tensor<2x1xi32>
// CHECK-DAG: %[[SCALES:.*]] = arith.constant dense<{{\[\[}}5.000000e-01, 2.500000e-01], [2.000000e+00, 1.000000e+00]]> : tensor<2x2xf16>
// CHECK-DAG: %[[ZEROS:.*]] = arith.constant dense<{{\[\[}}0.000000e+00, 4.000000e+00], [0.000000e+00, 0.000000e+00]]> : tensor<2x2xf16>
// CHECK: %[[Q:.*]] = mixq.assemble %[[CODES]], %[[SCALES]], %[[ZEROS]]
// CHECK-NOT: mixq.quantize
// CHECK: return %[[Q]]
func.func @fold_affine4() -> !mixq.qtensor<2x8, #mixq.affine<bits = 4, group = 4>> {
  %w = arith.constant dense<[[0.0, 1.5, 3.0, 7.5, -1.0, 0.0, 1.0, 2.75],
                             [2.0, 2.0, 2.0, 2.0, 0.0, 0.0, 0.0, 0.0]]> : tensor<2x8xf32>
  %q = mixq.quantize %w : tensor<2x8xf32>
      -> !mixq.qtensor<2x8, #mixq.affine<bits = 4, group = 4>>
  return %q : !mixq.qtensor<2x8, #mixq.affine<bits = 4, group = 4>>
}

// Symmetric 2 bits (mid = 2), one group of 16: amax = 6, so
// scale = amax / (mid - 1) = 6 and q = clamp(round(w / 6), -2, 1) + 2 with
// round-half-away-from-zero:
//   w = -6 -3 0 3 (x4)  ->  w / 6 = -1 -0.5 0 0.5  ->  round = -1 -1 0 1
//                       ->  q = 1 1 2 3
// 2-bit fields 1 1 2 3 make the byte 0b11100101 = 0xE5; the row is
// 0xE5E5E5E5 = -437918235.
// CHECK-LABEL: func.func @fold_affine2_sym
// CHECK-DAG: arith.constant dense<-437918235> : tensor<1x1xi32>
// CHECK-DAG: arith.constant dense<6.000000e+00> : tensor<1x1xf16>
// CHECK: mixq.assemble
func.func @fold_affine2_sym() -> !mixq.qtensor<1x16, #mixq.affine<bits = 2, group = 16, symmetric = true>> {
  %w = arith.constant dense<[[-6.0, -3.0, 0.0, 3.0, -6.0, -3.0, 0.0, 3.0,
                              -6.0, -3.0, 0.0, 3.0, -6.0, -3.0, 0.0, 3.0]]> : tensor<1x16xf32>
  %q = mixq.quantize %w : tensor<1x16xf32>
      -> !mixq.qtensor<1x16, #mixq.affine<bits = 2, group = 16, symmetric = true>>
  return %q : !mixq.qtensor<1x16, #mixq.affine<bits = 2, group = 16, symmetric = true>>
}

// #mixq.lut, 2 bits: each row gets 4 f16 centroids by 1-D k-means,
// initialized at the quantiles (j + 1/2) / 4 of the sorted row. Each row
// below has exactly 4 distinct values, twice each, so the initial centroids
// are already those values (sorted) and no sample changes cluster:
//   row 0: w = -1 0 1 2 2 1 0 -1    lut = -1 0 1 2     codes = 0 1 2 3 3 2 1 0
//   row 1: w = 0.5 0.5 4 4 -3 -3 8 8
//                                   lut = -3 0.5 4 8   codes = 1 1 2 2 0 0 3 3
// 2-bit fields, LSB first: row 0 bytes 0b11100100 = 0xE4, 0b00011011 = 0x1B
// -> 0x1BE4 = 7140; row 1 bytes 0b10100101 = 0xA5, 0b11110000 = 0xF0
// -> 0xF0A5 = 61605.
// CHECK-LABEL: func.func @fold_lut2
// CHECK-DAG: %[[CODES:.*]] = arith.constant dense<{{\[\[}}7140], [61605]]> : tensor<2x1xi32>
// CHECK-DAG: %[[LUT:.*]] = arith.constant dense<{{\[\[}}-1.000000e+00, 0.000000e+00, 1.000000e+00, 2.000000e+00], [-3.000000e+00, 5.000000e-01, 4.000000e+00, 8.000000e+00]]> : tensor<2x4xf16>
// CHECK: %[[Q:.*]] = mixq.assemble %[[CODES]], %[[LUT]]
// CHECK-NOT: mixq.quantize
// CHECK: return %[[Q]]
func.func @fold_lut2() -> !mixq.qtensor<2x8, #mixq.lut<bits = 2>> {
  %w = arith.constant dense<[[-1.0, 0.0, 1.0, 2.0, 2.0, 1.0, 0.0, -1.0],
                             [0.5, 0.5, 4.0, 4.0, -3.0, -3.0, 8.0, 8.0]]> : tensor<2x8xf32>
  %q = mixq.quantize %w : tensor<2x8xf32>
      -> !mixq.qtensor<2x8, #mixq.lut<bits = 2>>
  return %q : !mixq.qtensor<2x8, #mixq.lut<bits = 2>>
}

// #mixq.lut, 3 bits, one row of 16 holding the 8 values 0.25 * (0 .. 7)
// twice, in reverse order: lut = 0 0.25 ... 1.75 and code(k) = 7 - (k % 8).
// Codes 7 6 5 4 3 2 1 0 in 3-bit fields make the 24-bit block 0o01234567
// = 0x053977; the 48-bit stream is 0x053977053977, so
//   word 0 = 0x77053977 = 1996831095, word 1 = 0x0539 = 1337
// (code 10 straddles words 0 and 1; the row pads to 2 words).
// CHECK-LABEL: func.func @fold_lut3
// CHECK-DAG: arith.constant dense<{{\[\[}}1996831095, 1337]]> : tensor<1x2xi32>
// CHECK-DAG: arith.constant dense<{{\[\[}}0.000000e+00, 2.500000e-01, 5.000000e-01, 7.500000e-01, 1.000000e+00, 1.250000e+00, 1.500000e+00, 1.750000e+00]]> : tensor<1x8xf16>
// CHECK: mixq.assemble
func.func @fold_lut3() -> !mixq.qtensor<1x16, #mixq.lut<bits = 3>> {
  %w = arith.constant dense<[[1.75, 1.5, 1.25, 1.0, 0.75, 0.5, 0.25, 0.0,
                              1.75, 1.5, 1.25, 1.0, 0.75, 0.5, 0.25, 0.0]]> : tensor<1x16xf32>
  %q = mixq.quantize %w : tensor<1x16xf32>
      -> !mixq.qtensor<1x16, #mixq.lut<bits = 3>>
  return %q : !mixq.qtensor<1x16, #mixq.lut<bits = 3>>
}

// A non-constant input is left alone.
// CHECK-LABEL: func.func @not_constant
// CHECK: mixq.quantize
func.func @not_constant(%w: tensor<2x8xf32>) -> !mixq.qtensor<2x8, #mixq.affine<bits = 4, group = 4>> {
  %q = mixq.quantize %w : tensor<2x8xf32>
      -> !mixq.qtensor<2x8, #mixq.affine<bits = 4, group = 4>>
  return %q : !mixq.qtensor<2x8, #mixq.affine<bits = 4, group = 4>>
}
