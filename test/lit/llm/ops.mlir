// RUN: mixq-opt %s | mixq-opt | FileCheck %s
// RUN: mixq-opt %s --mlir-print-op-generic | mixq-opt | FileCheck %s

// Round trip of every llm op, in the custom and the generic form.

// CHECK-LABEL: func.func @weight
func.func @weight() -> (tensor<512x64xf32>, tensor<64xbf16>) {
  // CHECK: llm.weight @tok_embeddings : tensor<512x64xf32>
  %0 = llm.weight @tok_embeddings : tensor<512x64xf32>
  // CHECK: llm.weight @blk0.attn_norm : tensor<64xbf16>
  %1 = llm.weight @blk0.attn_norm : tensor<64xbf16>
  return %0, %1 : tensor<512x64xf32>, tensor<64xbf16>
}

// CHECK-LABEL: func.func @embed
func.func @embed(%table: tensor<512x64xf16>, %tokens: tensor<?xi32>,
                 %one: tensor<1xi32>) -> (tensor<?x64xf16>, tensor<1x64xf16>) {
  // CHECK: llm.embed %{{.*}}, %{{.*}} : tensor<512x64xf16>, tensor<?xi32> -> tensor<?x64xf16>
  %0 = llm.embed %table, %tokens : tensor<512x64xf16>, tensor<?xi32> -> tensor<?x64xf16>
  // CHECK: llm.embed %{{.*}}, %{{.*}} : tensor<512x64xf16>, tensor<1xi32> -> tensor<1x64xf16>
  %1 = llm.embed %table, %one : tensor<512x64xf16>, tensor<1xi32> -> tensor<1x64xf16>
  return %0, %1 : tensor<?x64xf16>, tensor<1x64xf16>
}

// CHECK-LABEL: func.func @rms_norm
func.func @rms_norm(%x: tensor<?x64xbf16>, %w: tensor<64xbf16>) -> tensor<?x64xbf16> {
  // CHECK: llm.rms_norm %{{.*}}, %{{.*}} {eps = 9.99999974E-6 : f32} : tensor<?x64xbf16>, tensor<64xbf16> -> tensor<?x64xbf16>
  %0 = llm.rms_norm %x, %w {eps = 1.0e-05 : f32} : tensor<?x64xbf16>, tensor<64xbf16> -> tensor<?x64xbf16>
  return %0 : tensor<?x64xbf16>
}

// CHECK-LABEL: func.func @linear
func.func @linear(%x: tensor<?x64xf32>, %w: tensor<172x64xf32>,
                  %x4: tensor<4x64xf32>) -> (tensor<?x172xf32>, tensor<4x172xf32>) {
  // CHECK: llm.linear %{{.*}}, %{{.*}} : tensor<?x64xf32>, tensor<172x64xf32> -> tensor<?x172xf32>
  %0 = llm.linear %x, %w : tensor<?x64xf32>, tensor<172x64xf32> -> tensor<?x172xf32>
  // CHECK: llm.linear %{{.*}}, %{{.*}} : tensor<4x64xf32>, tensor<172x64xf32> -> tensor<4x172xf32>
  %1 = llm.linear %x4, %w : tensor<4x64xf32>, tensor<172x64xf32> -> tensor<4x172xf32>
  return %0, %1 : tensor<?x172xf32>, tensor<4x172xf32>
}

