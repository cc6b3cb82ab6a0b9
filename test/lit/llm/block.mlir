// RUN: mixq-opt %s | mixq-opt | FileCheck %s

// One Llama transformer block followed by the final norm and the LM head,
// with the shapes of stories260K: dim 64, 8 query heads, 4 kv heads,
// head_dim 8, FFN hidden size 172, vocabulary 512, context 512. The
// classifier is tied to the token embeddings, as in llama2.c checkpoints.
// The caller passes the step's tokens, their absolute positions
// (start_pos + i) and the layer's KV cache; the block returns the last
// token's logits and the updated cache.

// CHECK-LABEL: func.func @stories260k_block
func.func @stories260k_block(%tokens: tensor<?xi32>, %positions: tensor<?xi32>,
                             %start_pos: index,
                             %k_cache: tensor<512x32xf32>,
                             %v_cache: tensor<512x32xf32>)
    -> (tensor<1x512xf32>, tensor<512x32xf32>, tensor<512x32xf32>) {
  // CHECK: %[[EMB:.*]] = llm.weight @tok_embeddings : tensor<512x64xf32>
  // CHECK: %[[X:.*]] = llm.embed %[[EMB]], %{{.*}} : tensor<512x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
  %tok_embeddings = llm.weight @tok_embeddings : tensor<512x64xf32>
  %x = llm.embed %tok_embeddings, %tokens
      : tensor<512x64xf32>, tensor<?xi32> -> tensor<?x64xf32>

  // Attention.
  // CHECK: llm.weight @blk0.attn_norm : tensor<64xf32>
  // CHECK: %[[H:.*]] = llm.rms_norm %[[X]], %{{.*}} {eps = 9.99999974E-6 : f32}
  %attn_norm = llm.weight @blk0.attn_norm : tensor<64xf32>
  %h = llm.rms_norm %x, %attn_norm {eps = 1.0e-05 : f32}
      : tensor<?x64xf32>, tensor<64xf32> -> tensor<?x64xf32>
  %wq = llm.weight @blk0.wq : tensor<64x64xf32>
  %wk = llm.weight @blk0.wk : tensor<32x64xf32>
  %wv = llm.weight @blk0.wv : tensor<32x64xf32>
  %wo = llm.weight @blk0.wo : tensor<64x64xf32>
  // CHECK: %[[Q:.*]] = llm.linear %[[H]], %{{.*}} : tensor<?x64xf32>, tensor<64x64xf32> -> tensor<?x64xf32>
  // CHECK: %[[K:.*]] = llm.linear %[[H]], %{{.*}} : tensor<?x64xf32>, tensor<32x64xf32> -> tensor<?x32xf32>
  // CHECK: %[[V:.*]] = llm.linear %[[H]], %{{.*}} : tensor<?x64xf32>, tensor<32x64xf32> -> tensor<?x32xf32>
  %q = llm.linear %h, %wq : tensor<?x64xf32>, tensor<64x64xf32> -> tensor<?x64xf32>
  %k = llm.linear %h, %wk : tensor<?x64xf32>, tensor<32x64xf32> -> tensor<?x32xf32>
  %v = llm.linear %h, %wv : tensor<?x64xf32>, tensor<32x64xf32> -> tensor<?x32xf32>
  // CHECK: %[[QR:.*]] = llm.rope %[[Q]], %{{.*}} {head_dim = 8 : i64, layout = #llm.rope_layout<interleaved>, num_heads = 8 : i64, theta = 1.000000e+04 : f32}
  // CHECK: %[[KR:.*]] = llm.rope %[[K]], %{{.*}} {head_dim = 8 : i64, layout = #llm.rope_layout<interleaved>, num_heads = 4 : i64, theta = 1.000000e+04 : f32}
  %q_rot = llm.rope %q, %positions {num_heads = 8 : i64, head_dim = 8 : i64,
                                    theta = 1.0e+04 : f32,
                                    layout = #llm.rope_layout<interleaved>}
      : tensor<?x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
  %k_rot = llm.rope %k, %positions {num_heads = 4 : i64, head_dim = 8 : i64,
                                    theta = 1.0e+04 : f32,
                                    layout = #llm.rope_layout<interleaved>}
      : tensor<?x32xf32>, tensor<?xi32> -> tensor<?x32xf32>
  // CHECK: %[[ATT:.*]], %[[KC:.*]], %[[VC:.*]] = llm.attention %[[QR]], %[[KR]], %[[V]], %{{.*}}, %{{.*}}, %{{.*}} {head_dim = 8 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64}
  // CHECK-SAME: -> tensor<?x64xf32>, tensor<512x32xf32>, tensor<512x32xf32>
  %attn, %k_cache_next, %v_cache_next = llm.attention
      %q_rot, %k_rot, %v, %k_cache, %v_cache, %start_pos
      {num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64}
      : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>,
        tensor<512x32xf32>, tensor<512x32xf32>
      -> tensor<?x64xf32>, tensor<512x32xf32>, tensor<512x32xf32>
  // CHECK: %[[O:.*]] = llm.linear %[[ATT]], %{{.*}} : tensor<?x64xf32>, tensor<64x64xf32> -> tensor<?x64xf32>
  // CHECK: %[[X1:.*]] = llm.add %[[X]], %[[O]] : tensor<?x64xf32>, tensor<?x64xf32> -> tensor<?x64xf32>
  %o = llm.linear %attn, %wo : tensor<?x64xf32>, tensor<64x64xf32> -> tensor<?x64xf32>
  %x1 = llm.add %x, %o : tensor<?x64xf32>, tensor<?x64xf32> -> tensor<?x64xf32>

  // Feed-forward: w2(silu(w1 h) * w3 h).
  // CHECK: %[[H2:.*]] = llm.rms_norm %[[X1]], %{{.*}} {eps = 9.99999974E-6 : f32}
  %ffn_norm = llm.weight @blk0.ffn_norm : tensor<64xf32>
  %h2 = llm.rms_norm %x1, %ffn_norm {eps = 1.0e-05 : f32}
      : tensor<?x64xf32>, tensor<64xf32> -> tensor<?x64xf32>
  %w1 = llm.weight @blk0.w1 : tensor<172x64xf32>
  %w3 = llm.weight @blk0.w3 : tensor<172x64xf32>
  %w2 = llm.weight @blk0.w2 : tensor<64x172xf32>
  // CHECK: %[[G:.*]] = llm.linear %[[H2]], %{{.*}} : tensor<?x64xf32>, tensor<172x64xf32> -> tensor<?x172xf32>
  // CHECK: %[[U:.*]] = llm.linear %[[H2]], %{{.*}} : tensor<?x64xf32>, tensor<172x64xf32> -> tensor<?x172xf32>
  // CHECK: %[[S:.*]] = llm.swiglu %[[G]], %[[U]] : tensor<?x172xf32>, tensor<?x172xf32> -> tensor<?x172xf32>
  // CHECK: %[[D:.*]] = llm.linear %[[S]], %{{.*}} : tensor<?x172xf32>, tensor<64x172xf32> -> tensor<?x64xf32>
  // CHECK: %[[X2:.*]] = llm.add %[[X1]], %[[D]]
  %gate = llm.linear %h2, %w1 : tensor<?x64xf32>, tensor<172x64xf32> -> tensor<?x172xf32>
  %up = llm.linear %h2, %w3 : tensor<?x64xf32>, tensor<172x64xf32> -> tensor<?x172xf32>
  %act = llm.swiglu %gate, %up : tensor<?x172xf32>, tensor<?x172xf32> -> tensor<?x172xf32>
  %down = llm.linear %act, %w2 : tensor<?x172xf32>, tensor<64x172xf32> -> tensor<?x64xf32>
  %x2 = llm.add %x1, %down : tensor<?x64xf32>, tensor<?x64xf32> -> tensor<?x64xf32>

  // Final norm and the tied LM head on the last token only.
  // CHECK: %[[HF:.*]] = llm.rms_norm %[[X2]], %{{.*}} {eps = 9.99999974E-6 : f32}
  // CHECK: %[[LOGITS:.*]] = llm.logits %[[HF]], %[[EMB]] {last_token_only} : tensor<?x64xf32>, tensor<512x64xf32> -> tensor<1x512xf32>
  // CHECK: return %[[LOGITS]], %[[KC]], %[[VC]]
  %norm = llm.weight @norm : tensor<64xf32>
  %hf = llm.rms_norm %x2, %norm {eps = 1.0e-05 : f32}
      : tensor<?x64xf32>, tensor<64xf32> -> tensor<?x64xf32>
  %logits = llm.logits %hf, %tok_embeddings {last_token_only}
      : tensor<?x64xf32>, tensor<512x64xf32> -> tensor<1x512xf32>
  return %logits, %k_cache_next, %v_cache_next
      : tensor<1x512xf32>, tensor<512x32xf32>, tensor<512x32xf32>
}
