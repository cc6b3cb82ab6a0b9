//===- MixQAttrs.td - quantization scheme attributes -------*- tablegen -*-===//
#ifndef MIXQ_DIALECT_MIXQ_MIXQATTRS_TD
#define MIXQ_DIALECT_MIXQ_MIXQATTRS_TD

include "dialect/MixQ/MixQDialect.td"
include "dialect/MixQ/MixQInterfaces.td"
include "mlir/IR/AttrTypeBase.td"

class MixQ_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<MixQ_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

def MixQ_AffineSchemeAttr : MixQ_Attr<"AffineScheme", "affine", [
    DeclareAttrInterfaceMethods<QuantSchemeAttrInterface>]> {
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

    ```mlir
    #mixq.affine<bits = 4, group = 128>
    #mixq.affine<bits = 3, group = 64, symmetric = true, scale = bf16>
    ```
  }];
  let parameters = (ins
    "unsigned":$bits,
    "int64_t":$group,
    DefaultValuedParameter<"bool", "false">:$symmetric,
    OptionalParameter<"::mlir::FloatType">:$scale);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The scale/zero storage type: `scale` if given, f16 otherwise.
    ::mlir::FloatType getScaleType() const;
  }];
}

def MixQ_LUTSchemeAttr : MixQ_Attr<"LUTScheme", "lut", [
    DeclareAttrInterfaceMethods<QuantSchemeAttrInterface>]> {
  let summary = "per-row codebook (SqueezeLLM-style non-uniform) quantization";
  let description = [{
    Each output row `r` of the N x K weight matrix has its own codebook
    (look-up table) of `2^bits` f16 centroids, and each weight stores the
    `bits`-bit index of a centroid (`bits` is 2, 3 or 4):

    `w[r][k] = lut[r][code[r][k]]`

    The host quantizer runs, per row, a weighted 1-D k-means over the row's
    K weights (the weight of input column k is its calibration sensitivity
    E[x_k^2], floored at 1e-6 of the mean, when one is given, 1 otherwise),
    initialized at the weighted quantiles `(j + 1/2) / 2^bits`. Centroids
    are rounded to f16 and stored sorted (non-decreasing); each weight gets
    the code of its nearest rounded centroid, a tie going to the lower code.

    Components, for an N x K matrix:

    | name    | type  | shape                  |
    | ------- | ----- | ---------------------- |
    | `codes` | `i32` | N x ceil(K*bits / 32)  |
    | `lut`   | `f16` | N x 2^bits             |

    Codes use the same layout as `#mixq.affine`: packed LSB-first into a
    continuous stream of 32-bit words per row (3-bit codes straddle words),
    each row padded to a whole word.

    Bits per weight = (32 * ceil(K*bits / 32) + 16 * 2^bits) / K, i.e.
    `bits + 16 * 2^bits / K` plus row padding:
    `#mixq.lut<bits = 3>` on K = 4096 costs 3 + 128 / 4096 = 3.03125 bits,
    `#mixq.lut<bits = 4>` on K = 4096 costs 4.0625.

    ```mlir
    #mixq.lut<bits = 3>
    ```
  }];
  let parameters = (ins "unsigned":$bits);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The number of centroids per row, 2^bits.
    int64_t getNumCentroids() const { return int64_t(1) << getBits(); }
  }];
}

#endif // MIXQ_DIALECT_MIXQ_MIXQATTRS_TD
