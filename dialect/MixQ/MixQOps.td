//===- MixQOps.td - mixq dialect operations ----------------*- tablegen -*-===//
#ifndef MIXQ_DIALECT_MIXQ_MIXQOPS_TD
#define MIXQ_DIALECT_MIXQ_MIXQOPS_TD

include "dialect/MixQ/MixQDialect.td"
include "dialect/MixQ/MixQAttrs.td"
include "dialect/MixQ/MixQTypes.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/BuiltinAttributes.td"

def MixQ_QTensor : Type<CPred<"::llvm::isa<::mlir::mixq::QTensorType>($_self)">,
    "quantized tensor", "::mlir::mixq::QTensorType">;

def MixQ_FloatMatrix : 2DTensorOf<[F16, BF16, F32]>;

def MixQ_WeightOp : MixQ_Op<"weight", [Pure]> {
  let summary = "a quantized weight whose packed components are in the WeightStore";
  let description = [{
    Produces the quantized matrix stored under `name` in the WeightStore.
    The packed component buffers are not part of the IR; they are found by
    `name` and the scheme's component names.

    ```mlir
    %w = mixq.weight @blk0.wq : !mixq.qtensor<64x64, #mixq.affine<bits = 4, group = 32>>
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$name);
  let results = (outs MixQ_QTensor:$result);
  let assemblyFormat = "$name attr-dict `:` qualified(type($result))";
}

def MixQ_AssembleOp : MixQ_Op<"assemble", [Pure]> {
  let summary = "builds a qtensor from its component buffers";
  let description = [{
    Takes the component tensors of the result's scheme, in storage order
    (see `QuantSchemeAttrInterface::getComponents`), and views them as one
    quantized matrix. Each operand must have exactly the element type and
    shape the scheme declares for that component.

    ```mlir
    %q = mixq.assemble %codes, %scales, %zeros
        : tensor<2x1xi32>, tensor<2x2xf16>, tensor<2x2xf16>
        -> !mixq.qtensor<2x8, #mixq.affine<bits = 4, group = 4>>
    ```
  }];
  let arguments = (ins Variadic<AnyRankedTensor>:$components);
  let results = (outs MixQ_QTensor:$result);
  let assemblyFormat = [{
    $components attr-dict `:` type($components) `->` qualified(type($result))
  }];
  let hasVerifier = 1;
}

def MixQ_QuantizeOp : MixQ_Op<"quantize", [Pure]> {
  let summary = "quantizes a floating-point matrix with the result's scheme";
  let description = [{
    Quantizes an N x K floating-point matrix with the host quantizer of the
    result's scheme. When the input is a constant, canonicalization runs the
    quantizer at compile time and replaces the op by a `mixq.assemble` of
    constant components.

    ```mlir
    %q = mixq.quantize %w : tensor<64x128xf32>
        -> !mixq.qtensor<64x128, #mixq.affine<bits = 4, group = 32>>
    ```
  }];
  let arguments = (ins MixQ_FloatMatrix:$input);
  let results = (outs MixQ_QTensor:$result);
  let assemblyFormat = [{
    $input attr-dict `:` type($input) `->` qualified(type($result))
  }];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
}

def MixQ_DequantizeOp : MixQ_Op<"dequantize", [Pure]> {
  let summary = "reconstructs the floating-point matrix of a qtensor";
  let description = [{
    Returns the N x K matrix a qtensor represents, in the result's float
    type (computed in f32, then rounded).

    ```mlir
    %w = mixq.dequantize %q
        : !mixq.qtensor<64x128, #mixq.affine<bits = 4, group = 32>> -> tensor<64x128xf16>
    ```
  }];
  let arguments = (ins MixQ_QTensor:$input);
  let results = (outs MixQ_FloatMatrix:$result);
  let assemblyFormat = [{
    $input attr-dict `:` qualified(type($input)) `->` type($result)
  }];
  let hasVerifier = 1;
}

def MixQ_MatmulOp : MixQ_Op<"matmul", [Pure]> {
  let summary = "y = x · Wᵀ with a quantized weight";
  let description = [{
    Multiplies an M x K activation matrix by the transpose of an N x K
    quantized weight: `y[m, n] = sum_k x[m, k] * W[n, k]`, where `W` is the
    matrix the qtensor represents, sparse parts included. `W` is first
    rounded to the activation type (exactly as `mixq.dequantize` would
    produce it), products are accumulated in f32, and the result is rounded
    to the activation type. M may be dynamic (prefill length); x and y have
    the same element type.

    ```mlir
    %y = mixq.matmul %x, %w : tensor<?x4096xf16>,
        !mixq.qtensor<11008x4096, #mixq.affine<bits = 4, group = 128>> -> tensor<?x11008xf16>
    ```
  }];
  let arguments = (ins MixQ_FloatMatrix:$input, MixQ_QTensor:$weight);
  let results = (outs MixQ_FloatMatrix:$result);
  let assemblyFormat = [{
    $input `,` $weight attr-dict `:` type($input) `,` qualified(type($weight))
    `->` type($result)
  }];
  let hasVerifier = 1;
}

def MixQ_QuantizeActOp : MixQ_Op<"quantize_act", [Pure]> {
  let summary = "per-token activation quantization of a weight's scheme (fake-quantized)";
  let description = [{
    Models the activation side of a scheme with activation bits
    (`QuantSchemeAttrInterface::getActivationBits`, e.g. QUIK's
    `#mixq.outlier_cols<..., act_bits = 8>`): the input columns that the
    scheme passes through (`buildIsPassthroughColumn`: QUIK's outlier
    columns) stay unchanged, and every other column is quantized to `bits`
    unsigned codes (the scheme's activation bits) with one scale and zero
    point per token (row), then dequantized again
    (`buildQuantizeActivation`; the formula below is its default, QUIK's). The
    result is what the integer kernel effectively multiplies by, so that
    `mixq.matmul %xq, %w` computes QUIK's product
    `sx sw (sum_k qx qw - zx row_sum) + sum_outliers x w` up to f32
    rounding, on any backend that can run a dequantized matmul.

    For each row t of the M x K input (M may be dynamic), over the
    non-outlier columns only, all in f32 (`round` is half away from zero):

    ```
    lo   = min(0, min_k x[t][k]),  hi = max(0, max_k x[t][k])
    s    = fp16(hi == lo ? 1 : (hi - lo) / (2^bits - 1))
           clamped to [2^-24, 65504]
    z    = clamp(round(-lo / s), 0, 2^bits - 1)
    q    = clamp(round(x / s) + z, 0, 2^bits - 1)
    y[t][k] = (q - z) * s         (non-outlier column)
            = x[t][k]             (outlier column: col_map[k] >= 0)
    ```

    This is `quantizeActivationsPerToken` of `quant/OutlierColumns.h` on the
    non-outlier columns, as `outlierColumnsMatmul` uses it. Zero is always
    exactly representable. The result has the input's type; an f16/bf16
    input is widened to f32 first and the result rounded back.

    The columns that pass through are data (QUIK's `col_map` component of
    the weight), not part of the scheme attribute, so the op takes the
    weight itself. Its scheme must have activation bits, equal to `bits`.
    `--mixq-quantize` inserts the op before every `mixq.matmul` of such a
    weight (SPEC `quik:...,act-bits=B`); without `act-bits`,
    `#mixq.outlier_cols` is weight-only. An integer GEMM path that consumes
    the codes directly (no fake quantization) is future GPU work.

    ```mlir
    %xq = mixq.quantize_act %x, %w bits = 8 : tensor<?x64xf32>,
        !mixq.qtensor<64x64, #mixq.outlier_cols<cols = 8, bits = 4, act_bits = 8>> -> tensor<?x64xf32>
    %y = mixq.matmul %xq, %w : tensor<?x64xf32>,
        !mixq.qtensor<64x64, #mixq.outlier_cols<cols = 8, bits = 4, act_bits = 8>> -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins MixQ_FloatMatrix:$input, MixQ_QTensor:$weight,
                       I64Attr:$bits);
  let results = (outs MixQ_FloatMatrix:$result);
  let assemblyFormat = [{
    $input `,` $weight `bits` `=` $bits attr-dict `:` type($input) `,`
    qualified(type($weight)) `->` type($result)
  }];
  let hasVerifier = 1;
}

#endif // MIXQ_DIALECT_MIXQ_MIXQOPS_TD
