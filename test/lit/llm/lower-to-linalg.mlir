// Structure of --mixq-lower-llm-to-linalg: every llm compute op becomes
// linalg.generic ops on tensors computing in f32; only the reductions carry
// fast-math flags (reassoc, contract); llm.weight is left alone.
// RUN: mixq-opt %s --mixq-lower-llm-to-linalg --split-input-file | FileCheck %s

// A table row per token id: a gather (tensor.extract at the token id) inside
// a linalg.generic over [S, D], the values copied as they are.
// CHECK-LABEL: func.func @embed
// CHECK-SAME: (%[[TABLE:.*]]: tensor<16x4xf16>, %[[TOKENS:.*]]: tensor<?xi32>) -> tensor<?x4xf16>
// CHECK: %[[S:.*]] = tensor.dim %[[TOKENS]]
// CHECK: %[[INIT:.*]] = tensor.empty(%[[S]]) : tensor<?x4xf16>
// CHECK: linalg.generic
// CHECK-SAME: ins(%[[TOKENS]] : tensor<?xi32>) outs(%[[INIT]] : tensor<?x4xf16>)
// CHECK: ^bb0(%[[ID:.*]]: i32, %{{.*}}: f16):
// CHECK: %[[ROW:.*]] = arith.index_cast %[[ID]] : i32 to index
// CHECK: %[[COL:.*]] = linalg.index 1
// CHECK: %[[V:.*]] = tensor.extract %[[TABLE]][%[[ROW]], %[[COL]]] : tensor<16x4xf16>
// CHECK-NEXT: linalg.yield %[[V]] : f16
// CHECK-NOT: llm.
func.func @embed(%table: tensor<16x4xf16>, %tokens: tensor<?xi32>) -> tensor<?x4xf16> {
  %h = llm.embed %table, %tokens : tensor<16x4xf16>, tensor<?xi32> -> tensor<?x4xf16>
  return %h : tensor<?x4xf16>
}

// -----

// llm.weight stays (the CPU backend binds weights as kernel arguments); a
// static S table lookup.
// CHECK-LABEL: func.func @embed_weight
// CHECK: %[[TABLE:.*]] = llm.weight @tok_embeddings : tensor<32x8xf32>
// CHECK: tensor.empty() : tensor<3x8xf32>
// CHECK: linalg.generic
// CHECK: tensor.extract %[[TABLE]]
// CHECK-NOT: llm.embed
func.func @embed_weight(%tokens: tensor<3xi32>) -> tensor<3x8xf32> {
  %table = llm.weight @tok_embeddings : tensor<32x8xf32>
  %h = llm.embed %table, %tokens : tensor<32x8xf32>, tensor<3xi32> -> tensor<3x8xf32>
  return %h : tensor<3x8xf32>
}

// -----

// f32 sum of squares per row (a reduction with reassoc/contract), then
// r = 1 / sqrt(sum / D + eps), then x * r * w rounded to f16.
// CHECK-LABEL: func.func @rms_norm
// CHECK-SAME: (%[[X:.*]]: tensor<?x8xf16>, %[[W:.*]]: tensor<8xf16>)
// CHECK: %[[S:.*]] = tensor.dim %[[X]]
// CHECK: %[[SUM0:.*]] = linalg.fill {{.*}} -> tensor<?xf32>
// CHECK: %[[SUM:.*]] = linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "reduction"]
// CHECK-SAME: ins(%[[X]] : tensor<?x8xf16>) outs(%[[SUM0]] : tensor<?xf32>)
// CHECK: %[[XF:.*]] = arith.extf %{{.*}} : f16 to f32
// CHECK: %[[SQ:.*]] = arith.mulf %[[XF]], %[[XF]] fastmath<reassoc,contract> : f32
// CHECK: arith.addf %{{.*}}, %[[SQ]] fastmath<reassoc,contract> : f32
// CHECK: %[[R:.*]] = linalg.generic
// CHECK-SAME: ins(%[[SUM]] : tensor<?xf32>)
// CHECK: arith.constant 8.000000e+00 : f32
// CHECK: arith.divf
// CHECK: arith.constant 9.99999974E-6 : f32
// CHECK: arith.addf %{{[^ ]*}}, %{{[^ ]*}} : f32
// CHECK: math.sqrt
// CHECK: arith.divf
// CHECK: linalg.generic
// CHECK-SAME: ins(%[[X]], %[[R]], %[[W]] : tensor<?x8xf16>, tensor<?xf32>, tensor<8xf16>)
// CHECK: arith.mulf %{{[^ ]*}}, %{{[^ ]*}} : f32
// CHECK: arith.mulf %{{[^ ]*}}, %{{[^ ]*}} : f32
// CHECK: arith.truncf %{{.*}} : f32 to f16
func.func @rms_norm(%x: tensor<?x8xf16>, %w: tensor<8xf16>) -> tensor<?x8xf16> {
  %n = llm.rms_norm %x, %w {eps = 1.0e-05 : f32} : tensor<?x8xf16>, tensor<8xf16> -> tensor<?x8xf16>
  return %n : tensor<?x8xf16>
}

