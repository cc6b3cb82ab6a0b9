//===- MixQOutlierColsAttr.td - #mixq.outlier_cols (QUIK) --*- tablegen -*-===//
//
// Included by MixQAttrs.td (it uses MixQ_Attr).
//===----------------------------------------------------------------------===//
#ifndef MIXQ_DIALECT_MIXQ_MIXQOUTLIERCOLSATTR_TD
#define MIXQ_DIALECT_MIXQ_MIXQOUTLIERCOLSATTR_TD

def MixQ_OutlierColsSchemeAttr : MixQ_Attr<"OutlierColsScheme", "outlier_cols", [
    DeclareAttrInterfaceMethods<QuantSchemeAttrInterface,
                                ["buildDequantVector",
                                 "buildDequantVectorInAnyOrder",
                                 "buildSparseDot", "getScaleFactorColumns",
                                 "buildScaleFactor",
                                 "buildUnscaledDequantVectorInAnyOrder",
                                 "buildBiasedDequantVectorInAnyOrder",
                                 "getActivationBits",
                                 "buildIsPassthroughColumn"]>]> {
  let summary = "fp16 outlier input columns + int4/int8 per-channel codes (QUIK)";
  let description = [{
    `cols` of the K input columns of the N x K weight matrix stay in fp16;
    the other Kq = K - `cols` columns are quantized to `bits` (4 or 8)
    signed integers, symmetric per output row. The host quantizer is
    `quant/OutlierColumns.h`:

    * **Column choice.** With calibration data (the per-input E[x^2] that
      `mixq-compile --calibration` passes as the column sensitivity) the
      `cols` columns with the largest activation scale E[x^2]; without, the
      `cols` columns with the largest L2 norm over the rows. Ties go to the
      lower column; the chosen columns are stored increasing.
    * **Quantized columns.** With mid = 2^(bits-1), per row r:
      `s[r] = fp16(max_k |w[r][k]| / (mid - 1))` over the quantized columns
      (1 for an all-zero row), `q = clamp(round(w / s), -(mid-1), mid-1)`.
    * **Row sums** `sum_k q[r][k]` over the quantized columns are stored for
      an integer kernel with asymmetric per-token activation codes
      (`y = sx sw (sum qx qw - zx * row_sum) + outlier part`); the
      dequantization below does not read them.

    Dequantization of weight (r, c), in f32, with mid = 2^(bits-1):

    ```
    m = col_map[c]
    w = m >= 0 ? outlier_weights[r][m]                  (outlier column)
               : (code(r, c) - mid) * scales[r]         (quantized column)
    ```

    Components, for an N x K matrix with n = `cols`:

    | name              | type  | shape                      |
    | ----------------- | ----- | -------------------------- |
    | `outlier_cols`    | `i32` | n                          |
    | `outlier_weights` | `f16` | N x n                      |
    | `codes`           | `i32` | N x ceil(K * bits / 32)    |
    | `scales`          | `f16` | N                          |
    | `row_sums`        | `i32` | N                          |
    | `col_map`         | `i16` (K <= 32768) or `i32` | K     |

    The first five are what the host quantizer stores: `outlier_cols` holds
    the increasing outlier column indices, `outlier_weights[r][j]` is
    w[r][outlier_cols[j]], and `codes` holds q + mid of every column of
    each row as `bits`-bit offset-binary fields, packed LSB-first per row
    as in `#mixq.affine` (each row padded to a whole word). An outlier
    column's code is mid, a weight of 0.

    **The layout is the kernel's.** Because every column has a code at its
    own position, a kernel reads a row's codes in whole 16-byte pieces and
    dequantizes them a word at a time, exactly as symmetric
    `#mixq.affine` codes with one scale per row (f16x2 magic-number
    unpacking, buildDequantVector), with no column map in the loop; the
    fp16 outlier columns are n terms per row that buildSparseDot adds after
    the dot product. The codes of the n outlier columns cost n * bits / 8
    bytes per row that a stream of only the quantized columns would not
    (4 bits, n = 256, K = 4096: 128 of 2566 bytes a row, 5%); in exchange no
    weight needs its column looked up. (Until 2026-12-06 the codes held the
    Kq quantized columns only, in two's complement, and every weight took a
    `col_map` load, a select and a code load of its own: 19 SASS
    instructions per weight on sm_90. A package from then still runs: it
    carries the kernels that read its own layout, and nothing in the
    runtime decodes a scheme's components, so the package format version
    did not change.)

    `col_map` is derived from `outlier_cols`: `col_map[c]` is the slot j
    of column c in `outlier_cols` for an outlier column and -1 otherwise.
    It costs 16 (or 32) bits per input column of the whole matrix, 16 / N
    bits per weight (0.004 at N = 4096). `mixq.quantize_act` reads it
    (`col_map[c] >= 0`: pass through), and so does the scalar form of a
    weight (buildDequantTile), so that a single weight (r, c) needs no
    search of `outlier_cols`. The host dequantizer checks that it matches
    `outlier_cols`.

    Bits per weight = 8 * (sum of component bytes) / (N K), everything
    counted: `#mixq.outlier_cols<cols = 128, bits = 4>` on 4096 x 4096
    costs (512 + 2 * 4096 * 128 + 4 * 4096 * 512 + 2 * 4096 + 4 * 4096
    + 2 * 4096) * 8 / 4096^2 = 4.52 bits (the fp16 columns are 0.5 of it).

    With `act_bits` = 0 (the default) the scheme is weight-only:
    `mixq.matmul` multiplies unquantized activations by the dequantized
    weight. With `act_bits` = 4 or 8 it is QUIK's W4A8 / W8A8: the
    activations of the non-outlier columns are quantized per token,
    asymmetrically, to `act_bits` bits (the interface's default
    buildQuantizeActivation; the outlier columns pass through,
    buildIsPassthroughColumn). That is the separate op `mixq.quantize_act`,
    which `--mixq-quantize` inserts before each matmul of such a weight
    (SPEC `quik:cols=256,bits=4,act-bits=8`).

    `cols` must be less than K (at least one quantized column).

    ```mlir
    #mixq.outlier_cols<cols = 256, bits = 4>
    #mixq.outlier_cols<cols = 8, bits = 8>
    #mixq.outlier_cols<cols = 256, bits = 4, act_bits = 8>
    ```
  }];
  let parameters = (ins
    AttrParameter<"int64_t", "fp16 input columns, 0 .. K - 1">:$cols,
    AttrParameter<"unsigned", "bits of the other columns' codes: 4 or 8">:$bits,
    DefaultValuedParameter<"unsigned", "0", "activation bits: 0 (weight-only), "
                           "4 or 8">:$act_bits);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The element type of `col_map` for K inputs: i16 when K <= 32768.
    ::mlir::IntegerType getColMapType(int64_t inputs) const;
  }];
}

#endif // MIXQ_DIALECT_MIXQ_MIXQOUTLIERCOLSATTR_TD
