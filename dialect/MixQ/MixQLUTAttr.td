//===- MixQLUTAttr.td - #mixq.lut --------------------------------*- tablegen -*-===//
//
// Included by MixQAttrs.td (it uses MixQ_Attr).
//===----------------------------------------------------------------------===//
#ifndef MIXQ_DIALECT_MIXQ_MIXQLUTATTR_TD
#define MIXQ_DIALECT_MIXQ_MIXQLUTATTR_TD

def MixQ_LUTSchemeAttr : MixQ_Attr<"LUTScheme", "lut", [
    DeclareAttrInterfaceMethods<QuantSchemeAttrInterface,
                                ["buildDequantVector", "getRowTables",
                                 "buildRowTableEntry"]>]> {
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

    At 2 and 3 bits the scheme offers code generators one row table
    (QuantSchemeAttrInterface::getRowTables), `code_pairs`: for every pair
    of codes `(c0, c1)`, entry `c0 | c1 << bits` holds `lut[r][c0]` in its
    low and `lut[r][c1]` in its high f16 half (64 i32 entries, 256 bytes a
    row at 3 bits). Read two at a time, the code stream is a stream of
    2 * bits-bit fields, so one lookup gives an f16x2 pair of weights: the
    CUDA GEMV builds the table in shared memory once per row and spends a
    shift, an and-or and a shared load per two weights instead of per
    weight. At 4 bits a table would take 1 KiB a row.

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

#endif // MIXQ_DIALECT_MIXQ_MIXQLUTATTR_TD
