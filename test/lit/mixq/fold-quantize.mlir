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

// #mixq.mixed, 2 x 128, group 64, hi_frac = 0.25, outliers = 0.005: H = 1 high group (the
// 2.9-bit budget adds none on so small a matrix), round(0.005 * 256) = 1
// outlier. The weights (also run-mixed.mlir @mixed_outlier):
//   row 0, g0: w[c] = 16 (c % 16 - 8)          (16 levels: the only group
//              with a 2-bit error, so the highest score; the others fit
//              2 bits exactly, row 1 g0 once its candidate outlier 200 is
//              left out)
//   row 0, g1: w[64] = -80, w[65] = 80, w[66] = 160, else 0
//   row 1, g0: w[0] = -1, w[1] = 2, w[2] = 1, w[3] = 200, else 0
//   row 1, g1: w[64] = 2, w[65] = -1, else 0
// Group (0, 0) is high: bit_map = [[1], [0]], high_group_start = [[0], [1]]. The
// largest |w| of the low groups is w[1][3] = 200: outlier_row_ptr = 0 0 1,
// outlier_col_idx = [3]. Ranges (over the non-outliers and 0; clip ratio 1
// fits exactly): row 0: 240, 240; row 1: 3, 3. The second order is over the
// scales on the 4-bit grid, range / 15 for a high group and range / 12 for
// a low one (2-bit codes widened to 4 bits): row 0: 16, 20, so smin = 16,
// step = fp16(4 / 255) = 0.015686 and the scale codes are 0 and 255 (-1 as
// i8; fp16(fma(255, step, 16)) = 20); row 1: 0.25, 0.25, so step = 0 and
// both codes are 0. Zero codes count whole steps of the 4-bit grid (zero
// unit 1): w = (qq - zc) * scale, qq = q (high) or q << 2 (low).
//   (0, 0): 4 bits, s = 16, zc = round(128 / 16) = 8, q = c % 16: top 2 bits
//           0000 1111 2222 3333 per 16 columns -> bytes 00 55 AA FF,
//           low_codes word 0xFFAA5500 = -5614336 (x4); low 2 bits 0123
//           repeated -> high_codes 0xE4E4E4E4 = -454761244, then the low
//           groups' row of zeros.
//   (0, 1): 2 bits, s = 20, zc = round(80 / 20) = 4 (a level), q = w/80 + 1:
//           0 2 3 1 1 ... -> 0x55555578 = 1431655800, then 0x55555555 =
//           1431655765.
//   (1, 0): s = 0.25, zc = 4, q = w + 1 = 0 3 2 3 (the outlier clamps to 3)
//           1 ... -> 0x555555EC = 1431655916; dense w' = (12 - 4) * 0.25 = 2,
//           residual 200 - 2 = 198.
//   (1, 1): s = 0.25, zc = 4, q = 3 0 1 ... -> 0x55555553 = 1431655763.
// The scale-code search keeps every code: each group is exact at its own.
// zero_codes (4 bits, LSB first): row 0 = 8 | 4 << 4 = 72, row 1 = 68.
// CHECK-LABEL: func.func @fold_mixed
// CHECK-DAG: %[[LOW:.*]] = arith.constant dense<{{\[\[}}-5614336, -5614336, -5614336, -5614336, 1431655800, 1431655765, 1431655765, 1431655765], [1431655916, 1431655765, 1431655765, 1431655765, 1431655763, 1431655765, 1431655765, 1431655765]]> : tensor<2x8xi32>
// CHECK-DAG: %[[HIGH:.*]] = arith.constant dense<{{\[\[}}-454761244, -454761244, -454761244, -454761244], [0, 0, 0, 0]]> : tensor<2x4xi32>
// CHECK-DAG: %[[START:.*]] = arith.constant dense<{{\[\[}}0], [1]]> : tensor<2x1xi32>
// CHECK-DAG: %[[MAP:.*]] = arith.constant dense<{{\[\[}}1], [0]]> : tensor<2x1xi32>
// CHECK-DAG: %[[SC:.*]] = arith.constant dense<{{\[\[}}0, -1], [0, 0]]> : tensor<2x2xi8>
// CHECK-DAG: %[[ZC:.*]] = arith.constant dense<{{\[\[}}72], [68]]> : tensor<2x1xi32>
// CHECK-DAG: %[[BLOCK:.*]] = arith.constant dense<{{\[\[}}1.600000e+01, 1.568600e-02], [2.500000e-01, 0.000000e+00]]> : tensor<2x2xf16>
// CHECK-DAG: %[[PTR:.*]] = arith.constant dense<[0, 0, 1]> : tensor<3xi32>
// CHECK-DAG: %[[COL:.*]] = arith.constant dense<3> : tensor<1xi16>
// CHECK-DAG: %[[VAL:.*]] = arith.constant dense<1.980000e+02> : tensor<1xf16>
// CHECK: %[[Q:.*]] = mixq.assemble %[[LOW]], %[[HIGH]], %[[START]], %[[MAP]], %[[SC]], %[[ZC]], %[[BLOCK]], %[[PTR]], %[[COL]], %[[VAL]]
// CHECK-NOT: mixq.quantize
// CHECK: return %[[Q]]
func.func @fold_mixed() -> !mixq.qtensor<2x128, #mixq.mixed<group = 64, hi_frac = 0.25, outliers = 0.005>> {
  %w = arith.constant dense<[[-128.0, -112.0, -96.0, -80.0, -64.0, -48.0, -32.0, -16.0, 0.0, 16.0, 32.0, 48.0, 64.0, 80.0, 96.0, 112.0, -128.0, -112.0, -96.0, -80.0, -64.0, -48.0, -32.0, -16.0, 0.0, 16.0, 32.0, 48.0, 64.0, 80.0, 96.0, 112.0, -128.0, -112.0, -96.0, -80.0, -64.0, -48.0, -32.0, -16.0, 0.0, 16.0, 32.0, 48.0, 64.0, 80.0, 96.0, 112.0, -128.0, -112.0, -96.0, -80.0, -64.0, -48.0, -32.0, -16.0, 0.0, 16.0, 32.0, 48.0, 64.0, 80.0, 96.0, 112.0, -80.0, 80.0, 160.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                            [-1.0, 2.0, 1.0, 200.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]> : tensor<2x128xf32>
  %q = mixq.quantize %w : tensor<2x128xf32>
      -> !mixq.qtensor<2x128, #mixq.mixed<group = 64, hi_frac = 0.25, outliers = 0.005>>
  return %q : !mixq.qtensor<2x128, #mixq.mixed<group = 64, hi_frac = 0.25, outliers = 0.005>>
}

// #mixq.mixed, 2 x 192, group 64, hi_frac = 0.5, bits = 0, outliers = 0:
// H = 3 high groups, each holding the 16 values 16 (k - 8) four times
// (their 2-bit errors score them; the low groups fit 2 bits exactly):
//   row 0: g0 low (w[0] = -80, w[1] = 160), g1 high (16 ((5c) % 16 - 8)),
//          g2 low (w[130] = 80, w[131] = -80, w[132] = 160)
//   row 1: g0 high (16 (7 - c % 16)), g1 low (w[69] = 160, w[70] = -80),
//          g2 high (16 (c % 16 - 8))
// bit_map = [[0b010], [0b101]], high_group_start = [[0], [1]]; high groups in
// row-major order: (0, 1) low bits of (5c) % 16 = 0123... -> 0xE4E4E4E4,
// (1, 0) 15 - c % 16 -> 3210... -> 0x1B1B1B1B = 454761243, (1, 2) -> 0xE4...,
// then the low groups' row of zeros.
// Per row, the high groups' scale is 240 / 15 = 16 and the low ones' 240 /
// 12 = 20 (codes 0 and 255 of the block, as in @fold_mixed); zero codes
// 8 (high) and 4 (low): row 0 = 4 | 8 << 4 | 4 << 8 = 1156, row 1 = 8 |
// 4 << 4 | 8 << 8 = 2120. No outliers: empty CSR arrays.
// CHECK-LABEL: func.func @fold_mixed_high_groups
// CHECK-DAG: arith.constant dense<{{\[\[}}-454761244, -454761244, -454761244, -454761244], [454761243, 454761243, 454761243, 454761243], [-454761244, -454761244, -454761244, -454761244], [0, 0, 0, 0]]> : tensor<4x4xi32>
// CHECK-DAG: arith.constant dense<{{\[\[}}0], [1]]> : tensor<2x1xi32>
// CHECK-DAG: arith.constant dense<{{\[\[}}2], [5]]> : tensor<2x1xi32>
// CHECK-DAG: arith.constant dense<{{\[\[}}-1, 0, -1], [0, -1, 0]]> : tensor<2x3xi8>
// CHECK-DAG: arith.constant dense<{{\[\[}}1156], [2120]]> : tensor<2x1xi32>
// CHECK-DAG: arith.constant dense<{{\[\[}}1.600000e+01, 1.568600e-02], [1.600000e+01, 1.568600e-02]]> : tensor<2x2xf16>
// CHECK-DAG: arith.constant dense<0> : tensor<3xi32>
// CHECK-DAG: arith.constant dense<> : tensor<0xi16>
// CHECK-DAG: arith.constant dense<> : tensor<0xf16>
// CHECK: mixq.assemble
func.func @fold_mixed_high_groups() -> !mixq.qtensor<2x192, #mixq.mixed<group = 64, hi_frac = 0.5, bits = 0.0, outliers = 0.0>> {
  %w = arith.constant dense<[[-80.0, 160.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -128.0, -48.0, 32.0, 112.0, -64.0, 16.0, 96.0, -80.0, 0.0, 80.0, -96.0, -16.0, 64.0, -112.0, -32.0, 48.0, -128.0, -48.0, 32.0, 112.0, -64.0, 16.0, 96.0, -80.0, 0.0, 80.0, -96.0, -16.0, 64.0, -112.0, -32.0, 48.0, -128.0, -48.0, 32.0, 112.0, -64.0, 16.0, 96.0, -80.0, 0.0, 80.0, -96.0, -16.0, 64.0, -112.0, -32.0, 48.0, -128.0, -48.0, 32.0, 112.0, -64.0, 16.0, 96.0, -80.0, 0.0, 80.0, -96.0, -16.0, 64.0, -112.0, -32.0, 48.0, 0.0, 0.0, 80.0, -80.0, 160.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                            [112.0, 96.0, 80.0, 64.0, 48.0, 32.0, 16.0, 0.0, -16.0, -32.0, -48.0, -64.0, -80.0, -96.0, -112.0, -128.0, 112.0, 96.0, 80.0, 64.0, 48.0, 32.0, 16.0, 0.0, -16.0, -32.0, -48.0, -64.0, -80.0, -96.0, -112.0, -128.0, 112.0, 96.0, 80.0, 64.0, 48.0, 32.0, 16.0, 0.0, -16.0, -32.0, -48.0, -64.0, -80.0, -96.0, -112.0, -128.0, 112.0, 96.0, 80.0, 64.0, 48.0, 32.0, 16.0, 0.0, -16.0, -32.0, -48.0, -64.0, -80.0, -96.0, -112.0, -128.0, 0.0, 0.0, 0.0, 0.0, 0.0, 160.0, -80.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -128.0, -112.0, -96.0, -80.0, -64.0, -48.0, -32.0, -16.0, 0.0, 16.0, 32.0, 48.0, 64.0, 80.0, 96.0, 112.0, -128.0, -112.0, -96.0, -80.0, -64.0, -48.0, -32.0, -16.0, 0.0, 16.0, 32.0, 48.0, 64.0, 80.0, 96.0, 112.0, -128.0, -112.0, -96.0, -80.0, -64.0, -48.0, -32.0, -16.0, 0.0, 16.0, 32.0, 48.0, 64.0, 80.0, 96.0, 112.0, -128.0, -112.0, -96.0, -80.0, -64.0, -48.0, -32.0, -16.0, 0.0, 16.0, 32.0, 48.0, 64.0, 80.0, 96.0, 112.0]]> : tensor<2x192xf32>
  %q = mixq.quantize %w : tensor<2x192xf32>
      -> !mixq.qtensor<2x192, #mixq.mixed<group = 64, hi_frac = 0.5, bits = 0.0, outliers = 0.0>>
  return %q : !mixq.qtensor<2x192, #mixq.mixed<group = 64, hi_frac = 0.5, bits = 0.0, outliers = 0.0>>
}

// #mixq.bitplane<seed = 2, parent = 3>, 2 x 16 (also run-bitplane.mlir):
//   row 0: 0 31 10 21 1 30 11 20 20 11 30 1 21 10 31 0. The seed k-means (4
//          clusters, initialized at the quantiles 1/8, 3/8, ... = 1 11 21 31)
//          settles on the pairs {0, 1} ... {30, 31}: lut2 = 0.5 10.5 20.5
//          30.5; each pair splits in two: lut3 = 0 1 10 11 20 21 30 31, and
//          code3(v) = index of v: 0 7 2 5 1 6 3 4 4 3 6 1 5 2 7 0.
//   row 1: -2 0 1 5 5 1 0 -2 (twice): lut2 = -2 0 1 5; a one-value cluster
//          keeps its value in both children (lut3 = -2 -2 0 0 1 1 5 5) and
//          its samples in the lower one: code3 = 2 code2 = 0 2 4 6 6 4 2 0 ..
// Planes, LSB-first per row (plane0 = bit 2 of the code):
//   plane0: row 0 columns 1 3 5 7 8 10 12 14 -> 21930,
//           row 1 columns 2 3 4 5 10 11 12 13 -> 15420
//   plane1: row 0 columns 1 2 5 6 9 10 13 14 -> 26214,
//           row 1 columns 1 3 4 6 9 11 12 14 -> 23130
//   plane2: row 0 columns 1 3 4 6 9 11 12 14 -> 23130, row 1: 0
// Bits per weight: (3 * 32 + 16 * (4 + 8)) / 16 = 18.
// CHECK-LABEL: func.func @fold_bitplane
// CHECK-DAG: %[[P0:.*]] = arith.constant dense<{{\[\[}}21930], [15420]]> : tensor<2x1xi32>
// CHECK-DAG: %[[P1:.*]] = arith.constant dense<{{\[\[}}26214], [23130]]> : tensor<2x1xi32>
// CHECK-DAG: %[[P2:.*]] = arith.constant dense<{{\[\[}}23130], [0]]> : tensor<2x1xi32>
// CHECK-DAG: %[[L2:.*]] = arith.constant dense<{{\[\[}}5.000000e-01, 1.050000e+01, 2.050000e+01, 3.050000e+01], [-2.000000e+00, 0.000000e+00, 1.000000e+00, 5.000000e+00]]> : tensor<2x4xf16>
// CHECK-DAG: %[[L3:.*]] = arith.constant dense<{{\[\[}}0.000000e+00, 1.000000e+00, 1.000000e+01, 1.100000e+01, 2.000000e+01, 2.100000e+01, 3.000000e+01, 3.100000e+01], [-2.000000e+00, -2.000000e+00, 0.000000e+00, 0.000000e+00, 1.000000e+00, 1.000000e+00, 5.000000e+00, 5.000000e+00]]> : tensor<2x8xf16>
// CHECK: mixq.assemble %[[P0]], %[[P1]], %[[P2]], %[[L2]], %[[L3]]
// CHECK-NOT: mixq.quantize
func.func @fold_bitplane() -> !mixq.qtensor<2x16, #mixq.bitplane<seed = 2, parent = 3>> {
  %w = arith.constant dense<[[0.0, 31.0, 10.0, 21.0, 1.0, 30.0, 11.0, 20.0, 20.0, 11.0, 30.0, 1.0, 21.0, 10.0, 31.0, 0.0],
                             [-2.0, 0.0, 1.0, 5.0, 5.0, 1.0, 0.0, -2.0, -2.0, 0.0, 1.0, 5.0, 5.0, 1.0, 0.0, -2.0]]> : tensor<2x16xf32>
  %q = mixq.quantize %w : tensor<2x16xf32>
      -> !mixq.qtensor<2x16, #mixq.bitplane<seed = 2, parent = 3>>
  return %q : !mixq.qtensor<2x16, #mixq.bitplane<seed = 2, parent = 3>>
}

