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

#endif // MIXQ_DIALECT_MIXQ_MIXQATTRS_TD
