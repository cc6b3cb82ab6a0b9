// RUN: mixq-opt %s --mixq-form-dispatches --split-input-file | FileCheck %s
// RUN: mixq-opt %s --mixq-form-dispatches --split-input-file | \
// RUN:   mixq-opt --mixq-form-dispatches --split-input-file | FileCheck %s
// RUN: mixq-opt %s --mixq-form-dispatches=fuse-decode=false --split-input-file | FileCheck %s --check-prefix=UNFUSED
// RUN: mixq-opt %s --mixq-form-dispatches=max-quantized-row-bytes=64 --split-input-file | FileCheck %s --check-prefix=SMALL

// One decoder-layer slice: weights stay in the host function; the attention
// norm, the q and k projections that read it and q's rope are one kernel;
// the residual add joins the o matmul's dispatch; the position vector is
// recomputed inside the kernels that rope from start_pos.

// CHECK-LABEL: func.func @decode(
// CHECK-SAME:    %[[TOK:.*]]: tensor<1xi32>, %[[POS:.*]]: index, %[[KC:.*]]: tensor<16x8xf32>, %[[VC:.*]]: tensor<16x8xf32>)
// CHECK-NOT:     tensor.generate
// CHECK:         %[[E:.*]] = llm.weight @tok_embed
// CHECK:         %[[X:.*]] = call @decode_k0_embed(%[[E]], %[[TOK]])
// CHECK:         %[[NW:.*]] = llm.weight @norm
// CHECK:         %[[WQ:.*]] = mixq.weight @q
// CHECK:         %[[WK:.*]] = mixq.weight @k
// CHECK:         %[[QK:.*]]:2 = call @decode_k1_rms_norm_matmul_matmul_rope(%[[X]], %[[NW]], %[[WQ]], %[[WK]], %[[POS]])
// A value used twice (k doubles as v here) is passed once.
// CHECK:         %[[A:.*]]:3 = call @decode_k2_attention(%[[QK]]#1, %[[QK]]#0, %[[KC]], %[[VC]], %[[POS]])
// CHECK:         %[[WO:.*]] = mixq.weight @o
// CHECK:         %[[R:.*]] = call @decode_k3_matmul_add(%[[A]]#0, %[[WO]], %[[X]])
// CHECK:         return %[[R]], %[[A]]#1, %[[A]]#2

// CHECK-LABEL: func.func private @decode_k0_embed(
// CHECK-SAME:    attributes {mixq.kernel}
// CHECK:         llm.embed

// The kernel returns its results in the order of the ops that make them:
// k (no epilogue), then q roped.
// CHECK-LABEL: func.func private @decode_k1_rms_norm_matmul_matmul_rope(
// CHECK-SAME:    %[[IN:.*]]: tensor<1x8xf32>, %[[N:.*]]: tensor<8xf32>, %[[Q:.*]]: !mixq.qtensor<8x8, #mixq.affine<bits = 4, group = 8>>, %[[K:.*]]: !mixq.qtensor<8x8, #mixq.affine<bits = 4, group = 8>>, %[[P:.*]]: index) -> (tensor<1x8xf32>, tensor<1x8xf32>)
// CHECK:         %[[G:.*]] = tensor.generate
// CHECK:           arith.addi %{{.*}}, %[[P]]
// CHECK:         %[[H:.*]] = llm.rms_norm %[[IN]], %[[N]]
// CHECK:         %[[QM:.*]] = mixq.matmul %[[H]], %[[Q]]
// CHECK:         %[[KM:.*]] = mixq.matmul %[[H]], %[[K]]
// CHECK:         %[[QR:.*]] = llm.rope %[[QM]], %[[G]]
// CHECK:         return %[[KM]], %[[QR]]

// The caches are updated in place: results 1 and 2 are tied to arguments 2
// and 3.
// CHECK-LABEL: func.func private @decode_k2_attention(
// CHECK-SAME:    mixq.kernel, mixq.tied = array<i64: 1, 2, 2, 3>

// CHECK-LABEL: func.func private @decode_k3_matmul_add(
// CHECK-SAME:    %[[AI:.*]]: tensor<1x8xf32>, %[[W:.*]]: !mixq.qtensor<8x8, #mixq.affine<bits = 4, group = 8>>, %[[RES:.*]]: tensor<1x8xf32>)
// CHECK:         %[[M:.*]] = mixq.matmul %[[AI]], %[[W]]
// CHECK:         %[[S:.*]] = llm.add %[[RES]], %[[M]]
// CHECK:         return %[[S]]

