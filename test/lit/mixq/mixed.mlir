// Round trip of the #mixq.mixed scheme: parse -> print -> parse, in custom and
// generic form, in every position a scheme can appear. Parameters equal to
// their defaults (lo = 2, hi = 4, hi_frac = 0.1, bits = 2.9, outliers = 0.0075,
// block = 64) are not printed; `group` always is.
// RUN: mixq-opt %s | mixq-opt | FileCheck %s
// RUN: mixq-opt %s --mlir-print-op-generic | mixq-opt | FileCheck %s

// CHECK-LABEL: func.func @scheme_params
// CHECK-SAME: !mixq.qtensor<8x128, #mixq.mixed<group = 64>>
// CHECK-SAME: !mixq.qtensor<8x128, #mixq.mixed<group = 64>>
// CHECK-SAME: !mixq.qtensor<8x128, #mixq.mixed<group = 32, lo = 3, hi = 8, hi_frac = 0.2, bits = 0.0, outliers = 1.0e-05, block = 4>>
// CHECK-SAME: !mixq.qtensor<8x128, #mixq.mixed<group = 128, hi_frac = 0.25, bits = 3.0>>
// CHECK-SAME: !mixq.qtensor<8x128, #mixq.mixed<group = 64, outliers = 0.0>>
func.func @scheme_params(
    %a: !mixq.qtensor<8x128, #mixq.mixed<group = 64>>,
    %b: !mixq.qtensor<8x128, #mixq.mixed<group = 64, lo = 2, hi = 4, hi_frac = 0.1, bits = 2.9, outliers = 0.0075, block = 64>>,
    %c: !mixq.qtensor<8x128, #mixq.mixed<group = 32, lo = 3, hi = 8, hi_frac = 0.2, bits = 0, outliers = 1.0e-5, block = 4>>,
    // Any order; integers are accepted for the real parameters.
    %d: !mixq.qtensor<8x128, #mixq.mixed<bits = 3, hi_frac = 0.25, group = 128>>,
    %e: !mixq.qtensor<8x128, #mixq.mixed<group = 64, outliers = 0.0>>) {
  return
}

// CHECK-LABEL: func.func @weight
// CHECK: mixq.weight @blk0.wq : !mixq.qtensor<64x128, #mixq.mixed<group = 64, hi_frac = 0.2>>
func.func @weight() -> !mixq.qtensor<64x128, #mixq.mixed<group = 64, hi_frac = 0.2>> {
  %w = mixq.weight @blk0.wq : !mixq.qtensor<64x128, #mixq.mixed<group = 64, hi_frac = 0.2>>
  return %w : !mixq.qtensor<64x128, #mixq.mixed<group = 64, hi_frac = 0.2>>
}

// Components of an N x K matrix, gpr = K / group groups per row, H high
// groups, nnz outliers (both fixed by the shape and the parameters):
//   low_codes i32 N x K*lo/32, high_codes i32 (H+1) x group*(hi-lo)/32
//   (the high groups' rows, then the low groups' row of zeros),
//   high_group_start i32 N x ceil(gpr/32), bit_map i32 N x ceil(gpr/32),
//   scale_codes i8
//   N x gpr, zero_codes i32 N x ceil(gpr*4/32), block_params f16
//   N x 2*ceil(gpr/block), outlier_row_ptr i32 N+1, outlier_col_idx i16
//   nnz, outlier_values f16 nnz.
// 2 x 128, group 64, hi_frac = 0.25: gpr = 2, H = round(0.25 * 4) = 1 (the
// 2.9-bit budget adds none: 140 bytes without high groups already exceed
// 2.9 * 256 / 8 = 92.8), nnz = round(0.0075 * 256) = round(1.92) = 2.
// Bytes: 64 + 32 + 8 + 8 + 4 + 8 + 8 + 12 + 4 + 4 = 152, i.e.
// 152 * 8 / 256 = 4.75 bits per weight, which is MixedQuantizer's
// mixedStorageBytes(.., 1, 2).
// CHECK-LABEL: func.func @assemble
// CHECK: mixq.assemble %{{.*}} : tensor<2x8xi32>, tensor<2x4xi32>, tensor<2x1xi32>, tensor<2x1xi32>, tensor<2x2xi8>, tensor<2x1xi32>, tensor<2x2xf16>, tensor<3xi32>, tensor<2xi16>, tensor<2xf16> -> !mixq.qtensor<2x128, #mixq.mixed<group = 64, hi_frac = 0.25>>
func.func @assemble(%low: tensor<2x8xi32>, %high: tensor<2x4xi32>,
                    %start: tensor<2x1xi32>, %map: tensor<2x1xi32>,
                    %sc: tensor<2x2xi8>, %zc: tensor<2x1xi32>,
                    %block: tensor<2x2xf16>, %ptr: tensor<3xi32>,
                    %col: tensor<2xi16>, %val: tensor<2xf16>)
    -> !mixq.qtensor<2x128, #mixq.mixed<group = 64, hi_frac = 0.25>> {
  %q = mixq.assemble %low, %high, %start, %map, %sc, %zc, %block, %ptr, %col, %val
      : tensor<2x8xi32>, tensor<2x4xi32>, tensor<2x1xi32>, tensor<2x1xi32>,
        tensor<2x2xi8>, tensor<2x1xi32>, tensor<2x2xf16>, tensor<3xi32>,
        tensor<2xi16>, tensor<2xf16>
      -> !mixq.qtensor<2x128, #mixq.mixed<group = 64, hi_frac = 0.25>>
  return %q : !mixq.qtensor<2x128, #mixq.mixed<group = 64, hi_frac = 0.25>>
}

