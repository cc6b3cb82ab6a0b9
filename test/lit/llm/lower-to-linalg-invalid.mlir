// Errors of --mixq-lower-llm-to-linalg: what is known to be wrong at compile
// time but is not (or, without verification, may not be) rejected by the op
// verifiers.
// RUN: mixq-opt %s --mixq-lower-llm-to-linalg --split-input-file --verify-diagnostics
// The verifier rejects a 0-row last_token_only input; the pass checks it again
// for IR that was built without verification.
// RUN: mixq-opt %S/Inputs/logits-zero-rows.mlir --mlir-very-unsafe-disable-verifier-on-parsing \
// RUN:     --mixq-lower-llm-to-linalg --verify-diagnostics

// A constant start_pos that puts the step's rows past the end of the cache
// (a context overflow the runtime would otherwise have to catch).
func.func @overflow(%q: tensor<2x4xf32>, %k: tensor<2x2xf32>, %v: tensor<2x2xf32>,
                    %kc: tensor<8x2xf32>, %vc: tensor<8x2xf32>)
    -> (tensor<2x4xf32>, tensor<8x2xf32>, tensor<8x2xf32>) {
  %p = arith.constant 7 : index
  // expected-error @+1 {{'llm.attention' op cannot be lowered: start_pos (7) + 2 rows exceeds the KV cache length (8)}}
  %o, %kc1, %vc1 = llm.attention %q, %k, %v, %kc, %vc, %p
      {num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 2 : i64}
      : tensor<2x4xf32>, tensor<2x2xf32>, tensor<2x2xf32>, tensor<8x2xf32>, tensor<8x2xf32>
      -> tensor<2x4xf32>, tensor<8x2xf32>, tensor<8x2xf32>
  return %o, %kc1, %vc1 : tensor<2x4xf32>, tensor<8x2xf32>, tensor<8x2xf32>
}

// -----

// With a dynamic S only start_pos itself is checked against the cache.
func.func @overflow_dynamic(%q: tensor<?x4xf16>, %k: tensor<?x2xf16>, %v: tensor<?x2xf16>,
                            %kc: tensor<8x2xf16>, %vc: tensor<8x2xf16>)
    -> (tensor<?x4xf16>, tensor<8x2xf16>, tensor<8x2xf16>) {
  %p = arith.constant 9 : index
  // expected-error @+1 {{'llm.attention' op cannot be lowered: start_pos (9) exceeds the KV cache length (8)}}
  %o, %kc1, %vc1 = llm.attention %q, %k, %v, %kc, %vc, %p
      {num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 2 : i64}
      : tensor<?x4xf16>, tensor<?x2xf16>, tensor<?x2xf16>, tensor<8x2xf16>, tensor<8x2xf16>
      -> tensor<?x4xf16>, tensor<8x2xf16>, tensor<8x2xf16>
  return %o, %kc1, %vc1 : tensor<?x4xf16>, tensor<8x2xf16>, tensor<8x2xf16>
}

// -----

func.func @negative_start(%q: tensor<1x4xf32>, %k: tensor<1x2xf32>, %v: tensor<1x2xf32>,
                          %kc: tensor<8x2xf32>, %vc: tensor<8x2xf32>)
    -> (tensor<1x4xf32>, tensor<8x2xf32>, tensor<8x2xf32>) {
  %p = arith.constant -1 : index
  // expected-error @+1 {{'llm.attention' op cannot be lowered: start_pos is negative (-1)}}
  %o, %kc1, %vc1 = llm.attention %q, %k, %v, %kc, %vc, %p
      {num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 2 : i64}
      : tensor<1x4xf32>, tensor<1x2xf32>, tensor<1x2xf32>, tensor<8x2xf32>, tensor<8x2xf32>
      -> tensor<1x4xf32>, tensor<8x2xf32>, tensor<8x2xf32>
  return %o, %kc1, %vc1 : tensor<1x4xf32>, tensor<8x2xf32>, tensor<8x2xf32>
}