// Without fuse-decode every compute op is a kernel of its own, but for the
// residual add; kernels with identical bodies (the two projections) are one.
// UNFUSED-LABEL: func.func @decode(
// UNFUSED:         %[[X:.*]] = call @decode_k0_embed(
// UNFUSED:         %[[N:.*]] = call @decode_k1_rms_norm(%[[X]],
// UNFUSED:         %[[Q:.*]] = call @decode_k2_matmul(%[[N]],
// UNFUSED:         %[[K:.*]] = call @decode_k2_matmul(%[[N]],
// UNFUSED:         %[[QR:.*]] = call @decode_k3_rope(%[[Q]],
// UNFUSED:         %[[A:.*]]:3 = call @decode_k4_attention(%[[QR]], %[[K]],
// UNFUSED:         call @decode_k5_matmul_add(%[[A]]#0,
// UNFUSED-NOT:   func.func private @decode_k6

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

// -----

// The feed-forward half of a decode layer: the ffn norm, gate and up (one
// weight type) and SwiGLU are one kernel, down and the residual another.

// CHECK-LABEL: func.func @ffn(
// CHECK:         %[[ACT:.*]] = call @ffn_k0_rms_norm_matmul_matmul_swiglu(%arg0,
// CHECK:         %[[OUT:.*]] = call @ffn_k1_matmul_add(%[[ACT]], %{{.*}}, %arg0)
// CHECK:         return %[[OUT]]
// CHECK-LABEL: func.func private @ffn_k0_rms_norm_matmul_matmul_swiglu(
// CHECK:         %[[H:.*]] = llm.rms_norm
// CHECK:         %[[G:.*]] = mixq.matmul %[[H]]
// CHECK:         %[[U:.*]] = mixq.matmul %[[H]]
// CHECK:         %[[S:.*]] = llm.swiglu %[[G]], %[[U]]
// CHECK:         return %[[S]]
!g = !mixq.qtensor<16x8, #mixq.affine<bits = 4, group = 8>>
!d = !mixq.qtensor<8x16, #mixq.affine<bits = 4, group = 8>>
func.func @ffn(%x: tensor<1x8xf32>) -> tensor<1x8xf32> {
  %nw = llm.weight @norm : tensor<8xf32>
  %h = llm.rms_norm %x, %nw {eps = 1.0e-5 : f32} : tensor<1x8xf32>, tensor<8xf32> -> tensor<1x8xf32>
  %wg = mixq.weight @gate : !g
  %g = mixq.matmul %h, %wg : tensor<1x8xf32>, !g -> tensor<1x16xf32>
  %wu = mixq.weight @up : !g
  %u = mixq.matmul %h, %wu : tensor<1x8xf32>, !g -> tensor<1x16xf32>
  %s = llm.swiglu %g, %u : tensor<1x16xf32>, tensor<1x16xf32> -> tensor<1x16xf32>
  %wd = mixq.weight @down : !d
  %d = mixq.matmul %s, %wd : tensor<1x16xf32>, !d -> tensor<1x8xf32>
  %r = llm.add %x, %d : tensor<1x8xf32>, tensor<1x8xf32> -> tensor<1x8xf32>
  return %r : tensor<1x8xf32>
}

// -----

// Gate and up of different types (a budget gave them different schemes)
// share the norm's kernel, but SwiGLU keeps its own: one loop could not
// dequantize both.

// CHECK-LABEL: func.func @ffn_mixed_types(
// CHECK:         %[[GU:.*]]:2 = call @ffn_mixed_types_k0_rms_norm_matmul_matmul(
// CHECK:         call @ffn_mixed_types_k1_swiglu(%[[GU]]#0, %[[GU]]#1)
!g4 = !mixq.qtensor<16x8, #mixq.affine<bits = 4, group = 8>>
!g8 = !mixq.qtensor<16x8, #mixq.affine<bits = 8, group = 8>>
func.func @ffn_mixed_types(%x: tensor<1x8xf32>) -> tensor<1x16xf32> {
  %nw = llm.weight @norm : tensor<8xf32>
  %h = llm.rms_norm %x, %nw {eps = 1.0e-5 : f32} : tensor<1x8xf32>, tensor<8xf32> -> tensor<1x8xf32>
  %wg = mixq.weight @gate : !g4
  %g = mixq.matmul %h, %wg : tensor<1x8xf32>, !g4 -> tensor<1x16xf32>
  %wu = mixq.weight @up : !g8
  %u = mixq.matmul %h, %wu : tensor<1x8xf32>, !g8 -> tensor<1x16xf32>
  %s = llm.swiglu %g, %u : tensor<1x16xf32>, tensor<1x16xf32> -> tensor<1x16xf32>
  return %s : tensor<1x16xf32>
}