// -----

// f32, static S: the contraction alone (no rounding step).
// CHECK-LABEL: func.func @linear_f32
// CHECK-SAME: (%[[X:.*]]: tensor<3x8xf32>, %[[W:.*]]: tensor<4x8xf32>) -> tensor<3x4xf32>
// CHECK: %[[ACC:.*]] = linalg.fill {{.*}} -> tensor<3x4xf32>
// CHECK: %[[Y:.*]] = linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel", "reduction"]
// CHECK-SAME: ins(%[[X]], %[[W]] : tensor<3x8xf32>, tensor<4x8xf32>) outs(%[[ACC]] : tensor<3x4xf32>)
// CHECK: arith.mulf %{{.*}} fastmath<reassoc,contract> : f32
// CHECK: arith.addf %{{.*}} fastmath<reassoc,contract> : f32
// CHECK-NOT: linalg.generic
// CHECK: return %[[Y]] : tensor<3x4xf32>
func.func @linear_f32(%x: tensor<3x8xf32>, %w: tensor<4x8xf32>) -> tensor<3x4xf32> {
  %y = llm.linear %x, %w : tensor<3x8xf32>, tensor<4x8xf32> -> tensor<3x4xf32>
  return %y : tensor<3x4xf32>
}

// -----

// f16, dynamic S: f32 accumulation, then rounding to f16.
// CHECK-LABEL: func.func @linear_f16
// CHECK-SAME: (%[[X:.*]]: tensor<?x8xf16>, %[[W:.*]]: tensor<4x8xf16>) -> tensor<?x4xf16>
// CHECK: %[[S:.*]] = tensor.dim %[[X]]
// CHECK: tensor.empty(%[[S]]) : tensor<?x4xf32>
// CHECK: %[[Y:.*]] = linalg.generic
// CHECK-SAME: ins(%[[X]], %[[W]] : tensor<?x8xf16>, tensor<4x8xf16>)
// CHECK: arith.extf %{{.*}} : f16 to f32
// CHECK: arith.extf %{{.*}} : f16 to f32
// CHECK: arith.mulf %{{.*}} fastmath<reassoc,contract> : f32
// CHECK: arith.addf %{{.*}} fastmath<reassoc,contract> : f32
// CHECK: %[[R:.*]] = linalg.generic {{.*}} ins(%[[Y]] : tensor<?x4xf32>) outs(%{{.*}} : tensor<?x4xf16>)
// CHECK: arith.truncf %{{.*}} : f32 to f16
// CHECK: return %[[R]] : tensor<?x4xf16>
func.func @linear_f16(%x: tensor<?x8xf16>, %w: tensor<4x8xf16>) -> tensor<?x4xf16> {
  %y = llm.linear %x, %w : tensor<?x8xf16>, tensor<4x8xf16> -> tensor<?x4xf16>
  return %y : tensor<?x4xf16>
}

// -----

