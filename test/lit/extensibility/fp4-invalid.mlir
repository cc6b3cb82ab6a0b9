// The test-only scheme's own checks run through the generic qtensor verifier.
// RUN: mixq-opt --load-dialect-plugin=%fp4_plugin %s --split-input-file --verify-diagnostics

// expected-error @+1 {{fp4 'group' (3) does not divide the number of inputs}}
func.func @bad(%w: !mixq.qtensor<2x16, #mixq_test.fp4<group = 3>>)

// -----

// expected-error @+1 {{fp4 'group' must be positive, got -8}}
func.func @negative_group(%w: !mixq.qtensor<2x16, #mixq_test.fp4<group = -8>>)

// -----

// expected-error @+1 {{fp4 'act_bits' must be in 0..32, got 33}}
func.func @act_bits_range(%w: !mixq.qtensor<2x16, #mixq_test.fp4<group = 8, act_bits = 33>>)

// -----

// A scheme may ask for activation bits that mixq.quantize_act cannot give
// (the op checks 1..16; fp4 allows up to 32 so that this can be tested).
func.func @quantize_act_bits(%x: tensor<1x16xf32>,
                             %w: !mixq.qtensor<2x16, #mixq_test.fp4<group = 8, act_bits = 20>>) {
  // expected-error @+1 {{'mixq.quantize_act' op the weight's scheme asks for 20-bit activations; mixq.quantize_act takes 1..16 bits}}
  %xq = mixq.quantize_act %x, %w bits = 20 : tensor<1x16xf32>,
      !mixq.qtensor<2x16, #mixq_test.fp4<group = 8, act_bits = 20>> -> tensor<1x16xf32>
  return
}
