// End-to-end check of llm.attention through the reference lowering
// (--mixq-lower-llm-to-linalg inside --mixq-reference-to-llvm), run on the
// CPU with mlir-runner: KV cache update, causal mask, grouped-query head
// mapping and the softmax, with hand-computed results.
//
// RUN: mixq-opt %s --mixq-reference-to-llvm \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:     -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils \
// RUN: | FileCheck %s

func.func private @printMemrefF32(tensor<*xf32>)
func.func private @printMemrefF16(tensor<*xf16>) attributes {llvm.emit_c_interface}

// H = 2 query heads sharing Hkv = 1 kv head, Dh = 2, Lmax = 4, start_pos 1,
// S = 2 new rows at positions 1 and 2, scale 1.
// Cache before: row 0 (an earlier step) k = (1, 0), v = (1, 2); rows 1 and 2
// hold stale 7s that the new k = (0, 1), (1, 1) and v = (3, 4), (5, 6)
// replace; row 3 holds 100s that nothing may read (it is past
// start_pos + S) and that must stay.
// Row 0 (position 1) sees cache rows 0..1:
//   head 0, q = (ln 3, 0): scores (ln 3, 0), p = (3/4, 1/4)
//     out = 3/4 (1, 2) + 1/4 (3, 4) = (1.5, 2.5)
//     (without the causal mask it would also see row 2: score ln 3)
//   head 1, q = 0: p = (1/2, 1/2), out = (2, 3)
// Row 1 (position 2) sees cache rows 0..2:
//   head 0, q = (0, ln 2): scores (0, ln 2, ln 2), exp = (1, 2, 2),
//     p = (0.2, 0.4, 0.4), out = 0.2 (1, 2) + 0.4 (3, 4) + 0.4 (5, 6)
//     = (3.4, 4.4)
//   head 1, q = 0: p = 1/3 each, out = (3, 4)
func.func @attention_f32() {
  %q = arith.constant dense<[[1.0986123, 0.0, 0.0, 0.0],
                             [0.0, 0.693147182, 0.0, 0.0]]> : tensor<2x4xf32>
  %k = arith.constant dense<[[0.0, 1.0], [1.0, 1.0]]> : tensor<2x2xf32>
  %v = arith.constant dense<[[3.0, 4.0], [5.0, 6.0]]> : tensor<2x2xf32>
  %kc = arith.constant dense<[[1.0, 0.0], [7.0, 7.0], [7.0, 7.0], [100.0, 100.0]]> : tensor<4x2xf32>
  %vc = arith.constant dense<[[1.0, 2.0], [7.0, 7.0], [7.0, 7.0], [100.0, 100.0]]> : tensor<4x2xf32>
  %p = arith.constant 1 : index
  %o, %kc1, %vc1 = llm.attention %q, %k, %v, %kc, %vc, %p
      {num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 2 : i64, scale = 1.0 : f32}
      : tensor<2x4xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<4x2xf32>, tensor<4x2xf32>
      -> tensor<2x4xf32>, tensor<4x2xf32>, tensor<4x2xf32>
  %u = tensor.cast %o : tensor<2x4xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  %uk = tensor.cast %kc1 : tensor<4x2xf32> to tensor<*xf32>
  call @printMemrefF32(%uk) : (tensor<*xf32>) -> ()
  %uv = tensor.cast %vc1 : tensor<4x2xf32> to tensor<*xf32>
  call @printMemrefF32(%uv) : (tensor<*xf32>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [2, 4]
// CHECK-NEXT: {{\[\[}}1.5, {{ *}}2.5, {{ *}}2, {{ *}}3],
// CHECK-NEXT: {{ \[}}3.4, {{ *}}4.4, {{ *}}3, {{ *}}4]]
// CHECK-LABEL: rank = 2 offset = 0 sizes = [4, 2]
// CHECK-NEXT: {{\[\[}}1, {{ *}}0],
// CHECK-NEXT: {{ \[}}0, {{ *}}1],
// CHECK-NEXT: {{ \[}}1, {{ *}}1],
// CHECK-NEXT: {{ \[}}100, {{ *}}100]]
// CHECK-LABEL: rank = 2 offset = 0 sizes = [4, 2]
// CHECK-NEXT: {{\[\[}}1, {{ *}}2],
// CHECK-NEXT: {{ \[}}3, {{ *}}4],
// CHECK-NEXT: {{ \[}}5, {{ *}}6],
// CHECK-NEXT: {{ \[}}100, {{ *}}100]]

// The same step in f16 with a dynamic S, start_pos a function argument and
// the default scale 1 / sqrt(2): q is multiplied by sqrt(2) and stored in
// f16 (ln 3 sqrt 2 -> 1.5537109, ln 2 sqrt 2 -> 0.9804688), so the scores
// are ln 3 and ln 2 up to f16 rounding of q. Only the output is rounded to
// f16: row 0 gives (1.49999, 2.49999) -> (1.5, 2.5); row 1 head 0 gives
// (3.40007, 4.40007) -> (1741 * 2^-9, 1126 * 2^-8) = (3.40039, 4.39844).
func.func @attention_dynamic(%q: tensor<?x4xf16>, %k: tensor<?x2xf16>, %v: tensor<?x2xf16>,
                             %kc: tensor<4x2xf16>, %vc: tensor<4x2xf16>, %p: index) {
  %o, %kc1, %vc1 = llm.attention %q, %k, %v, %kc, %vc, %p
      {num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 2 : i64}
      : tensor<?x4xf16>, tensor<?x2xf16>, tensor<?x2xf16>, tensor<4x2xf16>, tensor<4x2xf16>
      -> tensor<?x4xf16>, tensor<4x2xf16>, tensor<4x2xf16>
  %u = tensor.cast %o : tensor<?x4xf16> to tensor<*xf16>
  call @printMemrefF16(%u) : (tensor<*xf16>) -> ()
  %uk = tensor.cast %kc1 : tensor<4x2xf16> to tensor<*xf16>
  call @printMemrefF16(%uk) : (tensor<*xf16>) -> ()
  %uv = tensor.cast %vc1 : tensor<4x2xf16> to tensor<*xf16>
  call @printMemrefF16(%uv) : (tensor<*xf16>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [2, 4]
// CHECK-NEXT: {{\[\[}}1.5, {{ *}}2.5, {{ *}}2, {{ *}}3],
// CHECK-NEXT: {{ \[}}3.40039, {{ *}}4.39844, {{ *}}3, {{ *}}4]]
// CHECK-LABEL: rank = 2 offset = 0 sizes = [4, 2]
// CHECK-NEXT: {{\[\[}}1, {{ *}}0],
// CHECK-NEXT: {{ \[}}0, {{ *}}1],
// CHECK-NEXT: {{ \[}}1, {{ *}}1],
// CHECK-NEXT: {{ \[}}100, {{ *}}100]]
// CHECK-LABEL: rank = 2 offset = 0 sizes = [4, 2]
// CHECK-NEXT: {{\[\[}}1, {{ *}}2],
// CHECK-NEXT: {{ \[}}3, {{ *}}4],
// CHECK-NEXT: {{ \[}}5, {{ *}}6],
// CHECK-NEXT: {{ \[}}100, {{ *}}100]]

// Grouped-query mapping with H = 4, Hkv = 2, Dh = 1: query heads 0, 1 use
// kv head 0 and heads 2, 3 kv head 1 (g = h / (H / Hkv), not h % Hkv).
// start_pos 1, S = 1, scale 1. Keys are (0, 1) in both kv heads, values
// (10, 20) in kv head 0 and (30, 40) in kv head 1:
//   q = ln 3: p = (1/4, 3/4)    q = 0: p = (1/2, 1/2)
//   h0 = 2.5 + 15 = 17.5   h1 = 15   h2 = 7.5 + 30 = 37.5   h3 = 35
func.func @attention_gqa() {
  %q = arith.constant dense<[[1.0986123, 0.0, 1.0986123, 0.0]]> : tensor<1x4xf32>
  %k = arith.constant dense<[[1.0, 1.0]]> : tensor<1x2xf32>
  %v = arith.constant dense<[[20.0, 40.0]]> : tensor<1x2xf32>
  %kc = arith.constant dense<[[0.0, 0.0], [-1.0, -1.0]]> : tensor<2x2xf32>
  %vc = arith.constant dense<[[10.0, 30.0], [-1.0, -1.0]]> : tensor<2x2xf32>
  %p = arith.constant 1 : index
  %o, %kc1, %vc1 = llm.attention %q, %k, %v, %kc, %vc, %p
      {num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 1 : i64, scale = 1.0 : f32}
      : tensor<1x4xf32>, tensor<1x2xf32>, tensor<1x2xf32>, tensor<2x2xf32>, tensor<2x2xf32>
      -> tensor<1x4xf32>, tensor<2x2xf32>, tensor<2x2xf32>
  %u = tensor.cast %o : tensor<1x4xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
// CHECK-LABEL: rank = 2 offset = 0 sizes = [1, 4]
// CHECK-NEXT: {{\[\[}}17.5, {{ *}}15, {{ *}}37.5, {{ *}}35]]

func.func @main() {
  call @attention_f32() : () -> ()
  %q = arith.constant dense<[[1.5537109, 0.0, 0.0, 0.0],
                             [0.0, 0.98046875, 0.0, 0.0]]> : tensor<2x4xf16>
  %k = arith.constant dense<[[0.0, 1.0], [1.0, 1.0]]> : tensor<2x2xf16>
  %v = arith.constant dense<[[3.0, 4.0], [5.0, 6.0]]> : tensor<2x2xf16>
  %kc = arith.constant dense<[[1.0, 0.0], [7.0, 7.0], [7.0, 7.0], [100.0, 100.0]]> : tensor<4x2xf16>
  %vc = arith.constant dense<[[1.0, 2.0], [7.0, 7.0], [7.0, 7.0], [100.0, 100.0]]> : tensor<4x2xf16>
  %p = arith.constant 1 : index
  %qd = tensor.cast %q : tensor<2x4xf16> to tensor<?x4xf16>
  %kd = tensor.cast %k : tensor<2x2xf16> to tensor<?x2xf16>
  %vd = tensor.cast %v : tensor<2x2xf16> to tensor<?x2xf16>
  call @attention_dynamic(%qd, %kd, %vd, %kc, %vc, %p)
      : (tensor<?x4xf16>, tensor<?x2xf16>, tensor<?x2xf16>, tensor<4x2xf16>, tensor<4x2xf16>, index) -> ()
  call @attention_gqa() : () -> ()
  return
}
