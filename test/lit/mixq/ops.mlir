// Round trip of every mixq op, type and attribute: parse -> print -> parse,
// in custom and generic form.
// RUN: mixq-opt %s | mixq-opt | FileCheck %s
// RUN: mixq-opt %s --mlir-print-op-generic | mixq-opt | FileCheck %s

// CHECK-LABEL: func.func @weight
// CHECK: mixq.weight @blk0.wq : !mixq.qtensor<64x128, #mixq.affine<bits = 4, group = 32>>
func.func @weight() -> !mixq.qtensor<64x128, #mixq.affine<bits = 4, group = 32>> {
  %w = mixq.weight @blk0.wq : !mixq.qtensor<64x128, #mixq.affine<bits = 4, group = 32>>
  return %w : !mixq.qtensor<64x128, #mixq.affine<bits = 4, group = 32>>
}

// Defaults are elided when printing; non-default parameters are kept.
// CHECK-LABEL: func.func @scheme_parameters
// CHECK-SAME: !mixq.qtensor<8x64, #mixq.affine<bits = 2, group = 64>>
// CHECK-SAME: !mixq.qtensor<8x64, #mixq.affine<bits = 3, group = 32, symmetric = true, scale = bf16>>
// CHECK-SAME: !mixq.qtensor<8x64, #mixq.affine<bits = 8, group = 16, scale = f32>>
func.func @scheme_parameters(
    %a: !mixq.qtensor<8x64, #mixq.affine<bits = 2, group = 64, symmetric = false>>,
    %b: !mixq.qtensor<8x64, #mixq.affine<group = 32, bits = 3, symmetric = true, scale = bf16>>,
    %c: !mixq.qtensor<8x64, #mixq.affine<bits = 8, group = 16, scale = f32>>) {
  return
}

// CHECK-LABEL: func.func @assemble
// CHECK: mixq.assemble %{{.*}}, %{{.*}}, %{{.*}} : tensor<2x1xi32>, tensor<2x2xf16>, tensor<2x2xf16> -> !mixq.qtensor<2x8, #mixq.affine<bits = 4, group = 4>>
func.func @assemble(%codes: tensor<2x1xi32>, %scales: tensor<2x2xf16>,
                    %zeros: tensor<2x2xf16>)
    -> !mixq.qtensor<2x8, #mixq.affine<bits = 4, group = 4>> {
  %q = mixq.assemble %codes, %scales, %zeros
      : tensor<2x1xi32>, tensor<2x2xf16>, tensor<2x2xf16>
      -> !mixq.qtensor<2x8, #mixq.affine<bits = 4, group = 4>>
  return %q : !mixq.qtensor<2x8, #mixq.affine<bits = 4, group = 4>>
}

// CHECK-LABEL: func.func @quantize
// CHECK: mixq.quantize %{{.*}} : tensor<64x128xf32> -> !mixq.qtensor<64x128, #mixq.affine<bits = 3, group = 64>>
func.func @quantize(%w: tensor<64x128xf32>)
    -> !mixq.qtensor<64x128, #mixq.affine<bits = 3, group = 64>> {
  %q = mixq.quantize %w : tensor<64x128xf32>
      -> !mixq.qtensor<64x128, #mixq.affine<bits = 3, group = 64>>
  return %q : !mixq.qtensor<64x128, #mixq.affine<bits = 3, group = 64>>
}

// CHECK-LABEL: func.func @dequantize
// CHECK: mixq.dequantize %{{.*}} : !mixq.qtensor<64x128, #mixq.affine<bits = 4, group = 128>> -> tensor<64x128xf16>
// CHECK: mixq.dequantize %{{.*}} : !mixq.qtensor<64x128, #mixq.affine<bits = 4, group = 128>> -> tensor<64x128xbf16>
func.func @dequantize(%q: !mixq.qtensor<64x128, #mixq.affine<bits = 4, group = 128>>)
    -> (tensor<64x128xf16>, tensor<64x128xbf16>) {
  %a = mixq.dequantize %q : !mixq.qtensor<64x128, #mixq.affine<bits = 4, group = 128>> -> tensor<64x128xf16>
  %b = mixq.dequantize %q : !mixq.qtensor<64x128, #mixq.affine<bits = 4, group = 128>> -> tensor<64x128xbf16>
  return %a, %b : tensor<64x128xf16>, tensor<64x128xbf16>
}

// CHECK-LABEL: func.func @matmul
// CHECK: mixq.matmul %{{.*}}, %{{.*}} : tensor<?x128xf16>, !mixq.qtensor<256x128, #mixq.affine<bits = 8, group = 128>> -> tensor<?x256xf16>
// CHECK: mixq.matmul %{{.*}}, %{{.*}} : tensor<1x128xf32>, !mixq.qtensor<256x128, #mixq.affine<bits = 8, group = 128>> -> tensor<1x256xf32>
func.func @matmul(%x: tensor<?x128xf16>, %x1: tensor<1x128xf32>,
                  %w: !mixq.qtensor<256x128, #mixq.affine<bits = 8, group = 128>>)
    -> (tensor<?x256xf16>, tensor<1x256xf32>) {
  %y = mixq.matmul %x, %w : tensor<?x128xf16>,
      !mixq.qtensor<256x128, #mixq.affine<bits = 8, group = 128>> -> tensor<?x256xf16>
  %y1 = mixq.matmul %x1, %w : tensor<1x128xf32>,
      !mixq.qtensor<256x128, #mixq.affine<bits = 8, group = 128>> -> tensor<1x256xf32>
  return %y, %y1 : tensor<?x256xf16>, tensor<1x256xf32>
}
