// Structure of the reference lowering: qtensors become their component
// tensors (function signatures included), dequantization is one elementwise
// linalg.generic built from the scheme's IR, and matmul contracts in f32.
// RUN: mixq-opt %s --mixq-lower-to-linalg --split-input-file | FileCheck %s

// CHECK-LABEL: func.func @dequantize
// CHECK-SAME: (%[[CODES:.*]]: tensor<4x8xi32>, %[[SCALES:.*]]: tensor<4x2xf16>, %[[ZEROS:.*]]: tensor<4x2xf16>) -> tensor<4x64xf16>
// CHECK: %[[EMPTY:.*]] = tensor.empty() : tensor<4x64xf16>
// CHECK: linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel"]
// CHECK-SAME: outs(%[[EMPTY]] : tensor<4x64xf16>)
// CHECK: %[[ROW:.*]] = linalg.index 0
// CHECK: %[[COL:.*]] = linalg.index 1
// CHECK: tensor.extract %[[CODES]][%[[ROW]], %{{.*}}] : tensor<4x8xi32>
// CHECK: arith.shrui
// 4-bit codes never straddle words: a single word load per code.
// CHECK-NOT: arith.minui
// CHECK: arith.uitofp
// CHECK: tensor.extract %[[SCALES]]
// CHECK: tensor.extract %[[ZEROS]]
// CHECK: arith.subf
// CHECK: arith.mulf
// CHECK: arith.truncf %{{.*}} : f32 to f16
// CHECK: linalg.yield
// CHECK-NOT: mixq.
func.func @dequantize(%q: !mixq.qtensor<4x64, #mixq.affine<bits = 4, group = 32>>) -> tensor<4x64xf16> {
  %w = mixq.dequantize %q : !mixq.qtensor<4x64, #mixq.affine<bits = 4, group = 32>> -> tensor<4x64xf16>
  return %w : tensor<4x64xf16>
}

// -----

// 3-bit codes may straddle two words: the next word is read (clamped to the
// row) and merged in.
// CHECK-LABEL: func.func @dequantize3
// CHECK-SAME: (%[[CODES:.*]]: tensor<4x6xi32>, %[[SCALES:.*]]: tensor<4x2xbf16>)
// CHECK: linalg.generic
// CHECK: arith.minui
// CHECK: arith.shli
// CHECK: arith.select
// CHECK: arith.ori
// CHECK: arith.extf %{{.*}} : bf16 to f32
// CHECK: arith.constant 4.000000e+00 : f32
// CHECK: linalg.yield %{{.*}} : f32
func.func @dequantize3(%q: !mixq.qtensor<4x64, #mixq.affine<bits = 3, group = 32, symmetric = true, scale = bf16>>) -> tensor<4x64xf32> {
  %w = mixq.dequantize %q : !mixq.qtensor<4x64, #mixq.affine<bits = 3, group = 32, symmetric = true, scale = bf16>> -> tensor<4x64xf32>
  return %w : tensor<4x64xf32>
}

// -----

// CHECK-LABEL: func.func @matmul
// CHECK-SAME: (%[[X:.*]]: tensor<?x64xf16>, %[[CODES:.*]]: tensor<8x8xi32>, %[[SCALES:.*]]: tensor<8x1xf16>, %[[ZEROS:.*]]: tensor<8x1xf16>) -> tensor<?x8xf16>
// CHECK: %[[W:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<8x64xf16>)
// CHECK: %[[M:.*]] = tensor.dim %[[X]], %{{.*}} : tensor<?x64xf16>
// CHECK: %[[ACC0:.*]] = tensor.empty(%[[M]]) : tensor<?x8xf32>
// CHECK: %[[ACC:.*]] = linalg.fill {{.*}} outs(%[[ACC0]] : tensor<?x8xf32>)
// CHECK: %[[Y:.*]] = linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel", "reduction"]
// CHECK-SAME: ins(%[[X]], %[[W]] : tensor<?x64xf16>, tensor<8x64xf16>) outs(%[[ACC]] : tensor<?x8xf32>)
// CHECK: arith.extf
// CHECK: arith.extf
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK: linalg.generic {{.*}} ins(%[[Y]] : tensor<?x8xf32>)
// CHECK: arith.truncf %{{.*}} : f32 to f16
func.func @matmul(%x: tensor<?x64xf16>, %w: !mixq.qtensor<8x64, #mixq.affine<bits = 4, group = 64>>) -> tensor<?x8xf16> {
  %y = mixq.matmul %x, %w : tensor<?x64xf16>, !mixq.qtensor<8x64, #mixq.affine<bits = 4, group = 64>> -> tensor<?x8xf16>
  return %y : tensor<?x8xf16>
}

// -----

