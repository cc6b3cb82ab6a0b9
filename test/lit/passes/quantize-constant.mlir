// RUN: mixq-opt %s --mixq-quantize="scheme=affine:bits=4,group=4" | FileCheck %s
// RUN: mixq-opt %s --mixq-quantize="scheme=affine:bits=4,group=4" --canonicalize | FileCheck %s --check-prefix=FOLD

// A constant weight (small lit tests) becomes mixq.quantize of the
// constant, which canonicalization folds with the host quantizer.
// Row 0 is 0..3 (asymmetric 4-bit: scale = 3/15 = 0.2, stored as f16
// 0.19995, zero 0, codes 0, 5, 10, 15 -> word 0 + 5*16 + 10*256 + 15*4096 =
// 64080). Row 1 is all 1.0, a flat group: scale 1, zero 0, codes 1 -> word
// 1 + 16 + 256 + 4096 = 4369.

// CHECK-LABEL: func.func @constant_weight
// CHECK: %[[W:.*]] = arith.constant dense<{{.*}}> : tensor<2x4xf32>
// CHECK: %[[Q:.*]] = mixq.quantize %[[W]] : tensor<2x4xf32> -> !mixq.qtensor<2x4, #mixq.affine<bits = 4, group = 4>>
// CHECK: mixq.matmul %{{.*}}, %[[Q]]

// FOLD-LABEL: func.func @constant_weight
// FOLD-NOT: mixq.quantize
// FOLD-DAG: arith.constant dense<{{\[}}[64080], [4369]]> : tensor<2x1xi32>
// FOLD-DAG: arith.constant dense<{{\[}}[1.999510e-01], [1.000000e+00]]> : tensor<2x1xf16>
// FOLD: mixq.assemble
// FOLD: mixq.matmul
func.func @constant_weight(%x: tensor<1x4xf32>) -> tensor<1x2xf32> {
  %w = arith.constant dense<[[0.0, 1.0, 2.0, 3.0], [1.0, 1.0, 1.0, 1.0]]> : tensor<2x4xf32>
  %y = llm.linear %x, %w : tensor<1x4xf32>, tensor<2x4xf32> -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}
