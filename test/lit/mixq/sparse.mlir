// Round trip of the #mixq.sparse scheme (dense-and-sparse over any dense
// scheme): parse -> print -> parse, in custom and generic form, in every
// position a scheme can appear. `select = magnitude` is the default and is not
// printed; `frac` always is.
// RUN: mixq-opt --load-dialect-plugin=%fp4_plugin %s | mixq-opt --load-dialect-plugin=%fp4_plugin | FileCheck %s
// RUN: mixq-opt --load-dialect-plugin=%fp4_plugin %s --mlir-print-op-generic | mixq-opt --load-dialect-plugin=%fp4_plugin | FileCheck %s

// CHECK-LABEL: func.func @scheme_params
// CHECK-SAME: !mixq.qtensor<8x64, #mixq.sparse<#mixq.lut<bits = 3>, frac = 0.0045>>
// CHECK-SAME: !mixq.qtensor<8x64, #mixq.sparse<#mixq.lut<bits = 3>, frac = 0.0045>>
// CHECK-SAME: !mixq.qtensor<8x64, #mixq.sparse<#mixq.affine<bits = 4, group = 64>, frac = 0.01, select = iqr>>
// CHECK-SAME: !mixq.qtensor<8x64, #mixq.sparse<#mixq.affine<bits = 2, group = 32, symmetric = true, scale = bf16>, frac = 1.0e-05, select = sensitivity>>
// CHECK-SAME: !mixq.qtensor<8x128, #mixq.sparse<#mixq.mixed<group = 64>, frac = 0.5>>
// CHECK-SAME: !mixq.qtensor<8x64, #mixq.sparse<#mixq.bitplane<seed = 2, parent = 4, width = 3>, frac = 0.25>>
// CHECK-SAME: !mixq.qtensor<8x64, #mixq.sparse<#mixq_test.fp4<group = 16>, frac = 0.125>>
func.func @scheme_params(
    %a: !mixq.qtensor<8x64, #mixq.sparse<#mixq.lut<bits = 3>, frac = 0.0045>>,
    %b: !mixq.qtensor<8x64, #mixq.sparse<#mixq.lut<bits = 3>, frac = 4.5e-3, select = magnitude>>,
    // The struct part takes any order.
    %c: !mixq.qtensor<8x64, #mixq.sparse<#mixq.affine<bits = 4, group = 64>, select = iqr, frac = 0.01>>,
    %d: !mixq.qtensor<8x64, #mixq.sparse<#mixq.affine<bits = 2, group = 32, symmetric = true, scale = bf16>, frac = 0.00001, select = sensitivity>>,
    // Schemes with outliers of their own compose too (their components are
    // renamed dense_*).
    %e: !mixq.qtensor<8x128, #mixq.sparse<#mixq.mixed<group = 64>, frac = 0.5>>,
    %f: !mixq.qtensor<8x64, #mixq.sparse<#mixq.bitplane<seed = 2, parent = 4, width = 3>, frac = 0.25>>,
    // A scheme that exists only in the test tree composes like the others.
    %g: !mixq.qtensor<8x64, #mixq.sparse<#mixq_test.fp4<group = 16>, frac = 0.125>>) {
  return
}

// CHECK-LABEL: func.func @weight
// CHECK: mixq.weight @blk0.wq : !mixq.qtensor<64x128, #mixq.sparse<#mixq.lut<bits = 3>, frac = 0.0045>>
func.func @weight() -> !mixq.qtensor<64x128, #mixq.sparse<#mixq.lut<bits = 3>, frac = 0.0045>> {
  %w = mixq.weight @blk0.wq : !mixq.qtensor<64x128, #mixq.sparse<#mixq.lut<bits = 3>, frac = 0.0045>>
  return %w : !mixq.qtensor<64x128, #mixq.sparse<#mixq.lut<bits = 3>, frac = 0.0045>>
}

