//===- MixQAffineAttr.td - #mixq.affine --------------------------*- tablegen -*-===//
//
// Included by MixQAttrs.td (it uses MixQ_Attr).
//===----------------------------------------------------------------------===//
#ifndef MIXQ_DIALECT_MIXQ_MIXQAFFINEATTR_TD
#define MIXQ_DIALECT_MIXQ_MIXQAFFINEATTR_TD

def MixQ_AffineSchemeAttr : MixQ_Attr<"AffineScheme", "affine", [
    DeclareAttrInterfaceMethods<QuantSchemeAttrInterface,
                                ["buildDequantVector",
                                 "buildDequantVectorInAnyOrder",
                                 "getScaleFactorColumns", "buildScaleFactor",
                                 "buildUnscaledDequantVectorInAnyOrder",
                                 "buildBiasedDequantVectorInAnyOrder",
                                 "getShapeFallback"]>]> {
  let summary = "group-wise affine (RTN / GPTQ-style) integer quantization";
  let description = [{
    Weights are split, row by row, into groups of `group` consecutive inputs.
    Each group has a scale `s` (and, when asymmetric, a zero point `z`)
    stored in `scale` (f16 by default, or bf16 / f32). Codes `q` are unsigned
    `bits`-bit integers (2, 3, 4 or 8):

    * asymmetric: `w = (q - z) * s`
    * symmetric:  `w = (q - 2^(bits-1)) * s` (no zeros stored)

    Components, for an N x K matrix with G = K / group:

    | name     | type             | shape                  |
    | -------- | ---------------- | ---------------------- |
    | `codes`  | `i32`            | N x ceil(K*bits / 32)  |
    | `scales` | `scale`          | N x G                  |
    | `zeros`  | `scale` (asym)   | N x G                  |

    Codes are packed LSB-first into a continuous stream of 32-bit words per
    row (3-bit codes straddle words); each row is padded to a whole word.

    Bits per weight = bits + (1 or 2) * width(scale) / group, plus row
    padding: `#mixq.affine<bits = 4, group = 128>` costs 4.25.

    `clip` selects the host quantizer (`quant/AffineQuantizer.h`): 1 is
    round-to-nearest over each group's full range; N > 1 is MSE clipping,
    a grid search over the N clip ratios 1, ..., 0.5 that keeps the one
    whose reconstruction has the least sum h (w - w')^2 (h = E[x^2] of the
    input column from calibration statistics, 1 without). It changes the
    values, not the layout: the components and the dequantization are the
    same.

    ```mlir
    #mixq.affine<bits = 4, group = 128>
    #mixq.affine<bits = 3, group = 64, symmetric = true, scale = bf16>
    #mixq.affine<bits = 3, group = 32, clip = 11>
    ```
  }];
  let parameters = (ins
    "unsigned":$bits,
    "int64_t":$group,
    DefaultValuedParameter<"bool", "false">:$symmetric,
    OptionalParameter<"::mlir::FloatType">:$scale,
    DefaultValuedParameter<"unsigned", "1",
                           "clip ratios searched per group, 1..1000 "
                           "(1: round to nearest)">:$clip);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The scale/zero storage type: `scale` if given, f16 otherwise.
    ::mlir::FloatType getScaleType() const;
  }];
}

#endif // MIXQ_DIALECT_MIXQ_MIXQAFFINEATTR_TD
