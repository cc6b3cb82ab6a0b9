//===- LLMOps.td - llm dialect operations ------------------*- tablegen -*-===//
#ifndef MIXQ_DIALECT_LLM_LLMOPS_TD
#define MIXQ_DIALECT_LLM_LLMOPS_TD

include "dialect/LLM/LLMDialect.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/BuiltinAttributes.td"

//===----------------------------------------------------------------------===//
// Attributes and type constraints
//===----------------------------------------------------------------------===//

def LLM_RopeLayout : I32EnumAttr<"RopeLayout", "pairing of rotated elements", [
    I32EnumAttrCase<"Interleaved", 0, "interleaved">,
    I32EnumAttrCase<"RotateHalf", 1, "rotate_half">]> {
  let cppNamespace = "::mlir::llm";
  let genSpecializedAttr = 0;
}
def LLM_RopeLayoutAttr : EnumAttr<LLM_Dialect, LLM_RopeLayout, "rope_layout"> {
  let summary = "which elements of a head RoPE rotates together";
  let description = [{
    `interleaved` rotates the pairs `(x[2i], x[2i+1])` of each head (Meta's
    original Llama, llama2.c and GGUF checkpoints); `rotate_half` rotates
    `(x[i], x[i + head_dim/2])` (Hugging Face checkpoints).

    ```mlir
    #llm.rope_layout<interleaved>
    #llm.rope_layout<rotate_half>
    ```
  }];
  let assemblyFormat = "`<` $value `>`";
}

