//===- MixQBitplaneAttr.td - #mixq.bitplane ----------------------*- tablegen -*-===//
//
// Included by MixQAttrs.td (it uses MixQ_Attr).
//===----------------------------------------------------------------------===//
#ifndef MIXQ_DIALECT_MIXQ_MIXQBITPLANEATTR_TD
#define MIXQ_DIALECT_MIXQ_MIXQBITPLANEATTR_TD

def MixQ_BitplaneSchemeAttr : MixQ_Attr<"BitplaneScheme", "bitplane", [
    DeclareAttrInterfaceMethods<QuantSchemeAttrInterface,
                                ["buildDequantVector", "getRowTables",
                                 "buildRowTableEntry", "getNestedWidths",
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

    At decode widths up to 3 the scheme offers code generators one row
    table (QuantSchemeAttrInterface::getRowTables), `code_pairs`: 4^width
    i32 entries a row, at least 64 (256 bytes: rows a multiple of 256 bytes
    apart let a lookup's byte join the row's offset by one byte permute;
    the entries past 4^width are never looked up), entry `i` holding
    `lut_width[r][c0]` in its low and `lut_width[r][c1]` in its high f16
    half, where bit k of code `c_e` is bit `2k + e` of `i`. With it, a
    tile's weights (2p, 2p + 1) of a 32-weight word are one lookup: each
    plane word, rotated by one amount and masked, drops both weights' bits
    into their index bits, for the four pairs that lie 8 columns apart at
    once (one byte each, 2 bits up so that the byte is the entry's byte
    offset), so the indices cost two instructions per plane and 8 weights
    and a lookup one more (the CUDA GEMV's byte permute under the row's
    offset) where a weight at a time took a LUT lookup each. At width 4 a
    table would take 1 KiB a row.

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