// 3-bit low codes (group 32: 96 bits, 3 words per group), 8-bit high codes
// (5 extra bits: 160 bits, 5 words per high group), no outliers: 4 x 4096
// has gpr = 128, 512 groups, H = round(0.2 * 512) = 102 (no budget; 103 rows of
// high codes with the zero row), bit
// map and high group starts 4 words per row, zero codes 16 words, blocks ceil(128 / 4) = 32; K >
// 65536 would switch the column indices to i32.
// CHECK-LABEL: func.func @assemble_wide
// CHECK: mixq.assemble %{{.*}} : tensor<4x384xi32>, tensor<103x5xi32>, tensor<4x4xi32>, tensor<4x4xi32>, tensor<4x128xi8>, tensor<4x16xi32>, tensor<4x64xf16>, tensor<5xi32>, tensor<0xi16>, tensor<0xf16>
func.func @assemble_wide(%low: tensor<4x384xi32>, %high: tensor<103x5xi32>,
                         %start: tensor<4x4xi32>, %map: tensor<4x4xi32>,
                         %sc: tensor<4x128xi8>, %zc: tensor<4x16xi32>,
                         %block: tensor<4x64xf16>, %ptr: tensor<5xi32>,
                         %col: tensor<0xi16>, %val: tensor<0xf16>)
    -> !mixq.qtensor<4x4096, #mixq.mixed<group = 32, lo = 3, hi = 8, hi_frac = 0.2, bits = 0.0, outliers = 0.0, block = 4>> {
  %q = mixq.assemble %low, %high, %start, %map, %sc, %zc, %block, %ptr, %col, %val
      : tensor<4x384xi32>, tensor<103x5xi32>, tensor<4x4xi32>, tensor<4x4xi32>,
        tensor<4x128xi8>, tensor<4x16xi32>, tensor<4x64xf16>, tensor<5xi32>,
        tensor<0xi16>, tensor<0xf16>
      -> !mixq.qtensor<4x4096, #mixq.mixed<group = 32, lo = 3, hi = 8, hi_frac = 0.2, bits = 0.0, outliers = 0.0, block = 4>>
  return %q : !mixq.qtensor<4x4096, #mixq.mixed<group = 32, lo = 3, hi = 8, hi_frac = 0.2, bits = 0.0, outliers = 0.0, block = 4>>
}

// CHECK-LABEL: func.func @ops
// CHECK: mixq.quantize %{{.*}} : tensor<64x128xf32> -> !mixq.qtensor<64x128, #mixq.mixed<group = 64>>
// CHECK: mixq.dequantize %{{.*}} : !mixq.qtensor<64x128, #mixq.mixed<group = 64>> -> tensor<64x128xf16>
// CHECK: mixq.matmul %{{.*}}, %{{.*}} : tensor<?x128xf16>, !mixq.qtensor<64x128, #mixq.mixed<group = 64>> -> tensor<?x64xf16>
func.func @ops(%w: tensor<64x128xf32>, %x: tensor<?x128xf16>)
    -> (tensor<64x128xf16>, tensor<?x64xf16>) {
  %q = mixq.quantize %w : tensor<64x128xf32>
      -> !mixq.qtensor<64x128, #mixq.mixed<group = 64>>
  %d = mixq.dequantize %q : !mixq.qtensor<64x128, #mixq.mixed<group = 64>>
      -> tensor<64x128xf16>
  %y = mixq.matmul %x, %q : tensor<?x128xf16>,
      !mixq.qtensor<64x128, #mixq.mixed<group = 64>> -> tensor<?x64xf16>
  return %d, %y : tensor<64x128xf16>, tensor<?x64xf16>
}
