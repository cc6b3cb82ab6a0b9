// RUN: mixq-opt %s -split-input-file -verify-diagnostics

// One case per verifier diagnostic of the llm ops, plus the ODS constraints
// that users are likely to trip over.

//===----------------------------------------------------------------------===//
// llm.weight
//===----------------------------------------------------------------------===//

func.func @weight_dynamic() -> tensor<?x64xf32> {
  // expected-error @+1 {{'llm.weight' op weight @w must have a static shape, got 'tensor<?x64xf32>'}}
  %0 = llm.weight @w : tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

//===----------------------------------------------------------------------===//
// llm.embed
//===----------------------------------------------------------------------===//

// -----

func.func @embed_table_dynamic(%t: tensor<?x64xf32>, %ids: tensor<4xi32>) -> tensor<4x64xf32> {
  // expected-error @+1 {{'llm.embed' op table must have a static shape, got 'tensor<?x64xf32>'}}
  %0 = llm.embed %t, %ids : tensor<?x64xf32>, tensor<4xi32> -> tensor<4x64xf32>
  return %0 : tensor<4x64xf32>
}

// -----

func.func @embed_result_type(%t: tensor<512x64xf32>, %ids: tensor<?xi32>) -> tensor<?x64xf16> {
  // expected-error @+1 {{'llm.embed' op result type 'tensor<?x64xf16>' does not match the expected 'tensor<?x64xf32>'}}
  %0 = llm.embed %t, %ids : tensor<512x64xf32>, tensor<?xi32> -> tensor<?x64xf16>
  return %0 : tensor<?x64xf16>
}

// -----

func.func @embed_result_rows(%t: tensor<512x64xf32>, %ids: tensor<4xi32>) -> tensor<5x64xf32> {
  // expected-error @+1 {{'llm.embed' op result type 'tensor<5x64xf32>' does not match the expected 'tensor<4x64xf32>'}}
  %0 = llm.embed %t, %ids : tensor<512x64xf32>, tensor<4xi32> -> tensor<5x64xf32>
  return %0 : tensor<5x64xf32>
}

// -----

func.func @embed_result_hidden(%t: tensor<512x64xf32>, %ids: tensor<4xi32>) -> tensor<4x32xf32> {
  // expected-error @+1 {{'llm.embed' op result type 'tensor<4x32xf32>' does not match the expected 'tensor<4x64xf32>'}}
  %0 = llm.embed %t, %ids : tensor<512x64xf32>, tensor<4xi32> -> tensor<4x32xf32>
  return %0 : tensor<4x32xf32>
}

// -----

func.func @embed_tokens_i64(%t: tensor<512x64xf32>, %ids: tensor<4xi64>) -> tensor<4x64xf32> {
  // expected-error @+1 {{'llm.embed' op operand #1 must be 1D tensor of 32-bit signless integer values}}
  %0 = llm.embed %t, %ids : tensor<512x64xf32>, tensor<4xi64> -> tensor<4x64xf32>
  return %0 : tensor<4x64xf32>
}

// -----

func.func @embed_table_f64(%t: tensor<512x64xf64>, %ids: tensor<4xi32>) -> tensor<4x64xf64> {
  // expected-error @+1 {{'llm.embed' op operand #0 must be 2D tensor of 16-bit float or bfloat16 type or 32-bit float values}}
  %0 = llm.embed %t, %ids : tensor<512x64xf64>, tensor<4xi32> -> tensor<4x64xf64>
  return %0 : tensor<4x64xf64>
}

//===----------------------------------------------------------------------===//
// llm.rms_norm
//===----------------------------------------------------------------------===//

// -----

func.func @rms_norm_eps_zero(%x: tensor<4x64xf32>, %w: tensor<64xf32>) -> tensor<4x64xf32> {
  // expected-error @+1 {{'llm.rms_norm' op eps must be positive and finite, got 0.000000e+00 : f32}}
  %0 = llm.rms_norm %x, %w {eps = 0.0 : f32} : tensor<4x64xf32>, tensor<64xf32> -> tensor<4x64xf32>
  return %0 : tensor<4x64xf32>
}

// -----

func.func @rms_norm_eps_negative(%x: tensor<4x64xf32>, %w: tensor<64xf32>) -> tensor<4x64xf32> {
  // expected-error @+1 {{'llm.rms_norm' op eps must be positive and finite, got -9.99999974E-6 : f32}}
  %0 = llm.rms_norm %x, %w {eps = -1.0e-05 : f32} : tensor<4x64xf32>, tensor<64xf32> -> tensor<4x64xf32>
  return %0 : tensor<4x64xf32>
}

// -----

func.func @rms_norm_eps_inf(%x: tensor<4x64xf32>, %w: tensor<64xf32>) -> tensor<4x64xf32> {
  // expected-error @+1 {{'llm.rms_norm' op eps must be positive and finite, got 0x7F800000 : f32}}
  %0 = llm.rms_norm %x, %w {eps = 0x7F800000 : f32} : tensor<4x64xf32>, tensor<64xf32> -> tensor<4x64xf32>
  return %0 : tensor<4x64xf32>
}

// -----

func.func @rms_norm_eps_nan(%x: tensor<4x64xf32>, %w: tensor<64xf32>) -> tensor<4x64xf32> {
  // expected-error @+1 {{'llm.rms_norm' op eps must be positive and finite, got 0x7FC00000 : f32}}
  %0 = llm.rms_norm %x, %w {eps = 0x7FC00000 : f32} : tensor<4x64xf32>, tensor<64xf32> -> tensor<4x64xf32>
  return %0 : tensor<4x64xf32>
}

// -----

func.func @rms_norm_eps_missing(%x: tensor<4x64xf32>, %w: tensor<64xf32>) -> tensor<4x64xf32> {
  // expected-error @+1 {{'llm.rms_norm' op requires attribute 'eps'}}
  %0 = llm.rms_norm %x, %w : tensor<4x64xf32>, tensor<64xf32> -> tensor<4x64xf32>
  return %0 : tensor<4x64xf32>
}

// -----

func.func @rms_norm_eps_f64(%x: tensor<4x64xf32>, %w: tensor<64xf32>) -> tensor<4x64xf32> {
  // expected-error @+1 {{'llm.rms_norm' op attribute 'eps' failed to satisfy constraint: 32-bit float attribute}}
  %0 = llm.rms_norm %x, %w {eps = 1.0e-05 : f64} : tensor<4x64xf32>, tensor<64xf32> -> tensor<4x64xf32>
  return %0 : tensor<4x64xf32>
}

// -----

func.func @rms_norm_input_dynamic(%x: tensor<4x?xf32>, %w: tensor<64xf32>) -> tensor<4x?xf32> {
  // expected-error @+1 {{'llm.rms_norm' op input must have a static hidden size, got 'tensor<4x?xf32>'}}
  %0 = llm.rms_norm %x, %w {eps = 1.0e-05 : f32} : tensor<4x?xf32>, tensor<64xf32> -> tensor<4x?xf32>
  return %0 : tensor<4x?xf32>
}

// -----

func.func @rms_norm_weight_dynamic(%x: tensor<4x64xf32>, %w: tensor<?xf32>) -> tensor<4x64xf32> {
  // expected-error @+1 {{'llm.rms_norm' op weight must have a static shape, got 'tensor<?xf32>'}}
  %0 = llm.rms_norm %x, %w {eps = 1.0e-05 : f32} : tensor<4x64xf32>, tensor<?xf32> -> tensor<4x64xf32>
  return %0 : tensor<4x64xf32>
}

// -----

func.func @rms_norm_weight_type(%x: tensor<4x64xf32>, %w: tensor<64xf16>) -> tensor<4x64xf32> {
  // expected-error @+1 {{'llm.rms_norm' op weight element type 'f16' does not match the input element type 'f32'}}
  %0 = llm.rms_norm %x, %w {eps = 1.0e-05 : f32} : tensor<4x64xf32>, tensor<64xf16> -> tensor<4x64xf32>
  return %0 : tensor<4x64xf32>
}

// -----

func.func @rms_norm_weight_size(%x: tensor<4x64xf32>, %w: tensor<32xf32>) -> tensor<4x64xf32> {
  // expected-error @+1 {{'llm.rms_norm' op weight has 32 elements but the input's hidden size is 64}}
  %0 = llm.rms_norm %x, %w {eps = 1.0e-05 : f32} : tensor<4x64xf32>, tensor<32xf32> -> tensor<4x64xf32>
  return %0 : tensor<4x64xf32>
}

// -----

func.func @rms_norm_result(%x: tensor<4x64xf32>, %w: tensor<64xf32>) -> tensor<4x64xbf16> {
  // expected-error @+1 {{'llm.rms_norm' op result type 'tensor<4x64xbf16>' does not match the expected 'tensor<4x64xf32>'}}
  %0 = llm.rms_norm %x, %w {eps = 1.0e-05 : f32} : tensor<4x64xf32>, tensor<64xf32> -> tensor<4x64xbf16>
  return %0 : tensor<4x64xbf16>
}

// -----

func.func @rms_norm_weight_rank(%x: tensor<4x64xf32>, %w: tensor<1x64xf32>) -> tensor<4x64xf32> {
  // expected-error @+1 {{'llm.rms_norm' op operand #1 must be 1D tensor of 16-bit float or bfloat16 type or 32-bit float values}}
  %0 = llm.rms_norm %x, %w {eps = 1.0e-05 : f32} : tensor<4x64xf32>, tensor<1x64xf32> -> tensor<4x64xf32>
  return %0 : tensor<4x64xf32>
}

//===----------------------------------------------------------------------===//
// llm.linear
//===----------------------------------------------------------------------===//

// -----

func.func @linear_input_dynamic(%x: tensor<4x?xf32>, %w: tensor<172x64xf32>) -> tensor<4x172xf32> {
  // expected-error @+1 {{'llm.linear' op input must have a static hidden size, got 'tensor<4x?xf32>'}}
  %0 = llm.linear %x, %w : tensor<4x?xf32>, tensor<172x64xf32> -> tensor<4x172xf32>
  return %0 : tensor<4x172xf32>
}

// -----

func.func @linear_weight_dynamic(%x: tensor<4x64xf32>, %w: tensor<?x64xf32>) -> tensor<4x?xf32> {
  // expected-error @+1 {{'llm.linear' op weight must have a static shape, got 'tensor<?x64xf32>'}}
  %0 = llm.linear %x, %w : tensor<4x64xf32>, tensor<?x64xf32> -> tensor<4x?xf32>
  return %0 : tensor<4x?xf32>
}

// -----

func.func @linear_weight_type(%x: tensor<4x64xf16>, %w: tensor<172x64xbf16>) -> tensor<4x172xf16> {
  // expected-error @+1 {{'llm.linear' op weight element type 'bf16' does not match the input element type 'f16'}}
  %0 = llm.linear %x, %w : tensor<4x64xf16>, tensor<172x64xbf16> -> tensor<4x172xf16>
  return %0 : tensor<4x172xf16>
}

// -----

func.func @linear_in_features(%x: tensor<4x64xf32>, %w: tensor<172x32xf32>) -> tensor<4x172xf32> {
  // expected-error @+1 {{'llm.linear' op weight has 32 columns (in_features) but the input has 64}}
  %0 = llm.linear %x, %w : tensor<4x64xf32>, tensor<172x32xf32> -> tensor<4x172xf32>
  return %0 : tensor<4x172xf32>
}

// -----

func.func @linear_result(%x: tensor<?x64xf32>, %w: tensor<172x64xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{'llm.linear' op result type 'tensor<?x64xf32>' does not match the expected 'tensor<?x172xf32>'}}
  %0 = llm.linear %x, %w : tensor<?x64xf32>, tensor<172x64xf32> -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

func.func @linear_weight_rank(%x: tensor<4x64xf32>, %w: tensor<64xf32>) -> tensor<4x1xf32> {
  // expected-error @+1 {{'llm.linear' op operand #1 must be 2D tensor of 16-bit float or bfloat16 type or 32-bit float values}}
  %0 = llm.linear %x, %w : tensor<4x64xf32>, tensor<64xf32> -> tensor<4x1xf32>
  return %0 : tensor<4x1xf32>
}

//===----------------------------------------------------------------------===//
// llm.rope
//===----------------------------------------------------------------------===//

// -----

func.func @rope_head_dim_odd(%x: tensor<4x56xf32>, %p: tensor<4xi32>) -> tensor<4x56xf32> {
  // expected-error @+1 {{'llm.rope' op head_dim (7) must be even}}
  %0 = llm.rope %x, %p {num_heads = 8 : i64, head_dim = 7 : i64, theta = 1.0e+04 : f32, layout = #llm.rope_layout<interleaved>} : tensor<4x56xf32>, tensor<4xi32> -> tensor<4x56xf32>
  return %0 : tensor<4x56xf32>
}

// -----

func.func @rope_head_dim_zero(%x: tensor<4x64xf32>, %p: tensor<4xi32>) -> tensor<4x64xf32> {
  // expected-error @+1 {{'llm.rope' op attribute 'head_dim' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %0 = llm.rope %x, %p {num_heads = 8 : i64, head_dim = 0 : i64, theta = 1.0e+04 : f32, layout = #llm.rope_layout<interleaved>} : tensor<4x64xf32>, tensor<4xi32> -> tensor<4x64xf32>
  return %0 : tensor<4x64xf32>
}

// -----

func.func @rope_num_heads_negative(%x: tensor<4x64xf32>, %p: tensor<4xi32>) -> tensor<4x64xf32> {
  // expected-error @+1 {{'llm.rope' op attribute 'num_heads' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %0 = llm.rope %x, %p {num_heads = -8 : i64, head_dim = 8 : i64, theta = 1.0e+04 : f32, layout = #llm.rope_layout<interleaved>} : tensor<4x64xf32>, tensor<4xi32> -> tensor<4x64xf32>
  return %0 : tensor<4x64xf32>
}

// -----

func.func @rope_theta_zero(%x: tensor<4x64xf32>, %p: tensor<4xi32>) -> tensor<4x64xf32> {
  // expected-error @+1 {{'llm.rope' op theta must be positive and finite, got 0.000000e+00 : f32}}
  %0 = llm.rope %x, %p {num_heads = 8 : i64, head_dim = 8 : i64, theta = 0.0 : f32, layout = #llm.rope_layout<interleaved>} : tensor<4x64xf32>, tensor<4xi32> -> tensor<4x64xf32>
  return %0 : tensor<4x64xf32>
}

// -----

func.func @rope_input_dynamic(%x: tensor<4x?xf32>, %p: tensor<4xi32>) -> tensor<4x?xf32> {
  // expected-error @+1 {{'llm.rope' op input must have a static number of columns, got 'tensor<4x?xf32>'}}
  %0 = llm.rope %x, %p {num_heads = 8 : i64, head_dim = 8 : i64, theta = 1.0e+04 : f32, layout = #llm.rope_layout<interleaved>} : tensor<4x?xf32>, tensor<4xi32> -> tensor<4x?xf32>
  return %0 : tensor<4x?xf32>
}

// -----

func.func @rope_columns(%x: tensor<4x60xf32>, %p: tensor<4xi32>) -> tensor<4x60xf32> {
  // expected-error @+1 {{'llm.rope' op input has 60 columns but num_heads (8) * head_dim (8) = 64}}
  %0 = llm.rope %x, %p {num_heads = 8 : i64, head_dim = 8 : i64, theta = 1.0e+04 : f32, layout = #llm.rope_layout<rotate_half>} : tensor<4x60xf32>, tensor<4xi32> -> tensor<4x60xf32>
  return %0 : tensor<4x60xf32>
}

// -----

func.func @rope_columns_overflow(%x: tensor<4x64xf32>, %p: tensor<4xi32>) -> tensor<4x64xf32> {
  // expected-error @+1 {{'llm.rope' op input has 64 columns but num_heads (4611686018427387904) * head_dim (8) overflows int64}}
  %0 = llm.rope %x, %p {num_heads = 4611686018427387904 : i64, head_dim = 8 : i64, theta = 1.0e+04 : f32, layout = #llm.rope_layout<interleaved>} : tensor<4x64xf32>, tensor<4xi32> -> tensor<4x64xf32>
  return %0 : tensor<4x64xf32>
}

// -----

func.func @rope_positions(%x: tensor<4x64xf32>, %p: tensor<5xi32>) -> tensor<4x64xf32> {
  // expected-error @+1 {{'llm.rope' op positions has 5 entries but the input has 4 rows}}
  %0 = llm.rope %x, %p {num_heads = 8 : i64, head_dim = 8 : i64, theta = 1.0e+04 : f32, layout = #llm.rope_layout<interleaved>} : tensor<4x64xf32>, tensor<5xi32> -> tensor<4x64xf32>
  return %0 : tensor<4x64xf32>
}

// -----

func.func @rope_result(%x: tensor<?x64xf32>, %p: tensor<?xi32>) -> tensor<?x64xf16> {
  // expected-error @+1 {{'llm.rope' op result type 'tensor<?x64xf16>' does not match the expected 'tensor<?x64xf32>'}}
  %0 = llm.rope %x, %p {num_heads = 8 : i64, head_dim = 8 : i64, theta = 1.0e+04 : f32, layout = #llm.rope_layout<interleaved>} : tensor<?x64xf32>, tensor<?xi32> -> tensor<?x64xf16>
  return %0 : tensor<?x64xf16>
}

// -----

func.func @rope_layout_wrong_attr(%x: tensor<4x64xf32>, %p: tensor<4xi32>) -> tensor<4x64xf32> {
  // expected-error @+1 {{'llm.rope' op attribute 'layout' failed to satisfy constraint: which elements of a head RoPE rotates together}}
  %0 = llm.rope %x, %p {num_heads = 8 : i64, head_dim = 8 : i64, theta = 1.0e+04 : f32, layout = 0 : i32} : tensor<4x64xf32>, tensor<4xi32> -> tensor<4x64xf32>
  return %0 : tensor<4x64xf32>
}

// -----

func.func @rope_layout_unknown(%x: tensor<4x64xf32>, %p: tensor<4xi32>) -> tensor<4x64xf32> {
  // expected-error @+2 {{expected ::mlir::llm::RopeLayout to be one of: interleaved, rotate_half}}
  // expected-error @+1 {{failed to parse LLM_RopeLayoutAttr parameter 'value'}}
  %0 = llm.rope %x, %p {num_heads = 8 : i64, head_dim = 8 : i64, theta = 1.0e+04 : f32, layout = #llm.rope_layout<neox>} : tensor<4x64xf32>, tensor<4xi32> -> tensor<4x64xf32>
  return %0 : tensor<4x64xf32>
}

//===----------------------------------------------------------------------===//
// llm.attention
//===----------------------------------------------------------------------===//

// -----

func.func @attention_gqa_ratio(%q: tensor<?x48xf32>, %k: tensor<?x32xf32>, %v: tensor<?x32xf32>,
                               %kc: tensor<256x32xf32>, %vc: tensor<256x32xf32>, %pos: index) {
  // expected-error @+1 {{'llm.attention' op num_heads (6) is not a multiple of num_kv_heads (4)}}
  %o, %kc1, %vc1 = llm.attention %q, %k, %v, %kc, %vc, %pos {num_heads = 6 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64} : tensor<?x48xf32>, tensor<?x32xf32>, tensor<?x32xf32>, tensor<256x32xf32>, tensor<256x32xf32> -> tensor<?x48xf32>, tensor<256x32xf32>, tensor<256x32xf32>
  return
}

// -----

func.func @attention_kv_heads_zero(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %v: tensor<?x32xf32>,
                                   %kc: tensor<256x32xf32>, %vc: tensor<256x32xf32>, %pos: index) {
  // expected-error @+1 {{'llm.attention' op attribute 'num_kv_heads' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %o, %kc1, %vc1 = llm.attention %q, %k, %v, %kc, %vc, %pos {num_heads = 8 : i64, num_kv_heads = 0 : i64, head_dim = 8 : i64} : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>, tensor<256x32xf32>, tensor<256x32xf32> -> tensor<?x64xf32>, tensor<256x32xf32>, tensor<256x32xf32>
  return
}

// -----

func.func @attention_scale(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %v: tensor<?x32xf32>,
                           %kc: tensor<256x32xf32>, %vc: tensor<256x32xf32>, %pos: index) {
  // expected-error @+1 {{'llm.attention' op scale must be positive and finite, got -1.250000e-01 : f32}}
  %o, %kc1, %vc1 = llm.attention %q, %k, %v, %kc, %vc, %pos {num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64, scale = -0.125 : f32} : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>, tensor<256x32xf32>, tensor<256x32xf32> -> tensor<?x64xf32>, tensor<256x32xf32>, tensor<256x32xf32>
  return
}

// -----

func.func @attention_q_dynamic(%q: tensor<?x?xf32>, %k: tensor<?x32xf32>, %v: tensor<?x32xf32>,
                               %kc: tensor<256x32xf32>, %vc: tensor<256x32xf32>, %pos: index) {
  // expected-error @+1 {{'llm.attention' op q must have a static number of columns, got 'tensor<?x?xf32>'}}
  %o, %kc1, %vc1 = llm.attention %q, %k, %v, %kc, %vc, %pos {num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64} : tensor<?x?xf32>, tensor<?x32xf32>, tensor<?x32xf32>, tensor<256x32xf32>, tensor<256x32xf32> -> tensor<?x?xf32>, tensor<256x32xf32>, tensor<256x32xf32>
  return
}

// -----

func.func @attention_q_columns(%q: tensor<?x32xf32>, %k: tensor<?x32xf32>, %v: tensor<?x32xf32>,
                               %kc: tensor<256x32xf32>, %vc: tensor<256x32xf32>, %pos: index) {
  // expected-error @+1 {{'llm.attention' op q has 32 columns but num_heads (8) * head_dim (8) = 64}}
  %o, %kc1, %vc1 = llm.attention %q, %k, %v, %kc, %vc, %pos {num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64} : tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>, tensor<256x32xf32>, tensor<256x32xf32> -> tensor<?x32xf32>, tensor<256x32xf32>, tensor<256x32xf32>
  return
}

// -----

func.func @attention_k_type(%q: tensor<?x64xf32>, %k: tensor<?x32xf16>, %v: tensor<?x32xf32>,
                            %kc: tensor<256x32xf32>, %vc: tensor<256x32xf32>, %pos: index) {
  // expected-error @+1 {{'llm.attention' op k element type 'f16' does not match the q element type 'f32'}}
  %o, %kc1, %vc1 = llm.attention %q, %k, %v, %kc, %vc, %pos {num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64} : tensor<?x64xf32>, tensor<?x32xf16>, tensor<?x32xf32>, tensor<256x32xf32>, tensor<256x32xf32> -> tensor<?x64xf32>, tensor<256x32xf32>, tensor<256x32xf32>
  return
}

// -----

func.func @attention_v_type(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %v: tensor<?x32xbf16>,
                            %kc: tensor<256x32xf32>, %vc: tensor<256x32xf32>, %pos: index) {
  // expected-error @+1 {{'llm.attention' op v element type 'bf16' does not match the q element type 'f32'}}
  %o, %kc1, %vc1 = llm.attention %q, %k, %v, %kc, %vc, %pos {num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64} : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xbf16>, tensor<256x32xf32>, tensor<256x32xf32> -> tensor<?x64xf32>, tensor<256x32xf32>, tensor<256x32xf32>
  return
}

// -----

func.func @attention_k_rows(%q: tensor<4x64xf32>, %k: tensor<5x32xf32>, %v: tensor<4x32xf32>,
                            %kc: tensor<256x32xf32>, %vc: tensor<256x32xf32>, %pos: index) {
  // expected-error @+1 {{'llm.attention' op k has 5 rows but q has 4}}
  %o, %kc1, %vc1 = llm.attention %q, %k, %v, %kc, %vc, %pos {num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64} : tensor<4x64xf32>, tensor<5x32xf32>, tensor<4x32xf32>, tensor<256x32xf32>, tensor<256x32xf32> -> tensor<4x64xf32>, tensor<256x32xf32>, tensor<256x32xf32>
  return
}

// -----

func.func @attention_v_rows(%q: tensor<4x64xf32>, %k: tensor<?x32xf32>, %v: tensor<3x32xf32>,
                            %kc: tensor<256x32xf32>, %vc: tensor<256x32xf32>, %pos: index) {
  // expected-error @+1 {{'llm.attention' op v has 3 rows but q has 4}}
  %o, %kc1, %vc1 = llm.attention %q, %k, %v, %kc, %vc, %pos {num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64} : tensor<4x64xf32>, tensor<?x32xf32>, tensor<3x32xf32>, tensor<256x32xf32>, tensor<256x32xf32> -> tensor<4x64xf32>, tensor<256x32xf32>, tensor<256x32xf32>
  return
}

// -----

func.func @attention_k_dynamic(%q: tensor<?x64xf32>, %k: tensor<?x?xf32>, %v: tensor<?x32xf32>,
                               %kc: tensor<256x32xf32>, %vc: tensor<256x32xf32>, %pos: index) {
  // expected-error @+1 {{'llm.attention' op k must have a static number of columns, got 'tensor<?x?xf32>'}}
  %o, %kc1, %vc1 = llm.attention %q, %k, %v, %kc, %vc, %pos {num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64} : tensor<?x64xf32>, tensor<?x?xf32>, tensor<?x32xf32>, tensor<256x32xf32>, tensor<256x32xf32> -> tensor<?x64xf32>, tensor<256x32xf32>, tensor<256x32xf32>
  return
}

// -----

func.func @attention_k_columns(%q: tensor<?x64xf32>, %k: tensor<?x64xf32>, %v: tensor<?x32xf32>,
                               %kc: tensor<256x32xf32>, %vc: tensor<256x32xf32>, %pos: index) {
  // expected-error @+1 {{'llm.attention' op k has 64 columns but num_kv_heads (4) * head_dim (8) = 32}}
  %o, %kc1, %vc1 = llm.attention %q, %k, %v, %kc, %vc, %pos {num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64} : tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x32xf32>, tensor<256x32xf32>, tensor<256x32xf32> -> tensor<?x64xf32>, tensor<256x32xf32>, tensor<256x32xf32>
  return
}

// -----

func.func @attention_v_columns(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %v: tensor<?x16xf32>,
                               %kc: tensor<256x32xf32>, %vc: tensor<256x32xf32>, %pos: index) {
  // expected-error @+1 {{'llm.attention' op v has 16 columns but num_kv_heads (4) * head_dim (8) = 32}}
  %o, %kc1, %vc1 = llm.attention %q, %k, %v, %kc, %vc, %pos {num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64} : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x16xf32>, tensor<256x32xf32>, tensor<256x32xf32> -> tensor<?x64xf32>, tensor<256x32xf32>, tensor<256x32xf32>
  return
}

// -----

func.func @attention_k_cache_type(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %v: tensor<?x32xf32>,
                                  %kc: tensor<256x32xf16>, %vc: tensor<256x32xf16>, %pos: index) {
  // expected-error @+1 {{'llm.attention' op k_cache element type 'f16' does not match the q element type 'f32'}}
  %o, %kc1, %vc1 = llm.attention %q, %k, %v, %kc, %vc, %pos {num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64} : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>, tensor<256x32xf16>, tensor<256x32xf16> -> tensor<?x64xf32>, tensor<256x32xf16>, tensor<256x32xf16>
  return
}

// -----

func.func @attention_k_cache_dynamic(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %v: tensor<?x32xf32>,
                                     %kc: tensor<?x32xf32>, %vc: tensor<?x32xf32>, %pos: index) {
  // expected-error @+1 {{'llm.attention' op k_cache must have a static shape, got 'tensor<?x32xf32>'}}
  %o, %kc1, %vc1 = llm.attention %q, %k, %v, %kc, %vc, %pos {num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64} : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32> -> tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>
  return
}

// -----

func.func @attention_k_cache_columns(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %v: tensor<?x32xf32>,
                                     %kc: tensor<256x64xf32>, %vc: tensor<256x64xf32>, %pos: index) {
  // expected-error @+1 {{'llm.attention' op k_cache has 64 columns but num_kv_heads (4) * head_dim (8) = 32}}
  %o, %kc1, %vc1 = llm.attention %q, %k, %v, %kc, %vc, %pos {num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64} : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>, tensor<256x64xf32>, tensor<256x64xf32> -> tensor<?x64xf32>, tensor<256x64xf32>, tensor<256x64xf32>
  return
}

// -----

func.func @attention_v_cache_type(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %v: tensor<?x32xf32>,
                                  %kc: tensor<256x32xf32>, %vc: tensor<128x32xf32>, %pos: index) {
  // expected-error @+1 {{'llm.attention' op v_cache type 'tensor<128x32xf32>' does not match the k_cache type 'tensor<256x32xf32>'}}
  %o, %kc1, %vc1 = llm.attention %q, %k, %v, %kc, %vc, %pos {num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64} : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>, tensor<256x32xf32>, tensor<128x32xf32> -> tensor<?x64xf32>, tensor<256x32xf32>, tensor<128x32xf32>
  return
}

// -----

func.func @attention_context_overflow(%q: tensor<300x64xf32>, %k: tensor<300x32xf32>, %v: tensor<300x32xf32>,
                                      %kc: tensor<256x32xf32>, %vc: tensor<256x32xf32>, %pos: index) {
  // expected-error @+1 {{'llm.attention' op q has 300 rows but the KV cache holds at most 256}}
  %o, %kc1, %vc1 = llm.attention %q, %k, %v, %kc, %vc, %pos {num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64} : tensor<300x64xf32>, tensor<300x32xf32>, tensor<300x32xf32>, tensor<256x32xf32>, tensor<256x32xf32> -> tensor<300x64xf32>, tensor<256x32xf32>, tensor<256x32xf32>
  return
}

// -----

func.func @attention_out_type(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %v: tensor<?x32xf32>,
                              %kc: tensor<256x32xf32>, %vc: tensor<256x32xf32>, %pos: index) {
  // expected-error @+1 {{'llm.attention' op out type 'tensor<?x32xf32>' does not match the expected 'tensor<?x64xf32>'}}
  %o, %kc1, %vc1 = llm.attention %q, %k, %v, %kc, %vc, %pos {num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64} : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>, tensor<256x32xf32>, tensor<256x32xf32> -> tensor<?x32xf32>, tensor<256x32xf32>, tensor<256x32xf32>
  return
}

// -----

func.func @attention_new_k_cache_type(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %v: tensor<?x32xf32>,
                                      %kc: tensor<256x32xf32>, %vc: tensor<256x32xf32>, %pos: index) {
  // expected-error @+1 {{'llm.attention' op new_k_cache type 'tensor<128x32xf32>' does not match the expected 'tensor<256x32xf32>'}}
  %o, %kc1, %vc1 = llm.attention %q, %k, %v, %kc, %vc, %pos {num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64} : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>, tensor<256x32xf32>, tensor<256x32xf32> -> tensor<?x64xf32>, tensor<128x32xf32>, tensor<256x32xf32>
  return
}

// -----

func.func @attention_new_v_cache_type(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %v: tensor<?x32xf32>,
                                      %kc: tensor<256x32xf32>, %vc: tensor<256x32xf32>, %pos: index) {
  // expected-error @+1 {{'llm.attention' op new_v_cache type 'tensor<256x32xf16>' does not match the expected 'tensor<256x32xf32>'}}
  %o, %kc1, %vc1 = llm.attention %q, %k, %v, %kc, %vc, %pos {num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64} : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>, tensor<256x32xf32>, tensor<256x32xf32> -> tensor<?x64xf32>, tensor<256x32xf32>, tensor<256x32xf16>
  return
}

// -----

// start_pos must be an index; only the generic form can spell another type.
func.func @attention_start_pos_i32(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %v: tensor<?x32xf32>,
                                   %kc: tensor<256x32xf32>, %vc: tensor<256x32xf32>, %pos: i32) {
  // expected-error @+1 {{'llm.attention' op operand #5 must be index, but got 'i32'}}
  %o:3 = "llm.attention"(%q, %k, %v, %kc, %vc, %pos) <{num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64}> : (tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>, tensor<256x32xf32>, tensor<256x32xf32>, i32) -> (tensor<?x64xf32>, tensor<256x32xf32>, tensor<256x32xf32>)
  return
}

//===----------------------------------------------------------------------===//
// llm.swiglu
//===----------------------------------------------------------------------===//

// -----

func.func @swiglu_gate_dynamic(%g: tensor<4x?xf32>, %u: tensor<4x172xf32>) -> tensor<4x?xf32> {
  // expected-error @+1 {{'llm.swiglu' op gate must have a static number of columns, got 'tensor<4x?xf32>'}}
  %0 = llm.swiglu %g, %u : tensor<4x?xf32>, tensor<4x172xf32> -> tensor<4x?xf32>
  return %0 : tensor<4x?xf32>
}

// -----

func.func @swiglu_up_type(%g: tensor<4x172xf32>, %u: tensor<4x172xf16>) -> tensor<4x172xf32> {
  // expected-error @+1 {{'llm.swiglu' op up element type 'f16' does not match the gate element type 'f32'}}
  %0 = llm.swiglu %g, %u : tensor<4x172xf32>, tensor<4x172xf16> -> tensor<4x172xf32>
  return %0 : tensor<4x172xf32>
}

// -----

func.func @swiglu_up_shape(%g: tensor<?x172xf32>, %u: tensor<?x64xf32>) -> tensor<?x172xf32> {
  // expected-error @+1 {{'llm.swiglu' op up shape ?x64 does not match the gate shape ?x172}}
  %0 = llm.swiglu %g, %u : tensor<?x172xf32>, tensor<?x64xf32> -> tensor<?x172xf32>
  return %0 : tensor<?x172xf32>
}

// -----

func.func @swiglu_result(%g: tensor<?x172xf32>, %u: tensor<4x172xf32>) -> tensor<5x172xf32> {
  // expected-error @+1 {{'llm.swiglu' op result type 'tensor<5x172xf32>' does not match the expected 'tensor<4x172xf32>'}}
  %0 = llm.swiglu %g, %u : tensor<?x172xf32>, tensor<4x172xf32> -> tensor<5x172xf32>
  return %0 : tensor<5x172xf32>
}

//===----------------------------------------------------------------------===//
// llm.add
//===----------------------------------------------------------------------===//

// -----

func.func @add_lhs_dynamic(%a: tensor<4x?xf32>, %b: tensor<4x64xf32>) -> tensor<4x?xf32> {
  // expected-error @+1 {{'llm.add' op lhs must have a static number of columns, got 'tensor<4x?xf32>'}}
  %0 = llm.add %a, %b : tensor<4x?xf32>, tensor<4x64xf32> -> tensor<4x?xf32>
  return %0 : tensor<4x?xf32>
}

// -----

func.func @add_rhs_type(%a: tensor<4x64xbf16>, %b: tensor<4x64xf16>) -> tensor<4x64xbf16> {
  // expected-error @+1 {{'llm.add' op rhs element type 'f16' does not match the lhs element type 'bf16'}}
  %0 = llm.add %a, %b : tensor<4x64xbf16>, tensor<4x64xf16> -> tensor<4x64xbf16>
  return %0 : tensor<4x64xbf16>
}

// -----

func.func @add_rhs_shape(%a: tensor<4x64xf32>, %b: tensor<5x64xf32>) -> tensor<4x64xf32> {
  // expected-error @+1 {{'llm.add' op rhs shape 5x64 does not match the lhs shape 4x64}}
  %0 = llm.add %a, %b : tensor<4x64xf32>, tensor<5x64xf32> -> tensor<4x64xf32>
  return %0 : tensor<4x64xf32>
}

// -----

func.func @add_result(%a: tensor<4x64xf32>, %b: tensor<4x64xf32>) -> tensor<4x64xf16> {
  // expected-error @+1 {{'llm.add' op result type 'tensor<4x64xf16>' does not match the expected 'tensor<4x64xf32>'}}
  %0 = llm.add %a, %b : tensor<4x64xf32>, tensor<4x64xf32> -> tensor<4x64xf16>
  return %0 : tensor<4x64xf16>
}

//===----------------------------------------------------------------------===//
// llm.logits
//===----------------------------------------------------------------------===//

// -----

func.func @logits_input_dynamic(%h: tensor<4x?xf32>, %w: tensor<512x64xf32>) -> tensor<4x512xf32> {
  // expected-error @+1 {{'llm.logits' op input must have a static hidden size, got 'tensor<4x?xf32>'}}
  %0 = llm.logits %h, %w : tensor<4x?xf32>, tensor<512x64xf32> -> tensor<4x512xf32>
  return %0 : tensor<4x512xf32>
}

// -----

func.func @logits_weight_dynamic(%h: tensor<4x64xf32>, %w: tensor<?x64xf32>) -> tensor<4x?xf32> {
  // expected-error @+1 {{'llm.logits' op weight must have a static shape, got 'tensor<?x64xf32>'}}
  %0 = llm.logits %h, %w : tensor<4x64xf32>, tensor<?x64xf32> -> tensor<4x?xf32>
  return %0 : tensor<4x?xf32>
}

// -----

func.func @logits_weight_type(%h: tensor<4x64xf16>, %w: tensor<512x64xf32>) -> tensor<4x512xf32> {
  // expected-error @+1 {{'llm.logits' op weight element type 'f32' does not match the input element type 'f16'}}
  %0 = llm.logits %h, %w : tensor<4x64xf16>, tensor<512x64xf32> -> tensor<4x512xf32>
  return %0 : tensor<4x512xf32>
}

// -----

func.func @logits_hidden(%h: tensor<4x64xf32>, %w: tensor<512x32xf32>) -> tensor<4x512xf32> {
  // expected-error @+1 {{'llm.logits' op weight has 32 columns but the input's hidden size is 64}}
  %0 = llm.logits %h, %w : tensor<4x64xf32>, tensor<512x32xf32> -> tensor<4x512xf32>
  return %0 : tensor<4x512xf32>
}

// -----

func.func @logits_last_of_empty(%h: tensor<0x64xf32>, %w: tensor<512x64xf32>) -> tensor<1x512xf32> {
  // expected-error @+1 {{'llm.logits' op last_token_only needs at least one input row, got 0}}
  %0 = llm.logits %h, %w {last_token_only} : tensor<0x64xf32>, tensor<512x64xf32> -> tensor<1x512xf32>
  return %0 : tensor<1x512xf32>
}

// -----

func.func @logits_last_rows(%h: tensor<?x64xf32>, %w: tensor<512x64xf32>) -> tensor<?x512xf32> {
  // expected-error @+1 {{'llm.logits' op result type 'tensor<?x512xf32>' does not match the expected 'tensor<1x512xf32>'}}
  %0 = llm.logits %h, %w {last_token_only} : tensor<?x64xf32>, tensor<512x64xf32> -> tensor<?x512xf32>
  return %0 : tensor<?x512xf32>
}

// -----

func.func @logits_vocab(%h: tensor<?x64xf32>, %w: tensor<512x64xf32>) -> tensor<?x256xf32> {
  // expected-error @+1 {{'llm.logits' op result type 'tensor<?x256xf32>' does not match the expected 'tensor<?x512xf32>'}}
  %0 = llm.logits %h, %w : tensor<?x64xf32>, tensor<512x64xf32> -> tensor<?x256xf32>
  return %0 : tensor<?x256xf32>
}

// -----

func.func @logits_result_f16(%h: tensor<?x64xf16>, %w: tensor<512x64xf16>) -> tensor<?x512xf16> {
  // expected-error @+1 {{'llm.logits' op result #0 must be 2D tensor of 32-bit float values}}
  %0 = llm.logits %h, %w : tensor<?x64xf16>, tensor<512x64xf16> -> tensor<?x512xf16>
  return %0 : tensor<?x512xf16>
}

// -----

// llm.llama3_rope_scaling

func.func @rope_scaling_factor(%x: tensor<4x64xf32>, %p: tensor<4xi32>) -> tensor<4x64xf32> {
  // expected-error @+1 {{llama3 rope scaling factor must be positive and finite, got 0}}
  %0 = llm.rope %x, %p {num_heads = 8 : i64, head_dim = 8 : i64, theta = 5.0e+05 : f32, layout = #llm.rope_layout<rotate_half>, scaling = #llm.llama3_rope_scaling<factor = 0.0 : f32, low_freq_factor = 1.0 : f32, high_freq_factor = 4.0 : f32, original_max_position = 8192>} : tensor<4x64xf32>, tensor<4xi32> -> tensor<4x64xf32>
  return %0 : tensor<4x64xf32>
}

// -----

func.func @rope_scaling_low(%x: tensor<4x64xf32>, %p: tensor<4xi32>) -> tensor<4x64xf32> {
  // expected-error @+1 {{low_freq_factor must be positive, got -1}}
  %0 = llm.rope %x, %p {num_heads = 8 : i64, head_dim = 8 : i64, theta = 5.0e+05 : f32, layout = #llm.rope_layout<rotate_half>, scaling = #llm.llama3_rope_scaling<factor = 8.0 : f32, low_freq_factor = -1.0 : f32, high_freq_factor = 4.0 : f32, original_max_position = 8192>} : tensor<4x64xf32>, tensor<4xi32> -> tensor<4x64xf32>
  return %0 : tensor<4x64xf32>
}

// -----

func.func @rope_scaling_high(%x: tensor<4x64xf32>, %p: tensor<4xi32>) -> tensor<4x64xf32> {
  // expected-error @+1 {{high_freq_factor (1.000000e+00) must be finite and greater than low_freq_factor (2.000000e+00)}}
  %0 = llm.rope %x, %p {num_heads = 8 : i64, head_dim = 8 : i64, theta = 5.0e+05 : f32, layout = #llm.rope_layout<rotate_half>, scaling = #llm.llama3_rope_scaling<factor = 8.0 : f32, low_freq_factor = 2.0 : f32, high_freq_factor = 1.0 : f32, original_max_position = 8192>} : tensor<4x64xf32>, tensor<4xi32> -> tensor<4x64xf32>
  return %0 : tensor<4x64xf32>
}

// -----

func.func @rope_scaling_max_pos(%x: tensor<4x64xf32>, %p: tensor<4xi32>) -> tensor<4x64xf32> {
  // expected-error @+1 {{original_max_position must be positive, got 0}}
  %0 = llm.rope %x, %p {num_heads = 8 : i64, head_dim = 8 : i64, theta = 5.0e+05 : f32, layout = #llm.rope_layout<rotate_half>, scaling = #llm.llama3_rope_scaling<factor = 8.0 : f32, low_freq_factor = 1.0 : f32, high_freq_factor = 4.0 : f32, original_max_position = 0>} : tensor<4x64xf32>, tensor<4xi32> -> tensor<4x64xf32>
  return %0 : tensor<4x64xf32>
}

// -----

func.func @rope_scaling_type(%x: tensor<4x64xf32>, %p: tensor<4xi32>) -> tensor<4x64xf32> {
  // expected-error @+1 {{llama3 rope scaling factors must be f32}}
  %0 = llm.rope %x, %p {num_heads = 8 : i64, head_dim = 8 : i64, theta = 5.0e+05 : f32, layout = #llm.rope_layout<rotate_half>, scaling = #llm.llama3_rope_scaling<factor = 8.0 : f64, low_freq_factor = 1.0 : f32, high_freq_factor = 4.0 : f32, original_max_position = 8192>} : tensor<4x64xf32>, tensor<4xi32> -> tensor<4x64xf32>
  return %0 : tensor<4x64xf32>
}