def LLM_Llama3RopeScalingAttr : AttrDef<LLM_Dialect, "Llama3RopeScaling"> {
  let mnemonic = "llama3_rope_scaling";
  let summary = "Llama 3.1 frequency-dependent rope scaling";
  let description = [{
    The `rope_scaling` of type `llama3` in a Hugging Face config.json. With
    `wavelen_i = 2 pi / freq_i`, `low = original_max_position /
    low_freq_factor` and `high = original_max_position / high_freq_factor`,
    each rope frequency is replaced by:

    ```
    freq_i                                 if wavelen_i < high
    freq_i / factor                        if wavelen_i > low
    (1 - t) * freq_i / factor + t * freq_i otherwise, with
        t = (original_max_position / wavelen_i - low_freq_factor)
            / (high_freq_factor - low_freq_factor)
    ```

    computed in f32. `factor` and `low_freq_factor` are positive,
    `high_freq_factor > low_freq_factor`, `original_max_position > 0`.

    ```mlir
    #llm.llama3_rope_scaling<factor = 8.0, low_freq_factor = 1.0,
                             high_freq_factor = 4.0,
                             original_max_position = 8192>
    ```
  }];
  let parameters = (ins "::mlir::FloatAttr":$factor,
                        "::mlir::FloatAttr":$low_freq_factor,
                        "::mlir::FloatAttr":$high_freq_factor,
                        "int64_t":$original_max_position);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

// Activations and weights: [rows, features] in a floating-point type T.
def LLM_FloatMatrix : 2DTensorOf<[F16, BF16, F32]>;
// Per-feature vectors (rms_norm weights).
def LLM_FloatVector : 1DTensorOf<[F16, BF16, F32]>;
// Token ids and positions, one per sequence row.
def LLM_I32Vector : 1DTensorOf<[I32]>;
// Logits are always f32 so that sampling sees full precision.
def LLM_F32Matrix : 2DTensorOf<[F32]>;

def LLM_PositiveI64Attr : ConfinedAttr<I64Attr, [IntPositive]>;

//===----------------------------------------------------------------------===//
// llm.weight
//===----------------------------------------------------------------------===//

def LLM_WeightOp : LLM_Op<"weight", [Pure]> {
  let summary = "a named weight tensor held in the WeightStore";
  let description = [{
    Produces the tensor stored under `name` in the WeightStore. The data is
    not part of the IR. The type must have a static shape: weights have model
    dimensions, which are fixed when the model is compiled.

    ```mlir
    %wq = llm.weight @blk0.wq : tensor<4096x4096xf16>
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$name);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$name attr-dict `:` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// llm.embed
//===----------------------------------------------------------------------===//

def LLM_EmbedOp : LLM_Op<"embed", [Pure]> {
  let summary = "token embedding lookup (row gather)";
  let description = [{
    Gathers one row of the embedding table per token:
    `result[s, d] = table[tokens[s], d]` for `s` in `[0, S)`, `d` in `[0, D)`.

    - `table`: `tensor<V x D x T>`, V (vocabulary size) and D (hidden size)
      static, T one of f16, bf16, f32.
    - `tokens`: `tensor<S x i32>`; S may be dynamic.
    - `result`: `tensor<S x D x T>`, same T as `table`.

    Values are copied bit-exactly. A token id outside `[0, V)` is undefined
    behaviour at runtime: it is not checked by generated code, so the
    frontend or the runtime must validate ids before they reach the op.

    ```mlir
    %h = llm.embed %table, %tokens
        : tensor<512x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins LLM_FloatMatrix:$table, LLM_I32Vector:$tokens);
  let results = (outs LLM_FloatMatrix:$result);
  let assemblyFormat = [{
    $table `,` $tokens attr-dict `:` type($table) `,` type($tokens)
    `->` type($result)
  }];
  let builders = [OpBuilder<(ins "::mlir::Value":$table,
                                 "::mlir::Value":$tokens)>];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// llm.rms_norm
//===----------------------------------------------------------------------===//

def LLM_RMSNormOp : LLM_Op<"rms_norm", [Pure]> {
  let summary = "root-mean-square layer normalization";
  let description = [{
    Normalizes each row of `input` by its root mean square and scales it by
    `weight`, for each row `s`:

    ```
    r         = 1 / sqrt((1/D) * sum_d float(input[s, d])^2 + eps)
    result[s, d] = T(float(input[s, d]) * r * float(weight[d]))
    ```

    Everything is computed in f32 (`float(.)` widens to f32, `T(.)` rounds
    to nearest even into the result type).

    - `input`: `tensor<S x D x T>`, D static, S may be dynamic, T one of
      f16, bf16, f32.
    - `weight`: `tensor<D x T>`, same D and T.
    - `eps`: f32, positive and finite (Llama uses 1e-5 or 1e-6).
    - `result`: `tensor<S x D x T>`.

    ```mlir
    %n = llm.rms_norm %x, %w {eps = 1.0e-05 : f32}
        : tensor<?x64xf32>, tensor<64xf32> -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins LLM_FloatMatrix:$input, LLM_FloatVector:$weight,
                       F32Attr:$eps);
  let results = (outs LLM_FloatMatrix:$result);
  let assemblyFormat = [{
    $input `,` $weight attr-dict `:` type($input) `,` type($weight)
    `->` type($result)
  }];
  let builders = [OpBuilder<(ins "::mlir::Value":$input,
                                 "::mlir::Value":$weight, "float":$eps)>];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// llm.linear
//===----------------------------------------------------------------------===//

def LLM_LinearOp : LLM_Op<"linear", [Pure]> {
  let summary = "y = x · Wᵀ (a projection without bias)";
  let description = [{
    Multiplies an S x K activation matrix by the transpose of an N x K
    weight (the PyTorch `nn.Linear` layout, out_features x in_features):

    ```
    result[s, n] = T(sum_k float(input[s, k]) * float(weight[n, k]))
    ```

    Products are accumulated in f32 (summation order unspecified) and the
    sum is rounded to nearest even into T.

    - `input`: `tensor<S x K x T>`, K static, S may be dynamic.
    - `weight`: `tensor<N x K x T>`, static, same T.
    - `result`: `tensor<S x N x T>`.

    Quantization rewrites this op into `mixq.matmul` on a `mixq.qtensor`
    weight.

    ```mlir
    %q = llm.linear %x, %wq
        : tensor<?x64xf16>, tensor<64x64xf16> -> tensor<?x64xf16>
    ```
  }];
  let arguments = (ins LLM_FloatMatrix:$input, LLM_FloatMatrix:$weight);
  let results = (outs LLM_FloatMatrix:$result);
  let assemblyFormat = [{
    $input `,` $weight attr-dict `:` type($input) `,` type($weight)
    `->` type($result)
  }];
  let builders = [OpBuilder<(ins "::mlir::Value":$input,
                                 "::mlir::Value":$weight)>];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// llm.rope
//===----------------------------------------------------------------------===//

def LLM_RopeOp : LLM_Op<"rope", [Pure]> {
  let summary = "rotary position embedding";
  let description = [{
    Rotates pairs of elements of every head of every row by an angle that
    depends on the row's position. With `H = num_heads`, `Dh = head_dim`,
    for row `s`, head `h` in `[0, H)` and `i` in `[0, Dh/2)`:

    ```
    freq_i = theta ^ (-(2 i) / Dh)
    angle  = float(positions[s]) * freq_i
    (a, b) = (x[s, h*Dh + j0], x[s, h*Dh + j1])
    result[s, h*Dh + j0] = T(a * cos(angle) - b * sin(angle))
    result[s, h*Dh + j1] = T(a * sin(angle) + b * cos(angle))
    ```

    where `(j0, j1) = (2i, 2i + 1)` for `layout = interleaved` and
    `(j0, j1) = (i, i + Dh/2)` for `layout = rotate_half`. All arithmetic
    (frequencies, angles, cos/sin, rotation) is in f32; the result is
    rounded to nearest even into T.

    - `input`: `tensor<S x (H*Dh) x T>`, last dimension static and equal to
      `num_heads * head_dim`; S may be dynamic; T one of f16, bf16, f32.
      The same op rotates queries (H = query heads) and keys (H = kv heads).
    - `positions`: `tensor<S x i32>`, the absolute position of each row
      (`start_pos + s` during generation).
    - `num_heads` > 0; `head_dim` > 0 and even; `theta` positive and finite
      (10000 for Llama 1/2, 500000 for Llama 3).
    - `result`: same type as `input`.

    With the optional `scaling` attribute (Llama 3.1,
    `#llm.llama3_rope_scaling`), each `freq_i` is first rescaled as that
    attribute describes.

    ```mlir
    %qr = llm.rope %q, %pos {num_heads = 8 : i64, head_dim = 8 : i64,
                             theta = 1.0e+04 : f32,
                             layout = #llm.rope_layout<interleaved>}
        : tensor<?x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins LLM_FloatMatrix:$input, LLM_I32Vector:$positions,
                       LLM_PositiveI64Attr:$num_heads,
                       LLM_PositiveI64Attr:$head_dim, F32Attr:$theta,
                       LLM_RopeLayoutAttr:$layout,
                       OptionalAttr<LLM_Llama3RopeScalingAttr>:$scaling);
  let results = (outs LLM_FloatMatrix:$result);
  let assemblyFormat = [{
    $input `,` $positions attr-dict `:` type($input) `,` type($positions)
    `->` type($result)
  }];
  let builders = [OpBuilder<(ins "::mlir::Value":$input,
      "::mlir::Value":$positions, "int64_t":$numHeads, "int64_t":$headDim,
      "float":$theta, "::mlir::llm::RopeLayout":$layout)>];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// llm.attention
//===----------------------------------------------------------------------===//

def LLM_AttentionOp : LLM_Op<"attention", [Pure]> {
  let summary = "causal grouped-query self-attention over a KV cache";
  let description = [{
    Appends this step's keys and values to a per-layer KV cache and computes
    causal attention of the queries over everything cached so far.
    With `H = num_heads`, `Hkv = num_kv_heads`, `Dh = head_dim`,
    `P = start_pos` and `Lmax` the cache length:

    1. Cache update. `new_k_cache = k_cache` and `new_v_cache = v_cache`
       except rows `[P, P + S)`, which become `k` and `v`
       (`new_k_cache[P + s, :] = k[s, :]`). Rows `[0, P)` are read as they
       are: they hold earlier steps' keys and values.
    2. Attention. Query row `s` has absolute position `P + s` and attends to
       cache rows `j` in `[0, P + s]` (causal). Query head `h` uses kv head
       `g = h / (H / Hkv)` (grouped-query attention; `Hkv = H` is
       multi-head, `Hkv = 1` multi-query attention). With
       `qh = q[s, h*Dh : (h+1)*Dh]`, `kj = new_k_cache[j, g*Dh : (g+1)*Dh]`
       and `vj` likewise from `new_v_cache`:

       ```
       score_j = scale * sum_d float(qh[d]) * float(kj[d])
       p_j     = exp(score_j - max_j score_j) / sum_j exp(score_j - max_j score_j)
       out[s, h*Dh + d] = T(sum_j p_j * float(vj[d]))
       ```

       Scores, softmax and the weighted sum are computed in f32; only `out`
       is rounded (to nearest even) into T.

    Operands and attributes:
    - `q`: `tensor<S x (H*Dh) x T>`; S may be dynamic; T one of f16, bf16,
      f32. Rope has already been applied to `q` and `k`.
    - `k`, `v`: `tensor<S x (Hkv*Dh) x T>`.
    - `k_cache`, `v_cache`: `tensor<Lmax x (Hkv*Dh) x T>`, static, identical
      types.
    - `start_pos`: `index`, the number of tokens already in the cache.
    - `num_heads`, `num_kv_heads`, `head_dim` > 0, `num_heads` a multiple of
      `num_kv_heads`.
    - `scale`: optional positive finite f32; `1 / sqrt(head_dim)` when
      absent.

    Results: `out` (`tensor<S x (H*Dh) x T>`) and the updated caches, of the
    same types as `k_cache` and `v_cache`. Bufferization is expected to
    update the caches in place.

    `start_pos + S > Lmax` is a runtime error (context overflow): the runtime
    must check it before executing the op and report it; generated code does
    not check, and executing the op in that case is undefined behaviour. A
    static S larger than Lmax is rejected by the verifier.

    ```mlir
    %o, %kc1, %vc1 = llm.attention %q, %k, %v, %kc, %vc, %pos
        {num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 8 : i64}
        : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>,
          tensor<256x32xf32>, tensor<256x32xf32>
        -> tensor<?x64xf32>, tensor<256x32xf32>, tensor<256x32xf32>
    ```
  }];
  let arguments = (ins LLM_FloatMatrix:$q, LLM_FloatMatrix:$k,
                       LLM_FloatMatrix:$v, LLM_FloatMatrix:$k_cache,
                       LLM_FloatMatrix:$v_cache, Index:$start_pos,
                       LLM_PositiveI64Attr:$num_heads,
                       LLM_PositiveI64Attr:$num_kv_heads,
                       LLM_PositiveI64Attr:$head_dim,
                       OptionalAttr<F32Attr>:$scale);
  let results = (outs LLM_FloatMatrix:$out, LLM_FloatMatrix:$new_k_cache,
                      LLM_FloatMatrix:$new_v_cache);
  let assemblyFormat = [{
    $q `,` $k `,` $v `,` $k_cache `,` $v_cache `,` $start_pos attr-dict `:`
    type($q) `,` type($k) `,` type($v) `,` type($k_cache) `,` type($v_cache)
    `->` type($out) `,` type($new_k_cache) `,` type($new_v_cache)
  }];
  let builders = [OpBuilder<(ins "::mlir::Value":$q, "::mlir::Value":$k,
      "::mlir::Value":$v, "::mlir::Value":$kCache, "::mlir::Value":$vCache,
      "::mlir::Value":$startPos, "int64_t":$numHeads, "int64_t":$numKvHeads,
      "int64_t":$headDim)>];
  let extraClassDeclaration = [{
    /// The softmax scale: `scale` if set, else 1 / sqrt(head_dim).
    float getScaleOrDefault();
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// llm.swiglu
//===----------------------------------------------------------------------===//

def LLM_SwiGLUOp : LLM_Op<"swiglu", [Pure]> {
  let summary = "SwiGLU gating: silu(gate) * up";
  let description = [{
    The gating of the Llama feed-forward block, elementwise:

    ```
    g = float(gate[s, f])
    result[s, f] = T(g / (1 + exp(-g)) * float(up[s, f]))
    ```

    computed in f32 and rounded to nearest even into T.

    - `gate`, `up`: `tensor<S x F x T>`, F (the FFN hidden size) static, S
      may be dynamic, T one of f16, bf16, f32.
    - `result`: `tensor<S x F x T>`.

    ```mlir
    %h = llm.swiglu %gate, %up
        : tensor<?x172xf32>, tensor<?x172xf32> -> tensor<?x172xf32>
    ```
  }];
  let arguments = (ins LLM_FloatMatrix:$gate, LLM_FloatMatrix:$up);
  let results = (outs LLM_FloatMatrix:$result);
  let assemblyFormat = [{
    $gate `,` $up attr-dict `:` type($gate) `,` type($up) `->` type($result)
  }];
  let builders = [OpBuilder<(ins "::mlir::Value":$gate, "::mlir::Value":$up)>];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// llm.add
//===----------------------------------------------------------------------===//

def LLM_AddOp : LLM_Op<"add", [Pure, Commutative]> {
  let summary = "elementwise addition (residual connection)";
  let description = [{
    `result[s, d] = T(float(lhs[s, d]) + float(rhs[s, d]))`: the sum is
    formed in f32 and rounded to nearest even into T.

    - `lhs`, `rhs`: `tensor<S x D x T>`, D static, S may be dynamic, T one
      of f16, bf16, f32.
    - `result`: `tensor<S x D x T>`.

    ```mlir
    %r = llm.add %x, %attn
        : tensor<?x64xf32>, tensor<?x64xf32> -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins LLM_FloatMatrix:$lhs, LLM_FloatMatrix:$rhs);
  let results = (outs LLM_FloatMatrix:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs) `->` type($result)
  }];
  let builders = [OpBuilder<(ins "::mlir::Value":$lhs, "::mlir::Value":$rhs)>];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// llm.logits
//===----------------------------------------------------------------------===//

def LLM_LogitsOp : LLM_Op<"logits", [Pure]> {
  let summary = "final projection to f32 vocabulary logits";
  let description = [{
    Projects hidden states onto the vocabulary (the LM head; for tied
    embeddings `weight` is the embedding table):

    ```
    result[r, v] = sum_d float(input[row(r), d]) * float(weight[v, d])
    ```

    accumulated and returned in f32 (summation order unspecified). Without
    `last_token_only`, `row(r) = r` and every row is projected. With
    `last_token_only`, only the last row is projected: `row(0) = S - 1` and
    the result has one row; that is what prefill needs to pick the next
    token. S must be at least 1 then (a static 0 is rejected; a dynamic S of
    0 is undefined behaviour).

    - `input`: `tensor<S x D x T>`, D static, S may be dynamic, T one of
      f16, bf16, f32.
    - `weight`: `tensor<V x D x T>`, static, same T.
    - `result`: `tensor<S x V x f32>`, or `tensor<1 x V x f32>` with
      `last_token_only`.

    ```mlir
    %all  = llm.logits %h, %wcls
        : tensor<?x64xf32>, tensor<512x64xf32> -> tensor<?x512xf32>
    %last = llm.logits %h, %wcls {last_token_only}
        : tensor<?x64xf32>, tensor<512x64xf32> -> tensor<1x512xf32>
    ```
  }];
  let arguments = (ins LLM_FloatMatrix:$input, LLM_FloatMatrix:$weight,
                       UnitAttr:$last_token_only);
  let results = (outs LLM_F32Matrix:$result);
  let assemblyFormat = [{
    $input `,` $weight attr-dict `:` type($input) `,` type($weight)
    `->` type($result)
  }];
  let builders = [OpBuilder<(ins "::mlir::Value":$input,
                                 "::mlir::Value":$weight,
                                 "bool":$lastTokenOnly)>];
  let hasVerifier = 1;
}

#endif // MIXQ_DIALECT_LLM_LLMOPS_TD
