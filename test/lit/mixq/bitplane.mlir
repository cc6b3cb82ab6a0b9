// Round trip of the #mixq.bitplane scheme: parse -> print -> parse, in custom
// and generic form, in every position a scheme can appear. `width` is
// printed only when given.
// RUN: mixq-opt %s | mixq-opt | FileCheck %s
// RUN: mixq-opt %s --mlir-print-op-generic | mixq-opt | FileCheck %s

// CHECK-LABEL: func.func @scheme_params
// CHECK-SAME: !mixq.qtensor<8x64, #mixq.bitplane<seed = 2, parent = 4>>
// CHECK-SAME: !mixq.qtensor<8x64, #mixq.bitplane<seed = 2, parent = 4, width = 3>>
// CHECK-SAME: !mixq.qtensor<8x64, #mixq.bitplane<seed = 1, parent = 8, width = 1>>
// CHECK-SAME: !mixq.qtensor<8x64, #mixq.bitplane<seed = 3, parent = 3>>
func.func @scheme_params(
    %a: !mixq.qtensor<8x64, #mixq.bitplane<seed = 2, parent = 4>>,
    %b: !mixq.qtensor<8x64, #mixq.bitplane<seed = 2, parent = 4, width = 3>>,
    %c: !mixq.qtensor<8x64, #mixq.bitplane<width = 1, parent = 8, seed = 1>>,
    %d: !mixq.qtensor<8x64, #mixq.bitplane<seed = 3, parent = 3>>) {
  return
}

// CHECK-LABEL: func.func @weight
// CHECK: mixq.weight @blk0.wq : !mixq.qtensor<64x128, #mixq.bitplane<seed = 3, parent = 4>>
func.func @weight() -> !mixq.qtensor<64x128, #mixq.bitplane<seed = 3, parent = 4>> {
  %w = mixq.weight @blk0.wq : !mixq.qtensor<64x128, #mixq.bitplane<seed = 3, parent = 4>>
  return %w : !mixq.qtensor<64x128, #mixq.bitplane<seed = 3, parent = 4>>
}

// Components of an N x K matrix: `parent` i32 planes N x ceil(K / 32), then
// one f16 LUT N x 2^b per width b = seed .. parent, whatever `width` is.
// 2 x 40, seed 2, parent 4: planes 2 x 2, LUTs 2 x 4, 2 x 8, 2 x 16;
// (4 * 2 * 32 + 16 * (4 + 8 + 16)) / 40 = 14.4 bits per weight.
// CHECK-LABEL: func.func @assemble
// CHECK: mixq.assemble %{{.*}} : tensor<2x2xi32>, tensor<2x2xi32>, tensor<2x2xi32>, tensor<2x2xi32>, tensor<2x4xf16>, tensor<2x8xf16>, tensor<2x16xf16> -> !mixq.qtensor<2x40, #mixq.bitplane<seed = 2, parent = 4, width = 3>>
func.func @assemble(%p0: tensor<2x2xi32>, %p1: tensor<2x2xi32>,
                    %p2: tensor<2x2xi32>, %p3: tensor<2x2xi32>,
                    %l2: tensor<2x4xf16>, %l3: tensor<2x8xf16>,
                    %l4: tensor<2x16xf16>)
    -> !mixq.qtensor<2x40, #mixq.bitplane<seed = 2, parent = 4, width = 3>> {
  %q = mixq.assemble %p0, %p1, %p2, %p3, %l2, %l3, %l4
      : tensor<2x2xi32>, tensor<2x2xi32>, tensor<2x2xi32>, tensor<2x2xi32>,
        tensor<2x4xf16>, tensor<2x8xf16>, tensor<2x16xf16>
      -> !mixq.qtensor<2x40, #mixq.bitplane<seed = 2, parent = 4, width = 3>>
  return %q : !mixq.qtensor<2x40, #mixq.bitplane<seed = 2, parent = 4, width = 3>>
}

// CHECK-LABEL: func.func @ops
// CHECK: mixq.quantize %{{.*}} : tensor<64x128xf32> -> !mixq.qtensor<64x128, #mixq.bitplane<seed = 2, parent = 4>>
// CHECK: mixq.dequantize %{{.*}} : !mixq.qtensor<64x128, #mixq.bitplane<seed = 2, parent = 4>> -> tensor<64x128xf16>
// CHECK: mixq.matmul %{{.*}}, %{{.*}} : tensor<?x128xf16>, !mixq.qtensor<64x128, #mixq.bitplane<seed = 2, parent = 4>> -> tensor<?x64xf16>
func.func @ops(%w: tensor<64x128xf32>, %x: tensor<?x128xf16>)
    -> (tensor<64x128xf16>, tensor<?x64xf16>) {
  %q = mixq.quantize %w : tensor<64x128xf32>
      -> !mixq.qtensor<64x128, #mixq.bitplane<seed = 2, parent = 4>>
  %d = mixq.dequantize %q : !mixq.qtensor<64x128, #mixq.bitplane<seed = 2, parent = 4>>
      -> tensor<64x128xf16>
  %y = mixq.matmul %x, %q : tensor<?x128xf16>,
      !mixq.qtensor<64x128, #mixq.bitplane<seed = 2, parent = 4>> -> tensor<?x64xf16>
  return %d, %y : tensor<64x128xf16>, tensor<?x64xf16>
}