// Calls and returns carrying qtensors are converted with the signatures.
// CHECK-LABEL: func.func @callee
// CHECK-SAME: (%{{.*}}: tensor<2x1xi32>, %{{.*}}: tensor<2x1xf16>) -> (tensor<2x1xi32>, tensor<2x1xf16>)
// CHECK-LABEL: func.func @caller
// CHECK: %[[R:.*]]:2 = call @callee(%{{.*}}, %{{.*}}) : (tensor<2x1xi32>, tensor<2x1xf16>) -> (tensor<2x1xi32>, tensor<2x1xf16>)
// CHECK: return %[[R]]#0, %[[R]]#1
func.func @callee(%q: !mixq.qtensor<2x8, #mixq.affine<bits = 4, group = 8, symmetric = true>>)
    -> !mixq.qtensor<2x8, #mixq.affine<bits = 4, group = 8, symmetric = true>> {
  return %q : !mixq.qtensor<2x8, #mixq.affine<bits = 4, group = 8, symmetric = true>>
}
func.func @caller(%codes: tensor<2x1xi32>, %scales: tensor<2x1xf16>)
    -> !mixq.qtensor<2x8, #mixq.affine<bits = 4, group = 8, symmetric = true>> {
  %q = mixq.assemble %codes, %scales : tensor<2x1xi32>, tensor<2x1xf16>
      -> !mixq.qtensor<2x8, #mixq.affine<bits = 4, group = 8, symmetric = true>>
  %r = call @callee(%q) : (!mixq.qtensor<2x8, #mixq.affine<bits = 4, group = 8, symmetric = true>>)
      -> !mixq.qtensor<2x8, #mixq.affine<bits = 4, group = 8, symmetric = true>>
  return %r : !mixq.qtensor<2x8, #mixq.affine<bits = 4, group = 8, symmetric = true>>
}

// -----

// #mixq.lut: the code is extracted from the packed words, widened to an
// index and used to read the row's codebook entry lut[row, code].
// CHECK-LABEL: func.func @dequantize_lut
// CHECK-SAME: (%[[CODES:.*]]: tensor<4x2xi32>, %[[LUT:.*]]: tensor<4x4xf16>) -> tensor<4x32xf32>
// CHECK: linalg.generic
// CHECK: %[[ROW:.*]] = linalg.index 0
// CHECK: tensor.extract %[[CODES]][%[[ROW]], %{{.*}}] : tensor<4x2xi32>
// CHECK: %[[CODE:.*]] = arith.andi
// CHECK: %[[ENTRY:.*]] = arith.index_castui %[[CODE]] : i32 to index
// CHECK: %[[V:.*]] = tensor.extract %[[LUT]][%[[ROW]], %[[ENTRY]]] : tensor<4x4xf16>
// CHECK: %[[F:.*]] = arith.extf %[[V]] : f16 to f32
// CHECK: linalg.yield %[[F]] : f32
// CHECK-NOT: mixq.
func.func @dequantize_lut(%q: !mixq.qtensor<4x32, #mixq.lut<bits = 2>>) -> tensor<4x32xf32> {
  %w = mixq.dequantize %q : !mixq.qtensor<4x32, #mixq.lut<bits = 2>> -> tensor<4x32xf32>
  return %w : tensor<4x32xf32>
}

// -----

