// Round trip of the #mixq.lut scheme: parse -> print -> parse, in custom and
// generic form, in every position a scheme can appear.
// RUN: mixq-opt %s | mixq-opt | FileCheck %s
// RUN: mixq-opt %s --mlir-print-op-generic | mixq-opt | FileCheck %s

// CHECK-LABEL: func.func @scheme_bits
// CHECK-SAME: !mixq.qtensor<8x64, #mixq.lut<bits = 2>>
// CHECK-SAME: !mixq.qtensor<8x64, #mixq.lut<bits = 3>>
// CHECK-SAME: !mixq.qtensor<8x64, #mixq.lut<bits = 4>>
func.func @scheme_bits(%a: !mixq.qtensor<8x64, #mixq.lut<bits = 2>>,
                       %b: !mixq.qtensor<8x64, #mixq.lut<bits = 3>>,
                       %c: !mixq.qtensor<8x64, #mixq.lut<bits = 4>>) {
  return
}

// CHECK-LABEL: func.func @weight
// CHECK: mixq.weight @blk0.wq : !mixq.qtensor<64x128, #mixq.lut<bits = 3>>
func.func @weight() -> !mixq.qtensor<64x128, #mixq.lut<bits = 3>> {
  %w = mixq.weight @blk0.wq : !mixq.qtensor<64x128, #mixq.lut<bits = 3>>
  return %w : !mixq.qtensor<64x128, #mixq.lut<bits = 3>>
}

// Components of an N x K matrix: codes i32 N x ceil(K * bits / 32) and the
// f16 codebook N x 2^bits. 2 x 40 at 3 bits: 120 bits -> 4 words per row.
// CHECK-LABEL: func.func @assemble
// CHECK: mixq.assemble %{{.*}}, %{{.*}} : tensor<2x4xi32>, tensor<2x8xf16> -> !mixq.qtensor<2x40, #mixq.lut<bits = 3>>
func.func @assemble(%codes: tensor<2x4xi32>, %lut: tensor<2x8xf16>)
    -> !mixq.qtensor<2x40, #mixq.lut<bits = 3>> {
  %q = mixq.assemble %codes, %lut : tensor<2x4xi32>, tensor<2x8xf16>
      -> !mixq.qtensor<2x40, #mixq.lut<bits = 3>>
  return %q : !mixq.qtensor<2x40, #mixq.lut<bits = 3>>
}

// CHECK-LABEL: func.func @ops
// CHECK: mixq.quantize %{{.*}} : tensor<64x128xf32> -> !mixq.qtensor<64x128, #mixq.lut<bits = 4>>
// CHECK: mixq.dequantize %{{.*}} : !mixq.qtensor<64x128, #mixq.lut<bits = 4>> -> tensor<64x128xf16>
// CHECK: mixq.matmul %{{.*}}, %{{.*}} : tensor<?x128xf16>, !mixq.qtensor<64x128, #mixq.lut<bits = 4>> -> tensor<?x64xf16>
func.func @ops(%w: tensor<64x128xf32>, %x: tensor<?x128xf16>)
    -> (tensor<64x128xf16>, tensor<?x64xf16>) {
  %q = mixq.quantize %w : tensor<64x128xf32>
      -> !mixq.qtensor<64x128, #mixq.lut<bits = 4>>
  %d = mixq.dequantize %q : !mixq.qtensor<64x128, #mixq.lut<bits = 4>>
      -> tensor<64x128xf16>
  %y = mixq.matmul %x, %q : tensor<?x128xf16>,
      !mixq.qtensor<64x128, #mixq.lut<bits = 4>> -> tensor<?x64xf16>
  return %d, %y : tensor<64x128xf16>, tensor<?x64xf16>
}
