//===- MixQMixedAttr.td - #mixq.mixed ----------------------------*- tablegen -*-===//
//
// Included by MixQAttrs.td (it uses MixQ_Attr).
//===----------------------------------------------------------------------===//
#ifndef MIXQ_DIALECT_MIXQ_MIXQMIXEDATTR_TD
#define MIXQ_DIALECT_MIXQ_MIXQMIXEDATTR_TD

def MixQ_MixedSchemeAttr : MixQ_Attr<"MixedScheme", "mixed", [
    DeclareAttrInterfaceMethods<QuantSchemeAttrInterface,
                                ["reconstructionError", "buildDequantVector",
                                 "buildDequantVectorInAnyOrder",
                                 "getScaleFactorColumns", "buildScaleFactor",
                                 "buildUnscaledDequantVectorInAnyOrder",
                                 "buildSparseDot", "buildIndirectRow",
                                 "getShapeFallback"]>]> {
  let summary = "intra-weight mixed precision: 2/4-bit groups + fp16 outliers";
  let description = [{
    Each row of the N x K weight matrix is split into groups of `group`
    consecutive inputs (gpr = K / group groups per row). A group is either
    *low* (`lo` bits, default 2) or *high* (`hi` bits, default 4); a few
    large weights of the low groups are fp16 sparse *outliers*; group scales
    and zeros are quantized again per block of `block` groups (*second
    order*). The host quantizer is `quant/MixedQuantizer.h`:

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
       fitted, and its scale on the widened grid (below) is s = R / m; per
       block (smin, step) of the scales are f16 and each group stores an
       8-bit scale code `sc` and a 4-bit zero code `zc`, the pair chosen
       near the rounded codes by the group's error.

    Dequantization of weight (r, c), group g = c / group, block b =
    g / block, bits = `hi` if bit g of row r's bit map is set, else `lo`,
    m = (2^bits - 1) << (hi - bits), u = max(1, round(m / 15)) (1 for
    hi <= 4):

    ```
    scale = f16(fma(sc[r][g], step[r][b], smin[r][b]))   (f32 fma)
    zero  = zc[r][g] * u                                  (an integer)
    qq    = lowcode(r, c) << (hi - lo) | extra            (every code at hi bits)
    extra = highcode(h, c % group) in a high group, else highcode(H, ...) = 0
    w     = (qq - zero) * scale  (+ the CSR residual when (r, c) is an outlier)
    ```

    qq - zero is an integer of at most 8 bits and scale an f16 value, so w
    is exact in f32 and an f16 product rounds once; a kernel may sum
    (qq - zero) * x over a group and multiply the sum by the scale
    (getScaleFactorColumns = `group`).
    h = high_group_start[r][g / 32] + popcount(bits of map word g / 32
    below bit g % 32) numbers the high groups in row-major order: one word
    and one popcount per group, so a kernel decodes a group's parameters
    once per tile, and low and high groups alike (a low group's extra bits
    are 0: they are read from the last row of `high_codes`, all zeros).
    `high_codes` is an indirect component (`buildIndirectRow`: h, or H in a
    low group), so the CUDA GEMVs copy a tile's extra words into shared
    memory by cp.async stages ahead, beside its low codes: no branch and no
    load waited on in the loop.
    (Until 2026-12-06 `block_params` held (rmin, step) of the groups'
    ranges, the scale was range / m rounded to 11 - hi significant bits and
    the zero zc * m / 15, a bias no multiple of the scale, and until the
    same day's later change `high_codes` had no zero row: a low group's
    extra codes were a branch around the load. A package from then still
    runs: it carries the kernels that read its own components, and nothing
    in the runtime decodes a scheme's components, so the package format
    version did not change.)

    Components, for an N x K matrix with H high groups, nnz outliers and
    bpr = ceil(gpr / block) blocks per row:

    | name              | type  | shape                              |
    | ----------------- | ----- | ---------------------------------- |
    | `low_codes`       | `i32` | N x K*lo/32                        |
    | `high_codes`      | `i32` | (H+1) x group*(hi-lo)/32           |
    | `high_group_start`| `i32` | N x ceil(gpr/32)                   |
    | `bit_map`         | `i32` | N x ceil(gpr/32)                   |
    | `scale_codes`     | `i8`  | N x gpr                            |
    | `zero_codes`      | `i32` | N x ceil(gpr*4/32)                 |
    | `block_params`    | `f16` | N x 2*bpr (smin, step per block)   |
    | `outlier_row_ptr` | `i32` | N+1                                |
    | `outlier_col_idx` | `i16` (K <= 65536) or `i32` | nnz      |
    | `outlier_values`  | `f16` | nnz                                |

    `low_codes` holds the `lo`-bit code of every weight of a low group and
    the top `lo` bits of every high-group code, packed LSB-first per row as
    in `#mixq.affine`; `high_codes` holds the low `hi - lo` bits of the
    codes of each high group (one row per high group, row-major order of
    the groups), then a row of zeros (since 2026-12-06); the bit map, zero codes (4 bits) and scale codes are
    LSB-first per row. The outliers are a CSR matrix (`#mixq.sparse`
    layout): row r owns entries [row_ptr[r], row_ptr[r+1]), with strictly
    increasing unsigned column indices, and the value is the fp16 residual
    w - dense'. `group * lo` and `group * (hi - lo)` must be multiples of 32
    so that every group starts on a word.

    H and nnz depend only on the shape and the parameters, so the component
    shapes do too. Bits per weight = 8 * (sum of component bytes) / (N K):
    `#mixq.mixed<group = 64, hi_frac = 0.25>` on 2 x 128 has H = 1, nnz =
    round(0.0075 * 256) = 2 and costs (64 + 32 + 8 + 8 + 4 + 8 + 8 + 12 +
    4 + 4) * 8 / 256 = 4.75 bits; on 4096 x 4096 the defaults cost 2.9.

    The reference lowering (buildDequantTile) decodes each weight's group
    and finds its outlier by an `scf.for` over the row's CSR slice. The
    kernels use the word-level form (buildDequantVector): one group decode
    per tile, the low and extra code words combined into 4-bit fields with
    two bit selects per pair of words, f16x2 magic-number conversion with
    the zero folded into its fma and `(qq - zero) * scale` in f16x2 (f32
    vectors for other result types); the outliers leave the tiles and are
    added once per row after the dot product (buildSparseDot).

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

#endif // MIXQ_DIALECT_MIXQ_MIXQMIXEDATTR_TD