// -----

// Not fused: prefill rows (the tensor-core matmuls take no prologue), a norm
// that something other than a matmul reads, and a group whose result is used
// before the group's last op (where its call would stand).

// CHECK-LABEL: func.func @prefill_rows(
// CHECK:         call @prefill_rows_k0_rms_norm(
// CHECK:         call @prefill_rows_k1_linear(
// CHECK:         call @prefill_rows_k2_rope(
func.func @prefill_rows(%x: tensor<?x8xf32>, %p: tensor<?xi32>) -> tensor<?x8xf32> {
  %nw = llm.weight @norm : tensor<8xf32>
  %h = llm.rms_norm %x, %nw {eps = 1.0e-5 : f32} : tensor<?x8xf32>, tensor<8xf32> -> tensor<?x8xf32>
  %w = llm.weight @q : tensor<8x8xf32>
  %q = llm.linear %h, %w : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
  %r = llm.rope %q, %p {num_heads = 1 : i64, head_dim = 8 : i64, theta = 1.0e+04 : f32, layout = #llm.rope_layout<interleaved>} : tensor<?x8xf32>, tensor<?xi32> -> tensor<?x8xf32>
  return %r : tensor<?x8xf32>
}

// CHECK-LABEL: func.func @norm_other_user(
// CHECK:         %[[H:.*]] = call @norm_other_user_k{{[0-9]+}}_rms_norm(
// CHECK:         call @norm_other_user_k{{[0-9]+}}_linear(%[[H]],
// CHECK:         call @norm_other_user_k{{[0-9]+}}_add(%[[H]])
func.func @norm_other_user(%x: tensor<1x8xf32>) -> (tensor<1x8xf32>, tensor<1x8xf32>) {
  %nw = llm.weight @norm : tensor<8xf32>
  %h = llm.rms_norm %x, %nw {eps = 1.0e-5 : f32} : tensor<1x8xf32>, tensor<8xf32> -> tensor<1x8xf32>
  %w = llm.weight @q : tensor<8x8xf32>
  %q = llm.linear %h, %w : tensor<1x8xf32>, tensor<8x8xf32> -> tensor<1x8xf32>
  %s = llm.add %h, %h : tensor<1x8xf32>, tensor<1x8xf32> -> tensor<1x8xf32>
  return %q, %s : tensor<1x8xf32>, tensor<1x8xf32>
}

// q's result is read between q and k, before the call of a group [norm, q,
// k] could stand: no fusion.
// CHECK-LABEL: func.func @used_in_between(
// CHECK:         %[[H:.*]] = call @{{.*}}_rms_norm(
// CHECK:         %[[Q:.*]] = call @{{.*}}_linear(%[[H]],
// CHECK:         call @{{.*}}_add(%[[Q]])
// CHECK:         call @{{.*}}_linear(%[[H]],
func.func @used_in_between(%x: tensor<1x8xf32>) -> (tensor<1x8xf32>, tensor<1x8xf32>) {
  %nw = llm.weight @norm : tensor<8xf32>
  %h = llm.rms_norm %x, %nw {eps = 1.0e-5 : f32} : tensor<1x8xf32>, tensor<8xf32> -> tensor<1x8xf32>
  %w = llm.weight @q : tensor<8x8xf32>
  %q = llm.linear %h, %w : tensor<1x8xf32>, tensor<8x8xf32> -> tensor<1x8xf32>
  %s = llm.add %q, %q : tensor<1x8xf32>, tensor<1x8xf32> -> tensor<1x8xf32>
  %k = llm.linear %h, %w : tensor<1x8xf32>, tensor<8x8xf32> -> tensor<1x8xf32>
  return %s, %k : tensor<1x8xf32>, tensor<1x8xf32>
}

// -----

// QUIK with activation bits: each matmul reads x through its own weight's
// mixq.quantize_act. The norm's quantize_acts join its dispatch as part of
// the prologue (gate and up each with theirs, SwiGLU as the epilogue), and
// a quantize_act whose x no norm fuses (down's) opens a dispatch with its
// matmul and the residual add: the feed-forward half stays 2 dispatches.
// Above max-quantized-row-bytes a quantize_act keeps a kernel of its own:
// at 64, gate and up's two copies of their 32-byte x fit, down's 96-byte
// x does not.

// CHECK-LABEL: func.func @ffn_act8(
// CHECK:         %[[ACT:.*]] = call @ffn_act8_k0_rms_norm_quantize_act_matmul_quantize_act_matmul_swiglu(%arg0,
// CHECK:         %[[OUT:.*]] = call @ffn_act8_k1_quantize_act_matmul_add(%[[ACT]], %{{.*}}, %arg0)
// CHECK:         return %[[OUT]]
// CHECK-LABEL: func.func private @ffn_act8_k0_rms_norm_quantize_act_matmul_quantize_act_matmul_swiglu(
// CHECK:         %[[H:.*]] = llm.rms_norm
// CHECK:         %[[HG:.*]] = mixq.quantize_act %[[H]], %{{.*}} bits = 8
// CHECK:         %[[G:.*]] = mixq.matmul %[[HG]]
// CHECK:         %[[HU:.*]] = mixq.quantize_act %[[H]], %{{.*}} bits = 8
// CHECK:         %[[U:.*]] = mixq.matmul %[[HU]]
// CHECK:         %[[S:.*]] = llm.swiglu %[[G]], %[[U]]
// CHECK:         return %[[S]]
// CHECK-LABEL: func.func private @ffn_act8_k1_quantize_act_matmul_add(
// CHECK:         %[[SQ:.*]] = mixq.quantize_act %arg0, %arg1 bits = 8
// CHECK:         %[[D:.*]] = mixq.matmul %[[SQ]], %arg1
// CHECK:         llm.add %arg2, %[[D]]

// UNFUSED-LABEL: func.func @ffn_act8(
// UNFUSED-COUNT-2: _quantize_act(
// UNFUSED:         _swiglu(
// UNFUSED:         _quantize_act(

// SMALL-LABEL: func.func @ffn_act8(
// SMALL:         %[[ACT:.*]] = call @ffn_act8_k0_rms_norm_quantize_act_matmul_quantize_act_matmul_swiglu(%arg0,
// SMALL:         %[[Q:.*]] = call @ffn_act8_k1_quantize_act(%[[ACT]],
// SMALL:         call @ffn_act8_k2_matmul_add(%[[Q]],
!q = !mixq.qtensor<24x8, #mixq.outlier_cols<cols = 2, bits = 4, act_bits = 8>>
!qd = !mixq.qtensor<8x24, #mixq.outlier_cols<cols = 2, bits = 4, act_bits = 8>>
func.func @ffn_act8(%x: tensor<1x8xf32>) -> tensor<1x8xf32> {
  %nw = llm.weight @norm : tensor<8xf32>
  %h = llm.rms_norm %x, %nw {eps = 1.0e-5 : f32} : tensor<1x8xf32>, tensor<8xf32> -> tensor<1x8xf32>
  %wg = mixq.weight @gate : !q
  %hg = mixq.quantize_act %h, %wg bits = 8 : tensor<1x8xf32>, !q -> tensor<1x8xf32>
  %g = mixq.matmul %hg, %wg : tensor<1x8xf32>, !q -> tensor<1x24xf32>
  %wu = mixq.weight @up : !q
  %hu = mixq.quantize_act %h, %wu bits = 8 : tensor<1x8xf32>, !q -> tensor<1x8xf32>
  %u = mixq.matmul %hu, %wu : tensor<1x8xf32>, !q -> tensor<1x24xf32>
  %s = llm.swiglu %g, %u : tensor<1x24xf32>, tensor<1x24xf32> -> tensor<1x24xf32>
  %wd = mixq.weight @down : !qd
  %sq = mixq.quantize_act %s, %wd bits = 8 : tensor<1x24xf32>, !qd -> tensor<1x24xf32>
  %d = mixq.matmul %sq, %wd : tensor<1x24xf32>, !qd -> tensor<1x8xf32>
  %r = llm.add %x, %d : tensor<1x8xf32>, tensor<1x8xf32> -> tensor<1x8xf32>
  return %r : tensor<1x8xf32>
}