// Every row, f32 result (no rounding).
// CHECK-LABEL: func.func @logits
// CHECK-SAME: (%[[X:.*]]: tensor<?x8xf32>, %[[W:.*]]: tensor<32x8xf32>) -> tensor<?x32xf32>
// CHECK: %[[Y:.*]] = linalg.generic
// CHECK-SAME: ins(%[[X]], %[[W]] : tensor<?x8xf32>, tensor<32x8xf32>)
// CHECK-NOT: arith.truncf
// CHECK: return %[[Y]] : tensor<?x32xf32>
func.func @logits(%x: tensor<?x8xf32>, %w: tensor<32x8xf32>) -> tensor<?x32xf32> {
  %y = llm.logits %x, %w : tensor<?x8xf32>, tensor<32x8xf32> -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// -----

// last_token_only, dynamic S: only row S - 1 is projected, into f32.
// CHECK-LABEL: func.func @logits_last
// CHECK-SAME: (%[[X:.*]]: tensor<?x8xf16>, %[[W:.*]]: tensor<32x8xf16>) -> tensor<1x32xf32>
// CHECK: %[[S:.*]] = tensor.dim %[[X]]
// CHECK: %[[LAST:.*]] = arith.subi %[[S]], %{{.*}} : index
// CHECK: %[[ROW:.*]] = tensor.extract_slice %[[X]][%[[LAST]], 0] [1, 8] [1, 1] : tensor<?x8xf16> to tensor<1x8xf16>
// CHECK: %[[Y:.*]] = linalg.generic
// CHECK-SAME: ins(%[[ROW]], %[[W]] : tensor<1x8xf16>, tensor<32x8xf16>) outs(%{{.*}} : tensor<1x32xf32>)
// CHECK-NOT: arith.truncf
// CHECK: return %[[Y]] : tensor<1x32xf32>
func.func @logits_last(%x: tensor<?x8xf16>, %w: tensor<32x8xf16>) -> tensor<1x32xf32> {
  %y = llm.logits %x, %w {last_token_only} : tensor<?x8xf16>, tensor<32x8xf16> -> tensor<1x32xf32>
  return %y : tensor<1x32xf32>
}

// -----

// Static S = 4: the slice is the constant row 3.
// CHECK-LABEL: func.func @logits_last_static
// CHECK: tensor.extract_slice %{{.*}}[3, 0] [1, 8] [1, 1] : tensor<4x8xf32> to tensor<1x8xf32>
func.func @logits_last_static(%x: tensor<4x8xf32>, %w: tensor<32x8xf32>) -> tensor<1x32xf32> {
  %y = llm.logits %x, %w {last_token_only} : tensor<4x8xf32>, tensor<32x8xf32> -> tensor<1x32xf32>
  return %y : tensor<1x32xf32>
}

// -----

// Interleaved, dynamic S: the Dh/2 frequencies are a constant (1 and
// 10000^(-2/4) = 0.01); cos/sin tables [S, Dh/2] come from the positions;
// each element reads its pair partner (col xor 1) and the tables at
// (s, (col mod Dh) / 2).
// CHECK-LABEL: func.func @rope_interleaved
// CHECK-SAME: (%[[X:.*]]: tensor<?x8xf32>, %[[POS:.*]]: tensor<?xi32>) -> tensor<?x8xf32>
// CHECK: %[[FREQ:.*]] = arith.constant dense<[1.000000e+00, 0.00999999977]> : tensor<2xf32>
// CHECK: %[[TABLES:.*]]:2 = linalg.generic
// CHECK-SAME: ins(%[[POS]], %[[FREQ]] : tensor<?xi32>, tensor<2xf32>) outs(%{{.*}}, %{{.*}} : tensor<?x2xf32>, tensor<?x2xf32>)
// CHECK: %[[P:.*]] = arith.sitofp %{{.*}} : i32 to f32
// CHECK: %[[ANGLE:.*]] = arith.mulf %[[P]], %{{.*}} : f32
// CHECK: %[[COS:.*]] = math.cos %[[ANGLE]] : f32
// CHECK: %[[SIN:.*]] = math.sin %[[ANGLE]] : f32
// CHECK: linalg.yield %[[COS]], %[[SIN]] : f32, f32
// CHECK: linalg.generic
// CHECK-SAME: ins(%[[X]] : tensor<?x8xf32>) outs(%{{.*}} : tensor<?x8xf32>)
// CHECK: %[[ROW:.*]] = linalg.index 0
// CHECK: %[[COL:.*]] = linalg.index 1
// CHECK: %[[J:.*]] = arith.remui %[[COL]], %{{.*}} : index
// CHECK: arith.andi %[[COL]]
// CHECK: %[[I:.*]] = arith.shrui %[[J]]
// CHECK: %[[PARTNER:.*]] = arith.xori %[[COL]]
// CHECK: tensor.extract %[[X]][%[[ROW]], %[[PARTNER]]]
// CHECK: tensor.extract %[[TABLES]]#0[%[[ROW]], %[[I]]]
// CHECK: tensor.extract %[[TABLES]]#1[%[[ROW]], %[[I]]]
// CHECK: arith.negf
// CHECK: arith.select
// CHECK-NOT: fastmath
// CHECK: linalg.yield %{{.*}} : f32
func.func @rope_interleaved(%x: tensor<?x8xf32>, %pos: tensor<?xi32>) -> tensor<?x8xf32> {
  %r = llm.rope %x, %pos {num_heads = 2 : i64, head_dim = 4 : i64, theta = 1.0e+04 : f32,
                          layout = #llm.rope_layout<interleaved>}
      : tensor<?x8xf32>, tensor<?xi32> -> tensor<?x8xf32>
  return %r : tensor<?x8xf32>
}

// -----

// rotate_half, static S, f16, llama3 scaling: the frequencies 1, 0.1, 0.01,
// 0.001 become 1, 0.1, 0.00297535 (blended) and 0.000125 (divided by 8);
// the partner is col + Dh/2 or col - Dh/2.
// CHECK-LABEL: func.func @rope_rotate_half_llama3
// CHECK: arith.constant dense<[1.000000e+00, 1.000000e-01, 0.00297535234, 1.250000e-04]> : tensor<4xf32>
// CHECK: linalg.generic {{.*}} outs(%{{.*}}, %{{.*}} : tensor<4x4xf32>, tensor<4x4xf32>)
// CHECK: linalg.generic
// CHECK: %[[COL:.*]] = linalg.index 1
// CHECK: %[[J:.*]] = arith.remui %[[COL]], %[[DH:.*]] : index
// CHECK: %[[FIRST:.*]] = arith.cmpi ult, %[[J]], %[[HALF:.*]] : index
// CHECK: arith.subi %[[J]], %[[HALF]]
// CHECK: arith.subi %[[COL]], %[[HALF]]
// CHECK: arith.addi %[[COL]], %[[HALF]]
// CHECK: arith.extf %{{.*}} : f16 to f32
// CHECK: arith.truncf %{{.*}} : f32 to f16
func.func @rope_rotate_half_llama3(%x: tensor<4x16xf16>, %pos: tensor<4xi32>) -> tensor<4x16xf16> {
  %r = llm.rope %x, %pos {num_heads = 2 : i64, head_dim = 8 : i64, theta = 1.0e+04 : f32,
                          layout = #llm.rope_layout<rotate_half>,
                          scaling = #llm.llama3_rope_scaling<factor = 8.0 : f32,
                              low_freq_factor = 1.0 : f32, high_freq_factor = 4.0 : f32,
                              original_max_position = 1000>}
      : tensor<4x16xf16>, tensor<4xi32> -> tensor<4x16xf16>
  return %r : tensor<4x16xf16>
}

// -----

// Dynamic S, f16, GQA (H = 4, Hkv = 2, Dh = 2, so G = 2 query heads per kv
// head): k and v are inserted at rows [P, P + S); attention reads the
// prefix [0, P + S) of the new caches as [T, Hkv, Dh] and q as
// [S, Hkv, G, Dh]; scores [S, Hkv, G, T] -> max -> exp -> sum -> p -> p.v,
// masked by j <= P + s, scaled by the default 1/sqrt(2).
// CHECK-LABEL: func.func @attention
// CHECK-SAME: (%[[Q:.*]]: tensor<?x8xf16>, %[[K:.*]]: tensor<?x4xf16>, %[[V:.*]]: tensor<?x4xf16>, %[[KC:.*]]: tensor<16x4xf16>, %[[VC:.*]]: tensor<16x4xf16>, %[[P:.*]]: index)
// CHECK: %[[S:.*]] = tensor.dim %[[Q]]
// CHECK: %[[NEWK:.*]] = tensor.insert_slice %[[K]] into %[[KC]][%[[P]], 0] [%[[S]], 4] [1, 1] : tensor<?x4xf16> into tensor<16x4xf16>
// CHECK: %[[NEWV:.*]] = tensor.insert_slice %[[V]] into %[[VC]][%[[P]], 0] [%[[S]], 4] [1, 1] : tensor<?x4xf16> into tensor<16x4xf16>
// CHECK: %[[T:.*]] = arith.addi %[[P]], %[[S]] : index
// CHECK: %[[KP:.*]] = tensor.extract_slice %[[NEWK]][0, 0] [%[[T]], 4] [1, 1] : tensor<16x4xf16> to tensor<?x4xf16>
// CHECK: %[[KE:.*]] = tensor.expand_shape %[[KP]] {{\[}}[0], [1, 2]] output_shape [%[[T]], 2, 2] : tensor<?x4xf16> into tensor<?x2x2xf16>
// CHECK: %[[VP:.*]] = tensor.extract_slice %[[NEWV]][0, 0] [%[[T]], 4] [1, 1]
// CHECK: %[[VE:.*]] = tensor.expand_shape %[[VP]]
// CHECK: %[[QE:.*]] = tensor.expand_shape %[[Q]] {{\[}}[0], [1, 2, 3]] output_shape [%[[S]], 2, 2, 2] : tensor<?x8xf16> into tensor<?x2x2x2xf16>
// Scores: loops (s, g, r, j, d), reduction over d.
// CHECK: %[[DOTS:.*]] = linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]
// CHECK-SAME: ins(%[[QE]], %[[KE]] : tensor<?x2x2x2xf16>, tensor<?x2x2xf16>) outs(%{{.*}} : tensor<?x2x2x?xf32>)
// CHECK: arith.mulf %{{.*}} fastmath<reassoc,contract> : f32
// CHECK: arith.addf %{{.*}} fastmath<reassoc,contract> : f32
// Max over the visible keys, -inf elsewhere.
// CHECK: %[[MAX:.*]] = linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel", "parallel", "reduction"]
// CHECK-SAME: ins(%[[DOTS]] : tensor<?x2x2x?xf32>) outs(%{{.*}} : tensor<?x2x2xf32>)
// CHECK: %[[NEGINF:.*]] = arith.constant 0xFF800000 : f32
// CHECK: %[[SCALE:.*]] = arith.constant 0.707106769 : f32
// CHECK: %[[SCORE:.*]] = arith.mulf %[[SCALE]], %{{.*}} : f32
// CHECK: %[[ROW:.*]] = linalg.index 0
// CHECK: %[[KEY:.*]] = linalg.index 3
// CHECK: %[[LIMIT:.*]] = arith.addi %[[P]], %[[ROW]]
// CHECK: %[[VISIBLE:.*]] = arith.cmpi ule, %[[KEY]], %[[LIMIT]]
// CHECK: %[[MASKED:.*]] = arith.select %[[VISIBLE]], %[[SCORE]], %[[NEGINF]]
// CHECK: arith.maximumf %{{.*}}, %[[MASKED]] : f32
// exp(score - max), 0 where masked, in place of the scores.
// CHECK: %[[EXP:.*]] = linalg.generic
// CHECK-SAME: ins(%[[MAX]] : tensor<?x2x2xf32>) outs(%[[DOTS]] : tensor<?x2x2x?xf32>)
// CHECK: arith.subf
// CHECK: math.exp
// CHECK: arith.cmpi ule
// CHECK: arith.select
// CHECK: %[[SUM:.*]] = linalg.generic
// CHECK-SAME: ins(%[[EXP]] : tensor<?x2x2x?xf32>) outs(%{{.*}} : tensor<?x2x2xf32>)
// CHECK: arith.addf %{{.*}} fastmath<reassoc,contract> : f32
// CHECK: %[[PROB:.*]] = linalg.generic
// CHECK-SAME: ins(%[[SUM]] : tensor<?x2x2xf32>) outs(%[[EXP]] : tensor<?x2x2x?xf32>)
// CHECK: arith.divf
// Weighted sum of values: loops (s, g, r, d, j), reduction over j.
// CHECK: %[[OUT:.*]] = linalg.generic
// CHECK-SAME: ins(%[[PROB]], %[[VE]] : tensor<?x2x2x?xf32>, tensor<?x2x2xf16>) outs(%{{.*}} : tensor<?x2x2x2xf32>)
// CHECK: arith.mulf %{{.*}} fastmath<reassoc,contract> : f32
// CHECK: arith.addf %{{.*}} fastmath<reassoc,contract> : f32
// CHECK: %[[FLAT:.*]] = tensor.collapse_shape %[[OUT]] {{\[}}[0], [1, 2, 3]] : tensor<?x2x2x2xf32> into tensor<?x8xf32>
// CHECK: %[[R:.*]] = linalg.generic {{.*}} ins(%[[FLAT]] : tensor<?x8xf32>) outs(%{{.*}} : tensor<?x8xf16>)
// CHECK: arith.truncf %{{.*}} : f32 to f16
// CHECK: return %[[R]], %[[NEWK]], %[[NEWV]] : tensor<?x8xf16>, tensor<16x4xf16>, tensor<16x4xf16>
func.func @attention(%q: tensor<?x8xf16>, %k: tensor<?x4xf16>, %v: tensor<?x4xf16>,
                     %kc: tensor<16x4xf16>, %vc: tensor<16x4xf16>, %p: index)
    -> (tensor<?x8xf16>, tensor<16x4xf16>, tensor<16x4xf16>) {
  %o, %kc1, %vc1 = llm.attention %q, %k, %v, %kc, %vc, %p
      {num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 2 : i64}
      : tensor<?x8xf16>, tensor<?x4xf16>, tensor<?x4xf16>, tensor<16x4xf16>, tensor<16x4xf16>
      -> tensor<?x8xf16>, tensor<16x4xf16>, tensor<16x4xf16>
  return %o, %kc1, %vc1 : tensor<?x8xf16>, tensor<16x4xf16>, tensor<16x4xf16>
}

// -----

// Static S = 2, f32, explicit scale; q is static but k is dynamic: k is cast
// to the static row count before the cache update. No rounding step.
// CHECK-LABEL: func.func @attention_static
// CHECK-SAME: (%[[Q:.*]]: tensor<2x4xf32>, %[[K:.*]]: tensor<?x2xf32>,
// CHECK: %[[KS:.*]] = tensor.cast %[[K]] : tensor<?x2xf32> to tensor<2x2xf32>
// CHECK: tensor.insert_slice %[[KS]] into %{{.*}}[%{{.*}}, 0] [2, 2] [1, 1] : tensor<2x2xf32> into tensor<8x2xf32>
// CHECK: tensor.expand_shape %[[Q]] {{\[}}[0], [1, 2, 3]] output_shape [2, 1, 2, 2] : tensor<2x4xf32> into tensor<2x1x2x2xf32>
// CHECK: arith.constant 5.000000e-01 : f32
// CHECK: %[[OUT:.*]] = tensor.collapse_shape
// CHECK-NOT: arith.truncf
// CHECK: return %[[OUT]]
func.func @attention_static(%q: tensor<2x4xf32>, %k: tensor<?x2xf32>, %v: tensor<2x2xf32>,
                            %kc: tensor<8x2xf32>, %vc: tensor<8x2xf32>, %p: index)
    -> (tensor<2x4xf32>, tensor<8x2xf32>, tensor<8x2xf32>) {
  %o, %kc1, %vc1 = llm.attention %q, %k, %v, %kc, %vc, %p
      {num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 2 : i64, scale = 0.5 : f32}
      : tensor<2x4xf32>, tensor<?x2xf32>, tensor<2x2xf32>, tensor<8x2xf32>, tensor<8x2xf32>
      -> tensor<2x4xf32>, tensor<8x2xf32>, tensor<8x2xf32>
  return %o, %kc1, %vc1 : tensor<2x4xf32>, tensor<8x2xf32>, tensor<8x2xf32>
}

// -----

// Mixed static/dynamic rows: the dynamic operand is cast to the static type.
// CHECK-LABEL: func.func @swiglu
// CHECK-SAME: (%[[G:.*]]: tensor<?x8xf16>, %[[U:.*]]: tensor<4x8xf16>) -> tensor<4x8xf16>
// CHECK: %[[GS:.*]] = tensor.cast %[[G]] : tensor<?x8xf16> to tensor<4x8xf16>
// CHECK: linalg.generic
// CHECK-SAME: ins(%[[GS]], %[[U]] : tensor<4x8xf16>, tensor<4x8xf16>) outs(%{{.*}} : tensor<4x8xf16>)
// CHECK: %[[GF:.*]] = arith.extf %{{.*}} : f16 to f32
// CHECK: %[[UF:.*]] = arith.extf %{{.*}} : f16 to f32
// CHECK: %[[NEG:.*]] = arith.negf %[[GF]] : f32
// CHECK: %[[E:.*]] = math.exp %[[NEG]] : f32
// CHECK: %[[DEN:.*]] = arith.addf %{{.*}}, %[[E]] : f32
// CHECK: %[[SILU:.*]] = arith.divf %[[GF]], %[[DEN]] : f32
// CHECK: %[[Y:.*]] = arith.mulf %[[SILU]], %[[UF]] : f32
// CHECK: arith.truncf %[[Y]] : f32 to f16
func.func @swiglu(%g: tensor<?x8xf16>, %u: tensor<4x8xf16>) -> tensor<4x8xf16> {
  %r = llm.swiglu %g, %u : tensor<?x8xf16>, tensor<4x8xf16> -> tensor<4x8xf16>
  return %r : tensor<4x8xf16>
}

// -----

// CHECK-LABEL: func.func @add_bf16
// CHECK-SAME: (%[[A:.*]]: tensor<?x8xbf16>, %[[B:.*]]: tensor<?x8xbf16>) -> tensor<?x8xbf16>
// CHECK: %[[S:.*]] = tensor.dim %[[A]]
// CHECK: tensor.empty(%[[S]]) : tensor<?x8xbf16>
// CHECK: linalg.generic
// CHECK-SAME: ins(%[[A]], %[[B]] : tensor<?x8xbf16>, tensor<?x8xbf16>)
// CHECK: %[[AF:.*]] = arith.extf %{{.*}} : bf16 to f32
// CHECK: %[[BF:.*]] = arith.extf %{{.*}} : bf16 to f32
// CHECK: %[[SUM:.*]] = arith.addf %[[AF]], %[[BF]] : f32
// CHECK: arith.truncf %[[SUM]] : f32 to bf16
func.func @add_bf16(%a: tensor<?x8xbf16>, %b: tensor<?x8xbf16>) -> tensor<?x8xbf16> {
  %r = llm.add %a, %b : tensor<?x8xbf16>, tensor<?x8xbf16> -> tensor<?x8xbf16>
  return %r : tensor<?x8xbf16>
}

// -----

// f32 add with a static S and a dynamic result: the result is cast back.
// CHECK-LABEL: func.func @add_f32
// CHECK: %[[R:.*]] = linalg.generic
// CHECK: } -> tensor<2x8xf32>
// CHECK: %[[C:.*]] = tensor.cast %[[R]] : tensor<2x8xf32> to tensor<?x8xf32>
// CHECK: return %[[C]]
func.func @add_f32(%a: tensor<2x8xf32>, %b: tensor<2x8xf32>) -> tensor<?x8xf32> {
  %r = llm.add %a, %b : tensor<2x8xf32>, tensor<2x8xf32> -> tensor<?x8xf32>
  return %r : tensor<?x8xf32>
}