// #mixq.mixed (quant/MixedQuantizer.h step 6): the group's bit is read from
// the bit map, its high_codes row is high_group_start of its map word plus
// the popcount of the map bits below it (no loop over the row), the scale
// is fp16(fma) of its scale code and block_params, and the zero point its
// zero code. Every code is widened to 4 bits: the low code shifted up, the
// extra bits below, from the group's row of high_codes when it is high,
// else from the last row, all zeros (a select, no branch);
// w = (qq - zero) * scale. An
// scf.for over the row's CSR slice adds the outlier residual where the
// column matches (the reference form; kernels use buildSparseDot).
// CHECK-LABEL: func.func @dequantize_mixed
// CHECK-SAME: (%[[LOW:[^:]*]]: tensor<2x8xi32>, %[[HIGH:[^:]*]]: tensor<2x4xi32>, %[[START:[^:]*]]: tensor<2x1xi32>, %[[MAP:[^:]*]]: tensor<2x1xi32>, %[[SC:[^:]*]]: tensor<2x2xi8>, %[[ZC:[^:]*]]: tensor<2x1xi32>, %[[BLOCK:[^:]*]]: tensor<2x2xf16>, %[[PTR:[^:]*]]: tensor<3xi32>, %[[COLS:[^:]*]]: tensor<1xi16>, %[[VALS:[^:]*]]: tensor<1xf16>) -> tensor<2x128xf32>
// CHECK: linalg.generic
// CHECK: %[[ROW:.*]] = linalg.index 0
// CHECK: %[[COL:.*]] = linalg.index 1
// CHECK: %[[WORD:.*]] = tensor.extract %[[MAP]][%[[ROW]], %{{.*}}] : tensor<2x1xi32>
// CHECK: %[[HIGHP:.*]] = arith.cmpi ne
// CHECK: tensor.extract %[[START]][%[[ROW]], %{{.*}}] : tensor<2x1xi32>
// CHECK: arith.andi %[[WORD]]
// CHECK: %[[H:.*]] = arith.addi %{{.*}}, %{{.*}} : i32
// CHECK: %[[HI:.*]] = arith.index_castui %[[H]]
// CHECK: %[[EXTRAROW:.*]] = arith.select %[[HIGHP]], %[[HI]], %c1 : index
// CHECK-NOT: scf.for
// CHECK: tensor.extract %[[BLOCK]]
// CHECK: tensor.extract %[[BLOCK]]
// CHECK: tensor.extract %[[SC]][%[[ROW]], %{{.*}}] : tensor<2x2xi8>
// CHECK: arith.uitofp %{{.*}} : i8 to f32
// CHECK: math.fma
// CHECK: %[[SCALE16:.*]] = arith.truncf %{{.*}} : f32 to f16
// CHECK: %[[SCALE:.*]] = arith.extf %[[SCALE16]]
// CHECK: tensor.extract %[[ZC]]
// CHECK: %[[ZERO:.*]] = arith.uitofp %{{.*}} : i32 to f32
// CHECK: tensor.extract %[[LOW]][%[[ROW]], %{{.*}}] : tensor<2x8xi32>
// CHECK-NOT: scf.if
// CHECK: tensor.extract %[[HIGH]][%[[EXTRAROW]], %{{.*}}] : tensor<2x4xi32>
// CHECK: %[[EXTRA:.*]] = arith.andi
// CHECK: %[[CODE:.*]] = arith.ori %{{.*}}, %[[EXTRA]] : i32
// CHECK: %[[Q:.*]] = arith.uitofp %[[CODE]] : i32 to f32
// CHECK: %[[CENTERED:.*]] = arith.subf %[[Q]], %[[ZERO]]
// CHECK: %[[DENSE:.*]] = arith.mulf %[[CENTERED]], %[[SCALE]]
// CHECK: tensor.extract %[[PTR]][%[[ROW]]]
// CHECK: tensor.extract %[[PTR]]
// CHECK: %[[W:.*]] = scf.for %[[E:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[ACC:.*]] = %[[DENSE]]) -> (f32) {
// CHECK:   %[[C:.*]] = tensor.extract %[[COLS]][%[[E]]] : tensor<1xi16>
// CHECK:   %[[CI:.*]] = arith.index_castui %[[C]] : i16 to index
// CHECK:   %[[HIT:.*]] = arith.cmpi eq, %[[CI]], %[[COL]] : index
// CHECK:   tensor.extract %[[VALS]][%[[E]]] : tensor<1xf16>
// CHECK:   %[[SUM:.*]] = arith.addf %[[DENSE]]
// CHECK:   arith.select %[[HIT]], %[[SUM]], %[[ACC]] : f32
// CHECK: linalg.yield %[[W]] : f32
// CHECK-NOT: mixq.
func.func @dequantize_mixed(%q: !mixq.qtensor<2x128, #mixq.mixed<group = 64, hi_frac = 0.25, outliers = 0.005>>) -> tensor<2x128xf32> {
  %w = mixq.dequantize %q : !mixq.qtensor<2x128, #mixq.mixed<group = 64, hi_frac = 0.25, outliers = 0.005>> -> tensor<2x128xf32>
  return %w : tensor<2x128xf32>
}

// -----

// #mixq.bitplane decoding at width 2 of 3 planes: only plane0 and plane1 are
// read (one bit each, plane0 shifted up by 1), and the code indexes lut2.
// CHECK-LABEL: func.func @dequantize_bitplane
// CHECK-SAME: (%[[P0:[^:]*]]: tensor<2x1xi32>, %[[P1:[^:]*]]: tensor<2x1xi32>, %[[P2:[^:]*]]: tensor<2x1xi32>, %[[L2:[^:]*]]: tensor<2x4xf16>, %[[L3:[^:]*]]: tensor<2x8xf16>) -> tensor<2x16xf32>
// CHECK: linalg.generic
// CHECK: %[[ROW:.*]] = linalg.index 0
// CHECK: tensor.extract %[[P0]][%[[ROW]], %{{.*}}] : tensor<2x1xi32>
// CHECK: %[[B0:.*]] = arith.andi
// CHECK: %[[HI:.*]] = arith.shli %[[B0]]
// CHECK: tensor.extract %[[P1]][%[[ROW]], %{{.*}}] : tensor<2x1xi32>
// CHECK: %[[B1:.*]] = arith.andi
// CHECK: %[[CODE:.*]] = arith.ori %[[HI]], %[[B1]] : i32
// CHECK: %[[ENTRY:.*]] = arith.index_castui %[[CODE]] : i32 to index
// CHECK: %[[V:.*]] = tensor.extract %[[L2]][%[[ROW]], %[[ENTRY]]] : tensor<2x4xf16>
// CHECK: %[[F:.*]] = arith.extf %[[V]] : f16 to f32
// CHECK: linalg.yield %[[F]] : f32
// CHECK-NOT: tensor.extract %[[P2]]
// CHECK-NOT: mixq.
func.func @dequantize_bitplane(%q: !mixq.qtensor<2x16, #mixq.bitplane<seed = 2, parent = 3, width = 2>>) -> tensor<2x16xf32> {
  %w = mixq.dequantize %q : !mixq.qtensor<2x16, #mixq.bitplane<seed = 2, parent = 3, width = 2>> -> tensor<2x16xf32>
  return %w : tensor<2x16xf32>
}
