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
    DeclareAttrInterfaceMethods<QuantSchemeAttrInterface,
                                ["buildDequantVector",
                                 "buildDequantVectorInAnyOrder",
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

    `clip` selects the host quantizer (`Quant/AffineQuantizer.h`): 1 is
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

def MixQ_LUTSchemeAttr : MixQ_Attr<"LUTScheme", "lut", [
    DeclareAttrInterfaceMethods<QuantSchemeAttrInterface,
                                ["buildDequantVector"]>]> {
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

// A real parameter with a default, stored as an IEEE double APFloat (which,
// unlike `double`, is hashable by the attribute uniquer), printed as the
// shortest decimal that parses back to the same value (always with a '.',
// e.g. `0.1`, `3.0`, `1.0e-05`) and parsed from a float or an integer literal.
class MixQ_DoubleParameter<string value, string desc = "">
    : DefaultValuedParameter<"::llvm::APFloat", "::llvm::APFloat(" # value # ")",
                             desc> {
  let parser = "::mlir::mixq::parseDoubleParameter($_parser)";
  let printer = "::mlir::mixq::printDoubleParameter($_printer, $_self)";
  let comparator = "$_lhs.bitwiseIsEqual($_rhs)";
}

def MixQ_MixedSchemeAttr : MixQ_Attr<"MixedScheme", "mixed", [
    DeclareAttrInterfaceMethods<QuantSchemeAttrInterface,
                                ["reconstructionError", "buildDequantVector",
                                 "buildDequantVectorInAnyOrder",
                                 "buildSparseDot", "getShapeFallback"]>]> {
  let summary = "intra-weight mixed precision: 2/4-bit groups + fp16 outliers";
  let description = [{
    Each row of the N x K weight matrix is split into groups of `group`
    consecutive inputs (gpr = K / group groups per row). A group is either
    *low* (`lo` bits, default 2) or *high* (`hi` bits, default 4); a few
    large weights of the low groups are fp16 sparse *outliers*; group scales
    and zeros are quantized again per block of `block` groups (*second
    order*). The host quantizer is `Quant/MixedQuantizer.h`:

    1. Groups are scored by the sensitivity-weighted (E[x^2], 1 without
       calibration data) error that `hi` bits would save: their clipped
       `lo`-bit error without the weights that would be outliers, minus the
       rounding noise of a `hi`-bit group. The H top-scoring groups of the
       whole matrix are high, H = round(`hi_frac` * N * gpr), raised to the
       most groups that keep the storage within `bits` bits per weight when
       `bits` > 0.
    2. round(`outliers` * N * K) weights of the low groups with the largest
       |w| sqrt(E[x^2]) become outliers (at most every low-group weight).
    3. Per group, over its non-outlier weights and 0, a clipped range R is
       fitted; per block (rmin, step) are f16 and each group stores an 8-bit
       scale code `sc` and a 4-bit zero code `zc` (a low group's chosen
       among the codes near the rounded one by its error).

    Dequantization of weight (r, c), group g = c / group, block b =
    g / block, bits = `hi` if bit g of row r's bit map is set, else `lo`,
    shift = hi - bits, m = (2^bits - 1) << shift, all in f32 with the
    constants 1 / m and m / 15 rounded to f32:

    ```
    range = fma(sc[r][g], step[r][b], rmin[r][b])
    scale = f16(round(range * (1 / m), p significant bits))
    bias  = f16(-((zc[r][g] * (m / 15)) * scale))
    qq    = lowcode(r, c) << (hi - lo) | extra            (every code at hi bits)
    extra = highcode(h, c % group) in a high group, else 0
    w     = qq * scale + bias  (+ the CSR residual when (r, c) is an outlier)
    ```

    with p = 11 - hi when hi <= 4 (so qq * scale is exact in f16 and an f16
    multiply-add rounds once, like the f32 value), else 11; rounding to p
    bits is to nearest even on the f32 bits. `qq * scale + bias` is exact in
    f32. h = high_group_start[r][g / 32] + popcount(bits of map word g / 32
    below bit g % 32) numbers the high groups in row-major order: one word
    and one popcount per group, so a kernel decodes a group's parameters
    once per tile, and low and high groups alike (a low group's extra bits
    are 0), with no branch but the load of a high group's extra words.

    Components, for an N x K matrix with H high groups, nnz outliers and
    bpr = ceil(gpr / block) blocks per row:

    | name              | type  | shape                              |
    | ----------------- | ----- | ---------------------------------- |
    | `low_codes`       | `i32` | N x K*lo/32                        |
    | `high_codes`      | `i32` | H x group*(hi-lo)/32               |
    | `high_group_start`| `i32` | N x ceil(gpr/32)                   |
    | `bit_map`         | `i32` | N x ceil(gpr/32)                   |
    | `scale_codes`     | `i8`  | N x gpr                            |
    | `zero_codes`      | `i32` | N x ceil(gpr*4/32)                 |
    | `block_params`    | `f16` | N x 2*bpr (rmin, step per block)   |
    | `outlier_row_ptr` | `i32` | N+1                                |
    | `outlier_col_idx` | `i16` (K <= 65536) or `i32` | nnz      |
    | `outlier_values`  | `f16` | nnz                                |

    `low_codes` holds the `lo`-bit code of every weight of a low group and
    the top `lo` bits of every high-group code, packed LSB-first per row as
    in `#mixq.affine`; `high_codes` holds the low `hi - lo` bits of the
    codes of each high group (one row per high group, row-major order of
    the groups); the bit map, zero codes (4 bits) and scale codes are
    LSB-first per row. The outliers are a CSR matrix (`#mixq.sparse`
    layout): row r owns entries [row_ptr[r], row_ptr[r+1]), with strictly
    increasing unsigned column indices, and the value is the fp16 residual
    w - dense'. `group * lo` and `group * (hi - lo)` must be multiples of 32
    so that every group starts on a word.

    H and nnz depend only on the shape and the parameters, so the component
    shapes do too. Bits per weight = 8 * (sum of component bytes) / (N K):
    `#mixq.mixed<group = 64, hi_frac = 0.25>` on 2 x 128 has H = 1, nnz =
    round(0.0075 * 256) = 2 and costs (64 + 16 + 8 + 8 + 4 + 8 + 8 + 12 +
    4 + 4) * 8 / 256 = 4.25 bits; on 4096 x 4096 the defaults cost 2.9.

    The reference lowering (buildDequantTile) decodes each weight's group
    and finds its outlier by an `scf.for` over the row's CSR slice. The
    kernels use the word-level form (buildDequantVector): one group decode
    per tile, the low and extra code words combined into 4-bit fields with
    two bit selects per pair of words, f16x2 magic-number conversion and
    `qq * scale + bias` in f16x2 (f32 vectors for other result types); the
    outliers leave the tiles and are added once per row after the dot
    product (buildSparseDot).

    `group` is required; the other parameters are printed only when they
    differ from their defaults (`lo = 2, hi = 4, hi_frac = 0.1, bits = 2.9,
    outliers = 0.0075, block = 64`, those of `--mixq-quantize` spec
    `mixed:group=64,lo=2,hi=4,hi-frac=0.1,bits=2.9,outliers=0.0075,block=64`).
    The defaults are the best measured at 2.9 bits on the synthetic
    llama2-7b (docs/performance.md): more outliers and fewer block
    parameters beat the high groups that the same bits would buy.

    ```mlir
    #mixq.mixed<group = 64>
    #mixq.mixed<group = 128, hi_frac = 0.2, outliers = 0.01>
    #mixq.mixed<group = 32, lo = 3, hi = 8, bits = 0.0>
    ```
  }];
  let parameters = (ins
    AttrParameter<"int64_t", "inputs per group; group * lo and "
                  "group * (hi - lo) multiples of 32">:$group,
    DefaultValuedParameter<"unsigned", "2", "low-group code bits, 1..7">:$lo,
    DefaultValuedParameter<"unsigned", "4",
                           "high-group code bits, lo + 1..8">:$hi,
    MixQ_DoubleParameter<"0.1", "least share of high groups, [0, 1]">:$hi_frac,
    MixQ_DoubleParameter<"2.9", "bits/weight budget that more high groups "
                         "may fill (0: none)">:$bits,
    MixQ_DoubleParameter<"0.0075", "share of all weights kept as fp16 "
                         "outliers, [0, 1)">:$outliers,
    DefaultValuedParameter<"int64_t", "64",
                           "groups per second-order block, >= 1">:$block);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let builders = [
    AttrBuilder<(ins "int64_t":$group, "unsigned":$lo, "unsigned":$hi,
                     "double":$hiFrac, "double":$bits, "double":$outliers,
                     "int64_t":$block), [{
      return $_get($_ctxt, group, lo, hi, ::llvm::APFloat(hiFrac),
                   ::llvm::APFloat(bits), ::llvm::APFloat(outliers), block);
    }]>
  ];
  let extraClassDeclaration = [{
    /// `hi_frac`, `bits` and `outliers` as doubles.
    double getHighFraction() const { return getHiFrac().convertToDouble(); }
    double getTargetBitsPerWeight() const {
      return getBits().convertToDouble();
    }
    double getOutlierFraction() const {
      return getOutliers().convertToDouble();
    }
    /// The number of high groups of an N x K matrix.
    int64_t getNumHighGroups(::llvm::ArrayRef<int64_t> shape) const;
    /// The number of outliers of an N x K matrix.
    int64_t getNumOutliers(::llvm::ArrayRef<int64_t> shape) const;
  }];
}

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

    The host quantizer (`Quant/BitplaneQuantizer.h`), per output row on the
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

include "dialect/MixQ/MixQSparseAttr.td"
include "dialect/MixQ/MixQOutlierColsAttr.td"

#endif // MIXQ_DIALECT_MIXQ_MIXQATTRS_TD
