// RUN: mixq-opt %s --mixq-form-dispatches --split-input-file | FileCheck %s
// RUN: mixq-opt %s --mixq-form-dispatches --split-input-file | \
// RUN:   mixq-opt --mixq-form-dispatches --split-input-file | FileCheck %s

// One decoder-layer slice: every compute op becomes a kernel call; weights
// stay in the host function; the residual add joins the matmul's dispatch;
// the position vector is recomputed inside the rope kernel from start_pos.

// CHECK-LABEL: func.func @decode(
// CHECK-SAME:    %[[TOK:.*]]: tensor<1xi32>, %[[POS:.*]]: index, %[[KC:.*]]: tensor<16x8xf32>, %[[VC:.*]]: tensor<16x8xf32>)
// CHECK-NOT:     tensor.generate
// CHECK:         %[[E:.*]] = llm.weight @tok_embed
// CHECK:         %[[X:.*]] = call @decode_k0_embed(%[[E]], %[[TOK]])
// CHECK:         %[[NW:.*]] = llm.weight @norm
// CHECK:         %[[N:.*]] = call @decode_k1_rms_norm(%[[X]], %[[NW]])
// CHECK:         %[[WQ:.*]] = mixq.weight @q
// CHECK:         %[[Q:.*]] = call @decode_k2_matmul(%[[N]], %[[WQ]])
// CHECK:         %[[WK:.*]] = mixq.weight @k
// CHECK:         %[[K:.*]] = call @decode_k2_matmul(%[[N]], %[[WK]])
// CHECK:         %[[QR:.*]] = call @decode_k3_rope(%[[Q]], %[[POS]])
// A value used twice (k doubles as v here) is passed once.
// CHECK:         %[[A:.*]]:3 = call @decode_k4_attention(%[[QR]], %[[K]], %[[KC]], %[[VC]], %[[POS]])
// CHECK:         %[[WO:.*]] = mixq.weight @o
// CHECK:         %[[R:.*]] = call @decode_k5_matmul_add(%[[A]]#0, %[[WO]], %[[X]])
// CHECK:         return %[[R]], %[[A]]#1, %[[A]]#2

// CHECK-LABEL: func.func private @decode_k0_embed(
// CHECK-SAME:    attributes {mixq.kernel}
// CHECK:         llm.embed

// The two projections have identical bodies: one kernel serves both.
// CHECK-LABEL: func.func private @decode_k2_matmul(
// CHECK-SAME:    %{{.*}}: tensor<1x8xf32>, %{{.*}}: !mixq.qtensor<8x8, #mixq.affine<bits = 4, group = 8>>) -> tensor<1x8xf32>
// CHECK-NOT:   func.func private @decode_k{{.*}}_matmul(

// CHECK-LABEL: func.func private @decode_k3_rope(
// CHECK-SAME:    %[[IN:.*]]: tensor<1x8xf32>, %[[P:.*]]: index)
// CHECK:         %[[G:.*]] = tensor.generate
// CHECK:           arith.addi %{{.*}}, %[[P]]
// CHECK:         llm.rope %[[IN]], %[[G]]

// The caches are updated in place: results 1 and 2 are tied to arguments 2
// and 3.
// CHECK-LABEL: func.func private @decode_k4_attention(
// CHECK-SAME:    mixq.kernel, mixq.tied = array<i64: 1, 2, 2, 3>

// CHECK-LABEL: func.func private @decode_k5_matmul_add(
// CHECK-SAME:    %[[AI:.*]]: tensor<1x8xf32>, %[[W:.*]]: !mixq.qtensor<8x8, #mixq.affine<bits = 4, group = 8>>, %[[RES:.*]]: tensor<1x8xf32>)
// CHECK:         %[[M:.*]] = mixq.matmul %[[AI]], %[[W]]
// CHECK:         %[[S:.*]] = llm.add %[[RES]], %[[M]]
// CHECK:         return %[[S]]

!q = !mixq.qtensor<8x8, #mixq.affine<bits = 4, group = 8>>
func.func @decode(%tok: tensor<1xi32>, %pos: index, %kc: tensor<16x8xf32>,
                  %vc: tensor<16x8xf32>)
    -> (tensor<1x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>) {
  %positions = tensor.generate {
  ^bb0(%i: index):
    %p = arith.addi %i, %pos : index
    %p32 = arith.index_cast %p : index to i32
    tensor.yield %p32 : i32
  } : tensor<1xi32>
  %e = llm.weight @tok_embed : tensor<32x8xf32>
  %x = llm.embed %e, %tok : tensor<32x8xf32>, tensor<1xi32> -> tensor<1x8xf32>
  %nw = llm.weight @norm : tensor<8xf32>
  %n = llm.rms_norm %x, %nw {eps = 1.0e-5 : f32} : tensor<1x8xf32>, tensor<8xf32> -> tensor<1x8xf32>
  %wq = mixq.weight @q : !q
  %q = mixq.matmul %n, %wq : tensor<1x8xf32>, !q -> tensor<1x8xf32>
  %wk = mixq.weight @k : !q
  %k = mixq.matmul %n, %wk : tensor<1x8xf32>, !q -> tensor<1x8xf32>
  %qr = llm.rope %q, %positions {num_heads = 1 : i64, head_dim = 8 : i64, theta = 1.0e+04 : f32, layout = #llm.rope_layout<interleaved>} : tensor<1x8xf32>, tensor<1xi32> -> tensor<1x8xf32>
  %o, %kc1, %vc1 = llm.attention %qr, %k, %k, %kc, %vc, %pos {num_heads = 1 : i64, num_kv_heads = 1 : i64, head_dim = 8 : i64} : tensor<1x8xf32>, tensor<1x8xf32>, tensor<1x8xf32>, tensor<16x8xf32>, tensor<16x8xf32> -> tensor<1x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>
  %wo = mixq.weight @o : !q
  %proj = mixq.matmul %o, %wo : tensor<1x8xf32>, !q -> tensor<1x8xf32>
  %r = llm.add %x, %proj : tensor<1x8xf32>, tensor<1x8xf32> -> tensor<1x8xf32>
  return %r, %kc1, %vc1 : tensor<1x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>
}

// -----

// A matmul whose result has another user keeps its own dispatch: fusing the
// add would force a second write of the matmul result anyway.

// CHECK-LABEL: func.func @two_users(
// CHECK:         %[[M:.*]] = call @two_users_k0_linear(
// CHECK:         %[[S:.*]] = call @two_users_k1_add(%[[M]])
// CHECK:         return %[[S]]
func.func @two_users(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %w = llm.weight @w : tensor<4x4xf32>
  %m = llm.linear %x, %w : tensor<?x4xf32>, tensor<4x4xf32> -> tensor<?x4xf32>
  %s = llm.add %m, %m : tensor<?x4xf32>, tensor<?x4xf32> -> tensor<?x4xf32>
  return %s : tensor<?x4xf32>
}

// -----

// Kernels are not entry points: running the pass twice changes nothing.

// CHECK-LABEL: func.func @idempotent(
// CHECK:         call @idempotent_k0_swiglu
// CHECK-LABEL: func.func private @idempotent_k0_swiglu(
// CHECK-NOT:   func.func private
func.func @idempotent(%a: tensor<2x4xf32>, %b: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %r = llm.swiglu %a, %b : tensor<2x4xf32>, tensor<2x4xf32> -> tensor<2x4xf32>
  return %r : tensor<2x4xf32>
}