// Components: the dense scheme's (renamed dense_*), then the CSR:
// outlier_row_ptr i32 N+1, outlier_col_idx i16 (K <= 65536) nnz and
// outlier_values f16 nnz, nnz = round(frac * N * K).
// 2 x 40 at lut 3 bits: codes 2 x 4 words, lut 2 x 8; frac = 0.025 gives
// nnz = round(0.025 * 80) = 2. Bits per weight = (32 + 32 + 12 + 4 + 4) * 8
// / 80 = 8.4.
// CHECK-LABEL: func.func @assemble
// CHECK: mixq.assemble %{{.*}} : tensor<2x4xi32>, tensor<2x8xf16>, tensor<3xi32>, tensor<2xi16>, tensor<2xf16> -> !mixq.qtensor<2x40, #mixq.sparse<#mixq.lut<bits = 3>, frac = 0.025>>
func.func @assemble(%codes: tensor<2x4xi32>, %lut: tensor<2x8xf16>,
                    %ptr: tensor<3xi32>, %col: tensor<2xi16>,
                    %val: tensor<2xf16>)
    -> !mixq.qtensor<2x40, #mixq.sparse<#mixq.lut<bits = 3>, frac = 0.025>> {
  %q = mixq.assemble %codes, %lut, %ptr, %col, %val
      : tensor<2x4xi32>, tensor<2x8xf16>, tensor<3xi32>, tensor<2xi16>,
        tensor<2xf16>
      -> !mixq.qtensor<2x40, #mixq.sparse<#mixq.lut<bits = 3>, frac = 0.025>>
  return %q : !mixq.qtensor<2x40, #mixq.sparse<#mixq.lut<bits = 3>, frac = 0.025>>
}

// Affine 4-bit asymmetric, group 32, on 4 x 70016: K > 65536 switches the
// column indices to i32; nnz = round(1.0e-05 * 280064) = 3.
// CHECK-LABEL: func.func @assemble_wide
// CHECK: mixq.assemble %{{.*}} : tensor<4x8752xi32>, tensor<4x2188xf16>, tensor<4x2188xf16>, tensor<5xi32>, tensor<3xi32>, tensor<3xf16>
func.func @assemble_wide(%codes: tensor<4x8752xi32>, %scales: tensor<4x2188xf16>,
                         %zeros: tensor<4x2188xf16>, %ptr: tensor<5xi32>,
                         %col: tensor<3xi32>, %val: tensor<3xf16>)
    -> !mixq.qtensor<4x70016, #mixq.sparse<#mixq.affine<bits = 4, group = 32>, frac = 1.0e-05>> {
  %q = mixq.assemble %codes, %scales, %zeros, %ptr, %col, %val
      : tensor<4x8752xi32>, tensor<4x2188xf16>, tensor<4x2188xf16>,
        tensor<5xi32>, tensor<3xi32>, tensor<3xf16>
      -> !mixq.qtensor<4x70016, #mixq.sparse<#mixq.affine<bits = 4, group = 32>, frac = 1.0e-05>>
  return %q : !mixq.qtensor<4x70016, #mixq.sparse<#mixq.affine<bits = 4, group = 32>, frac = 1.0e-05>>
}

// CHECK-LABEL: func.func @ops
// CHECK: mixq.quantize %{{.*}} : tensor<64x128xf32> -> !mixq.qtensor<64x128, #mixq.sparse<#mixq.lut<bits = 4>, frac = 0.01, select = iqr>>
// CHECK: mixq.dequantize %{{.*}} : !mixq.qtensor<64x128, #mixq.sparse<#mixq.lut<bits = 4>, frac = 0.01, select = iqr>> -> tensor<64x128xf16>
// CHECK: mixq.matmul %{{.*}}, %{{.*}} : tensor<?x128xf16>, !mixq.qtensor<64x128, #mixq.sparse<#mixq.lut<bits = 4>, frac = 0.01, select = iqr>> -> tensor<?x64xf16>
func.func @ops(%w: tensor<64x128xf32>, %x: tensor<?x128xf16>)
    -> (tensor<64x128xf16>, tensor<?x64xf16>) {
  %q = mixq.quantize %w : tensor<64x128xf32>
      -> !mixq.qtensor<64x128, #mixq.sparse<#mixq.lut<bits = 4>, frac = 0.01, select = iqr>>
  %d = mixq.dequantize %q : !mixq.qtensor<64x128, #mixq.sparse<#mixq.lut<bits = 4>, frac = 0.01, select = iqr>>
      -> tensor<64x128xf16>
  %y = mixq.matmul %x, %q : tensor<?x128xf16>,
      !mixq.qtensor<64x128, #mixq.sparse<#mixq.lut<bits = 4>, frac = 0.01, select = iqr>> -> tensor<?x64xf16>
  return %d, %y : tensor<64x128xf16>, tensor<?x64xf16>
}
