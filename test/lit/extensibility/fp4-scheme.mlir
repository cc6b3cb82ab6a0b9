// Extensibility proof: #mixq_test.fp4 is defined only under test/lib and
// implements QuantSchemeAttrInterface; nothing in dialect/ or passes/ names
// it. It round-trips, verifies, folds through its host quantizer, and lowers
// and runs through the generic reference lowering.
//
// RUN: mixq-opt --load-dialect-plugin=%fp4_plugin %s --split-input-file | mixq-opt --load-dialect-plugin=%fp4_plugin --split-input-file | FileCheck %s --check-prefix=ROUNDTRIP
// RUN: mixq-opt --load-dialect-plugin=%fp4_plugin %s --split-input-file --mixq-lower-to-linalg | FileCheck %s --check-prefix=LOWER
// RUN: mixq-opt --load-dialect-plugin=%fp4_plugin %s --split-input-file --canonicalize | FileCheck %s --check-prefix=FOLD

// ROUNDTRIP-LABEL: func.func @fp4
// ROUNDTRIP: mixq.matmul %{{.*}}, %{{.*}} : tensor<1x16xf32>, !mixq.qtensor<2x16, #mixq_test.fp4<group = 8>> -> tensor<1x2xf32>
// LOWER-LABEL: func.func @fp4
// LOWER-SAME: tensor<2x2xi32>, %{{.*}}: tensor<2x2xf16>
// LOWER: linalg.generic
// LOWER: arith.shli
// LOWER: arith.select
// LOWER-NOT: mixq.
func.func @fp4(%x: tensor<1x16xf32>, %w: !mixq.qtensor<2x16, #mixq_test.fp4<group = 8>>) -> tensor<1x2xf32> {
  %y = mixq.matmul %x, %w : tensor<1x16xf32>, !mixq.qtensor<2x16, #mixq_test.fp4<group = 8>> -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}

// -----

// The host quantizer folds constants: one group of 8 with max |w| = 6, so
// scale = 6 / 6 = 1 and each weight is its own e2m1 code:
//   w    = 0    0.5  1    1.5  -2    3    -4    6
//   code = 0x0  0x1  0x2  0x3  0xC   0x5  0xE   0x7
// Nibbles LSB first give the word 0x7E5C3210 = 2119971344.
// FOLD-LABEL: func.func @fold_fp4
// FOLD-DAG: arith.constant dense<2119971344> : tensor<1x1xi32>
// FOLD-DAG: arith.constant dense<1.000000e+00> : tensor<1x1xf16>
// FOLD: mixq.assemble
func.func @fold_fp4() -> !mixq.qtensor<1x8, #mixq_test.fp4<group = 8>> {
  %w = arith.constant dense<[[0.0, 0.5, 1.0, 1.5, -2.0, 3.0, -4.0, 6.0]]> : tensor<1x8xf32>
  %q = mixq.quantize %w : tensor<1x8xf32> -> !mixq.qtensor<1x8, #mixq_test.fp4<group = 8>>
  return %q : !mixq.qtensor<1x8, #mixq_test.fp4<group = 8>>
}


// -----

// With act_bits, mixq.quantize_act lowers through the interface's defaults:
// no column passes through (a constant false, folded away), the per-token
// range and the asymmetric rounding of buildAsymmetricActivation.
// ROUNDTRIP-LABEL: func.func @fp4_act
// ROUNDTRIP: mixq.quantize_act %{{.*}}, %{{.*}} bits = 8 : tensor<?x16xf32>, !mixq.qtensor<2x16, #mixq_test.fp4<group = 8, act_bits = 8>> -> tensor<?x16xf32>
// LOWER-LABEL: func.func @fp4_act
// LOWER: linalg.generic
// LOWER-SAME: iterator_types = ["parallel", "reduction"]
// LOWER-NOT: tensor.extract
// LOWER: linalg.generic
// LOWER: math.round
// LOWER: math.round
// LOWER-NOT: mixq.
func.func @fp4_act(%x: tensor<?x16xf32>,
                   %w: !mixq.qtensor<2x16, #mixq_test.fp4<group = 8, act_bits = 8>>)
    -> tensor<?x16xf32> {
  %xq = mixq.quantize_act %x, %w bits = 8 : tensor<?x16xf32>,
      !mixq.qtensor<2x16, #mixq_test.fp4<group = 8, act_bits = 8>> -> tensor<?x16xf32>
  return %xq : tensor<?x16xf32>
}