// CHECK-LABEL: func.func @rope
func.func @rope(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %pos: tensor<?xi32>)
    -> (tensor<?x64xf32>, tensor<?x32xf32>) {
  // CHECK: llm.rope %{{.*}}, %{{.*}} {head_dim = 8 : i64, layout = #llm.rope_layout<interleaved>, num_heads = 8 : i64, theta = 1.000000e+04 : f32} : tensor<?x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
  %0 = llm.rope %q, %pos {num_heads = 8 : i64, head_dim = 8 : i64, theta = 1.0e+04 : f32, layout = #llm.rope_layout<interleaved>} : tensor<?x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
  // CHECK: llm.rope %{{.*}}, %{{.*}} {head_dim = 8 : i64, layout = #llm.rope_layout<rotate_half>, num_heads = 4 : i64, theta = 5.000000e+05 : f32} : tensor<?x32xf32>, tensor<?xi32> -> tensor<?x32xf32>
  %1 = llm.rope %k, %pos {num_heads = 4 : i64, head_dim = 8 : i64, theta = 5.0e+05 : f32, layout = #llm.rope_layout<rotate_half>} : tensor<?x32xf32>, tensor<?xi32> -> tensor<?x32xf32>
  return %0, %1 : tensor<?x64xf32>, tensor<?x32xf32>
}

// CHECK-LABEL: func.func @attention
func.func @attention(%q: tensor<?x64xf16>, %k: tensor<?x32xf16>, %v: tensor<?x32xf16>,
                     %kc: tensor<256x32xf16>, %vc: tensor<256x32xf16>, %pos: index)
    -> (tensor<?x64xf16>, tensor<256x32xf16>, tensor<256x32xf16>) {
  // CHECK: %[[OUT:[a-z_0-9]+]], %[[KC:[a-z_0-9]+]], %[[VC:[a-z_0-9]+]] = llm.attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {head_dim = 8 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64} : tensor<?x64xf16>, tensor<?x32xf16>, tensor<?x32xf16>, tensor<256x32xf16>, tensor<256x32xf16> -> tensor<?x64xf16>, tensor<256x32xf16>, tensor<256x32xf16>
  %o, %kc1, %vc1 = llm.attention %q, %k, %v, %kc, %vc, %pos {num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64} : tensor<?x64xf16>, tensor<?x32xf16>, tensor<?x32xf16>, tensor<256x32xf16>, tensor<256x32xf16> -> tensor<?x64xf16>, tensor<256x32xf16>, tensor<256x32xf16>
  // CHECK: llm.attention %{{.*}}, %{{.*}}, %[[KC]], %[[VC]], %{{.*}} {head_dim = 8 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, scale = 1.250000e-01 : f32} : tensor<?x64xf16>, tensor<?x32xf16>, tensor<?x32xf16>, tensor<256x32xf16>, tensor<256x32xf16> -> tensor<?x64xf16>, tensor<256x32xf16>, tensor<256x32xf16>
  %o2, %kc2, %vc2 = llm.attention %q, %k, %v, %kc1, %vc1, %pos {num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64, scale = 0.125 : f32} : tensor<?x64xf16>, tensor<?x32xf16>, tensor<?x32xf16>, tensor<256x32xf16>, tensor<256x32xf16> -> tensor<?x64xf16>, tensor<256x32xf16>, tensor<256x32xf16>
  return %o2, %kc2, %vc2 : tensor<?x64xf16>, tensor<256x32xf16>, tensor<256x32xf16>
}

// Multi-head attention (num_kv_heads == num_heads), one decode step.
// CHECK-LABEL: func.func @attention_mha_decode
func.func @attention_mha_decode(%q: tensor<1x64xf32>, %k: tensor<1x64xf32>, %v: tensor<1x64xf32>,
                                %kc: tensor<16x64xf32>, %vc: tensor<16x64xf32>, %pos: index)
    -> tensor<1x64xf32> {
  // CHECK: llm.attention {{.*}} {head_dim = 16 : i64, num_heads = 4 : i64, num_kv_heads = 4 : i64} : tensor<1x64xf32>, tensor<1x64xf32>, tensor<1x64xf32>, tensor<16x64xf32>, tensor<16x64xf32> -> tensor<1x64xf32>, tensor<16x64xf32>, tensor<16x64xf32>
  %o, %kc1, %vc1 = llm.attention %q, %k, %v, %kc, %vc, %pos {num_heads = 4 : i64, num_kv_heads = 4 : i64, head_dim = 16 : i64} : tensor<1x64xf32>, tensor<1x64xf32>, tensor<1x64xf32>, tensor<16x64xf32>, tensor<16x64xf32> -> tensor<1x64xf32>, tensor<16x64xf32>, tensor<16x64xf32>
  return %o : tensor<1x64xf32>
}

// CHECK-LABEL: func.func @swiglu
func.func @swiglu(%g: tensor<?x172xf32>, %u: tensor<?x172xf32>) -> tensor<?x172xf32> {
  // CHECK: llm.swiglu %{{.*}}, %{{.*}} : tensor<?x172xf32>, tensor<?x172xf32> -> tensor<?x172xf32>
  %0 = llm.swiglu %g, %u : tensor<?x172xf32>, tensor<?x172xf32> -> tensor<?x172xf32>
  return %0 : tensor<?x172xf32>
}

// CHECK-LABEL: func.func @add
func.func @add(%a: tensor<?x64xf16>, %b: tensor<?x64xf16>) -> tensor<?x64xf16> {
  // CHECK: llm.add %{{.*}}, %{{.*}} : tensor<?x64xf16>, tensor<?x64xf16> -> tensor<?x64xf16>
  %0 = llm.add %a, %b : tensor<?x64xf16>, tensor<?x64xf16> -> tensor<?x64xf16>
  return %0 : tensor<?x64xf16>
}

// CHECK-LABEL: func.func @logits
func.func @logits(%h: tensor<?x64xbf16>, %w: tensor<512x64xbf16>)
    -> (tensor<?x512xf32>, tensor<1x512xf32>) {
  // CHECK: llm.logits %{{.*}}, %{{.*}} : tensor<?x64xbf16>, tensor<512x64xbf16> -> tensor<?x512xf32>
  %0 = llm.logits %h, %w : tensor<?x64xbf16>, tensor<512x64xbf16> -> tensor<?x512xf32>
  // CHECK: llm.logits %{{.*}}, %{{.*}} {last_token_only} : tensor<?x64xbf16>, tensor<512x64xbf16> -> tensor<1x512xf32>
  %1 = llm.logits %h, %w {last_token_only} : tensor<?x64xbf16>, tensor<512x64xbf16> -> tensor<1x512xf32>
  return %0, %1 : tensor<?x512xf32>, tensor<1x512xf32>
}

// The layout enum also round-trips as a free-standing attribute.
// CHECK-LABEL: func.func @rope_llama3_scaling
func.func @rope_llama3_scaling(%q: tensor<?x64xf32>, %pos: tensor<?xi32>) -> tensor<?x64xf32> {
  // CHECK: llm.rope %{{.*}}, %{{.*}} {head_dim = 8 : i64, layout = #llm.rope_layout<rotate_half>, num_heads = 8 : i64, scaling = #llm.llama3_rope_scaling<factor = 8.000000e+00 : f32, low_freq_factor = 1.000000e+00 : f32, high_freq_factor = 4.000000e+00 : f32, original_max_position = 8192>, theta = 5.000000e+05 : f32}
  %0 = llm.rope %q, %pos {num_heads = 8 : i64, head_dim = 8 : i64, theta = 5.0e+05 : f32, layout = #llm.rope_layout<rotate_half>, scaling = #llm.llama3_rope_scaling<factor = 8.0 : f32, low_freq_factor = 1.0 : f32, high_freq_factor = 4.0 : f32, original_max_position = 8192>} : tensor<?x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// CHECK-LABEL: func.func @rope_layout_attr
// CHECK-SAME: layouts = [#llm.rope_layout<interleaved>, #llm.rope_layout<rotate_half>]
func.func @rope_layout_attr() attributes {layouts = [#llm.rope_layout<interleaved>, #llm.rope_layout<rotate_half>]} {
  return
}