// The decoding width does not change what is stored.
// CHECK-LABEL: func.func @fold_bitplane_width
// CHECK: mixq.assemble {{.*}} : tensor<2x1xi32>, tensor<2x1xi32>, tensor<2x1xi32>, tensor<2x4xf16>, tensor<2x8xf16> -> !mixq.qtensor<2x16, #mixq.bitplane<seed = 2, parent = 3, width = 2>>
func.func @fold_bitplane_width() -> !mixq.qtensor<2x16, #mixq.bitplane<seed = 2, parent = 3, width = 2>> {
  %w = arith.constant dense<[[0.0, 31.0, 10.0, 21.0, 1.0, 30.0, 11.0, 20.0, 20.0, 11.0, 30.0, 1.0, 21.0, 10.0, 31.0, 0.0],
                             [-2.0, 0.0, 1.0, 5.0, 5.0, 1.0, 0.0, -2.0, -2.0, 0.0, 1.0, 5.0, 5.0, 1.0, 0.0, -2.0]]> : tensor<2x16xf32>
  %q = mixq.quantize %w : tensor<2x16xf32>
      -> !mixq.qtensor<2x16, #mixq.bitplane<seed = 2, parent = 3, width = 2>>
  return %q : !mixq.qtensor<2x16, #mixq.bitplane<seed = 2, parent = 3, width = 2>>
}

// A non-constant input is left alone.
// CHECK-LABEL: func.func @not_constant
// CHECK: mixq.quantize
func.func @not_constant(%w: tensor<2x8xf32>) -> !mixq.qtensor<2x8, #mixq.affine<bits = 4, group = 4>> {
  %q = mixq.quantize %w : tensor<2x8xf32>
      -> !mixq.qtensor<2x8, #mixq.affine<bits = 4, group = 4>>
  return %q : !mixq.qtensor<2x8, #mixq.affine<bits = 4, group = 4>>
}
