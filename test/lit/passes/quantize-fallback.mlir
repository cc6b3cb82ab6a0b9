// RUN: mixq-opt %s --mixq-quantize="scheme=mixed" -verify-diagnostics | FileCheck %s
// RUN: mixq-opt %s --mixq-quantize="scheme=affine:bits=4,group=128" 2>/dev/null | FileCheck %s --check-prefix=AFFINE

// A weight the scheme cannot describe falls back to a close scheme that can
// (QuantSchemeAttrInterface::getShapeFallback), with a warning naming the
// weight, the reason and the scheme used; the weight op keeps the scheme
// asked for in mixq.requested_scheme (mixq-compile --report shows it).
// mixed takes the largest power-of-two group below its own that divides K
// and keeps whole words (K = 288: 32), else affine at its high-group width
// with such a group (K = 172: 4). A weight that fits is left alone.

// CHECK-LABEL: func.func @block
// CHECK: mixq.weight @blk0.q_proj : !mixq.qtensor<64x64, #mixq.mixed<group = 64>>
// CHECK: mixq.weight @blk0.up_proj {mixq.requested_scheme = #mixq.mixed<group = 64>} : !mixq.qtensor<64x288, #mixq.mixed<group = 32>>
// CHECK: mixq.weight @blk0.down_proj {mixq.requested_scheme = #mixq.mixed<group = 64>} : !mixq.qtensor<64x172, #mixq.affine<bits = 4, group = 4>>

// affine takes the largest power-of-two group below its own dividing K.
// AFFINE: mixq.weight @blk0.q_proj {mixq.requested_scheme = #mixq.affine<bits = 4, group = 128>} : !mixq.qtensor<64x64, #mixq.affine<bits = 4, group = 64>>
// AFFINE: mixq.weight @blk0.up_proj {mixq.requested_scheme = #mixq.affine<bits = 4, group = 128>} : !mixq.qtensor<64x288, #mixq.affine<bits = 4, group = 32>>
// AFFINE: mixq.weight @blk0.down_proj {mixq.requested_scheme = #mixq.affine<bits = 4, group = 128>} : !mixq.qtensor<64x172, #mixq.affine<bits = 4, group = 4>>

func.func @block(%x: tensor<1x64xf32>, %h: tensor<1x288xf32>, %f: tensor<1x172xf32>) -> (tensor<1x64xf32>, tensor<1x64xf32>, tensor<1x64xf32>) {
  %wq = llm.weight @blk0.q_proj : tensor<64x64xf32>
  %q = llm.linear %x, %wq : tensor<1x64xf32>, tensor<64x64xf32> -> tensor<1x64xf32>
  %wu = llm.weight @blk0.up_proj : tensor<64x288xf32>
  // expected-warning @below {{weight @blk0.up_proj of shape 64x288: mixed 'group' (64) does not divide the number of inputs K = 288; quantized with #mixq.mixed<group = 32> instead}}
  %u = llm.linear %h, %wu : tensor<1x288xf32>, tensor<64x288xf32> -> tensor<1x64xf32>
  %wd = llm.weight @blk0.down_proj : tensor<64x172xf32>
  // expected-warning @below {{weight @blk0.down_proj of shape 64x172: mixed 'group' (64) does not divide the number of inputs K = 172; quantized with #mixq.affine<bits = 4, group = 4> instead}}
  %d = llm.linear %f, %wd : tensor<1x172xf32>, tensor<64x172xf32> -> tensor<1x64xf32>
  return %q, %u, %d : tensor<1x64xf32>, tensor<1x64xf32>, tensor<1x64xf32>
}
