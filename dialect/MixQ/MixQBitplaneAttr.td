//===- MixQBitplaneAttr.td - #mixq.bitplane ----------------------*- tablegen -*-===//
//
// Included by MixQAttrs.td (it uses MixQ_Attr).
//===----------------------------------------------------------------------===//
#ifndef MIXQ_DIALECT_MIXQ_MIXQBITPLANEATTR_TD
#define MIXQ_DIALECT_MIXQ_MIXQBITPLANEATTR_TD

def MixQ_BitplaneSchemeAttr : MixQ_Attr<"BitplaneScheme", "bitplane", [
    DeclareAttrInterfaceMethods<QuantSchemeAttrInterface,
                                ["buildDequantVector", "getNestedWidths",
                                 "withNestedDecodeWidth",
                                 "getReadBitsPerWeight"]>]> {
  let summary = "nested any-precision codes (Any-Precision LLM bit planes)";
  let description = [{
    One set of `parent`-bit codes that can be decoded at every width b in
    [`seed`, `parent`]: the top b bits of a code are its width-b code, and
    each width has its own per-row f16 codebook. `width` (default `parent`)
    selects the width this qtensor decodes at:

    `w[r][k] = lut_width[r][code[r][k] >> (parent - width)]`

    The host quantizer (`quant/BitplaneQuantizer.h`), per output row on the
    row's samples sorted by value (sample weight E[x_k^2] with calibration
    data, else 1): a weighted 1-D k-means with 2^seed clusters gives the
    seed codes (clusters are value intervals, numbered in value order); then
    for b = seed+1 .. parent every cluster c is split in two by a weighted
    2-means over its own samples, the lower child getting code 2c and the
    upper 2c + 1, and the children's centroids are their means (a cluster of
    one value keeps it in both children). Centroids are stored as f16.

    Components, for an N x K matrix (P = `parent`, one component per plane
    and one per width):

    | name                     | type  | shape                   |
    | ------------------------ | ----- | ----------------------- |
    | `plane0` .. `plane{P-1}` | `i32` | N x ceil(K / 32)        |
    | `lut{seed}` .. `lut{P}`  | `f16` | N x 2^b (b = the width) |

    Plane j holds bit (P - 1 - j) of every code (plane0 is the most
    significant bit), one bit per weight, LSB-first in 32-bit words, each
    row padded to a whole word. A width-b decode reads only planes 0 .. b-1
    and `lut{b}`:

    `code_b = sum_{j < b} plane_j[r][k] << (b - 1 - j)`

    Bits per weight (everything stored, whatever `width` is) =
    (32 P ceil(K / 32) + 16 sum_{b=seed}^{P} 2^b) / K:
    `#mixq.bitplane<seed = 3, parent = 4>` on K = 4096 costs
    4 + 16 (8 + 16) / 4096 = 4.09375; a width-3 decode reads
    3 + 16 * 8 / 4096 = 3.03125 of them.

    ```mlir
    #mixq.bitplane<seed = 2, parent = 4>
    #mixq.bitplane<seed = 2, parent = 4, width = 3>
    ```
  }];
  let parameters = (ins
    AttrParameter<"unsigned", "smallest width, 1..parent">:$seed,
    AttrParameter<"unsigned", "largest width (number of planes), "
                  "seed..8">:$parent,
    OptionalParameter<"std::optional<unsigned>",
                      "decoding width, seed..parent (default parent)">:$width);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The width this qtensor decodes at: `width`, or `parent`.
    unsigned getDecodeWidth() const { return getWidth().value_or(getParent()); }
  }];
}

#endif // MIXQ_DIALECT_MIXQ_MIXQBITPLANEATTR_TD
