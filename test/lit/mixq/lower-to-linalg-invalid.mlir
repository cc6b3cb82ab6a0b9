// Errors of the reference lowering.
// RUN: mixq-opt %s --mixq-lower-to-linalg --split-input-file --verify-diagnostics

func.func @weight_store() -> tensor<8x64xf16> {
  // expected-error @+1 {{'mixq.weight' op cannot be lowered to linalg: the components of @blk0.wq live in the WeightStore; assemble them from tensors with mixq.assemble instead}}
  %q = mixq.weight @blk0.wq : !mixq.qtensor<8x64, #mixq.affine<bits = 4, group = 32>>
  %w = mixq.dequantize %q : !mixq.qtensor<8x64, #mixq.affine<bits = 4, group = 32>> -> tensor<8x64xf16>
  return %w : tensor<8x64xf16>
}

// -----

func.func @runtime_quantize(%w: tensor<8x64xf32>) -> tensor<8x64xf32> {
  // expected-error @+1 {{'mixq.quantize' op cannot be lowered: its input is not a constant (the reference lowering quantizes constants at compile time only)}}
  %q = mixq.quantize %w : tensor<8x64xf32> -> !mixq.qtensor<8x64, #mixq.affine<bits = 4, group = 32>>
  %r = mixq.dequantize %q : !mixq.qtensor<8x64, #mixq.affine<bits = 4, group = 32>> -> tensor<8x64xf32>
  return %r : tensor<8x64xf32>
}
