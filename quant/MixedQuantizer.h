//===- MixedQuantizer.h - 2/4/16-bit mixed precision in a weight *- C++ -*-===//
//
// `#mixq.mixed`: groups of G consecutive inputs of a row are either "low"
// (lowBits, default 2) or "high" (highBits, default 4); a few large weights
// of the low groups are fp16 sparse outliers; group scales and zeros are
// quantized again (second order).
//
// Quantization of an N x K matrix, G | K, gpr = K / G groups per row,
// h_k = E[x_k^2] with a Sensitivity, else 1 (0 is raised to the smallest
// normal float), O = round(outlierFraction * N * K):
//  1. Candidate outliers: the weights whose key |w| sqrt(h) is in or above
//     the key bucket (1/128 of an octave, SparseOutliers.h) of the O-th
//     largest key, i.e. about those step 3 would take if every group were
//     low (the bucket is estimated from every 8th row of a matrix of 64 or
//     more rows).
//     Every group gets a lo-bit fit (step 4) without its candidates, and
//     scores the error that hi bits would save:
//       score = sum h (w - w')^2 at lo bits - sum h step^2 / 12,
//     step = (max(w, 0) - min(w, 0)) / (2^hi - 1) over all its weights (the
//     uniform rounding noise of a hi-bit group, which keeps them all). This
//     is the group's range x sensitivity, measured: range^2 sum h for an
//     unclipped lo-bit group, but a group whose range comes from one
//     outlier scores what it costs without that outlier.
//  2. The H highest-scoring groups (over the whole matrix, ties to the lower
//     index) are high: H = round(highFraction * N * gpr), raised to the most
//     groups that keep mixedStorageBytes within targetBitsPerWeight when
//     that is > 0 (the defaults give about 22% high groups on 4096 x 4096).
//  3. Outliers: the O weights of the low groups with the largest keys, ties
//     to the lower index. High groups have none.
//  4. Per group, over its non-outlier weights and 0: lo = min, hi = max;
//     clip ratio c from clipRatios(clipGridSize, clipMin) minimizing
//     sum h (w - w')^2 at first order (continuous zero point), searched
//     coarse to fine: every other ratio from 1 down until the error rises,
//     then the two beside the best; range R = c (hi - lo).
//     A low group whose outliers are its candidates keeps its step 1 fit.
//  5. Second order, per block of B = blockGroups consecutive groups of a row
//     (the last block of a row may be shorter), over the groups' scales on
//     the widened grid s = R / m, m = maxq 2^shift (maxq = 2^bits - 1,
//     shift = hi - bits: 15 for a 4-bit group, 12 for a 2-bit one):
//     smin = fp16(min s), step = fp16((max s - smin) / 255); scale code
//     sc = clamp(round((s - smin) / step), 0, 255) (0 when step is 0); the
//     group's scale is fp16(fma(sc, step, smin)). Its zero code zc (4 bits)
//     starts at the nearest to -c lo / (scale u), u = mixedZeroUnit, and
//     moves by up to 2 codes each way while that lowers sum h (w - w')^2
//     (outliers excluded); the scale code, likewise, moves by up to 4 codes
//     each way (each with its best zero code) while the error falls: the
//     rounded codes of both are often not the best pair.
//  6. The group is coded on the grid of its parameters (mixedGroupParams):
//     every code is widened to hi bits, qq = q << shift, and
//       w' = (qq - zero) * scale      (exact in f32), zero = zc u
//     with scale an f16 value and zero an integer, so qq - zero is exact
//     in f16 too and a kernel may apply the scale to a group's dot product
//     (QuantSchemeAttrInterface::getScaleFactorColumns);
//     q = clamp(floor(w / (scale 2^shift) + zero / 2^shift + 1/2), 0,
//     maxq) (0 when scale is 0). At an outlier the CSR value is
//     fp16(w - w'), so dense + sparse reconstructs it up to that fp16
//     rounding.
// The error sums of steps 1, 4 and 5 run in 16 float lanes added as a fixed
// tree, so results are the same with every vector width (Vectorize.h).
//
// Components (H high groups, nnz outliers, bpr = ceil(gpr / B)):
//   low_codes       uint32 [N][K * lo / 32]   lo-bit code of every weight of a
//                   low group and the top lo bits of every high-group code;
//                   PackedMatrixLayout, group g of a row in words
//                   [g G lo / 32, (g + 1) G lo / 32)
//   high_codes      uint32 [H][G (hi - lo) / 32]  the low hi - lo bits of the
//                   codes of each high group, high groups in row-major order
//   high_group_start int32 [N][ceil(gpr / 32)]  high groups (row-major) before
//                   group 32 w of row r
//   bit_map         uint32 [N][ceil(gpr / 32)]  bit g of row r (LSB-first) is
//                   1 for a high group; high group (r, g) is number
//                   high_group_start[r][g / 32] + popcount(map word g / 32
//                   below bit g % 32): one word and one popcount per group
//   scale_codes     uint8  [N][gpr]
//   zero_codes      uint32 [N][ceil(gpr * 4 / 32)]  4-bit codes, per row
//   block_params    fp16   [N][2 bpr]  (smin, step) of the scales per block
//   outlier_row_ptr / outlier_col_idx / outlier_values: SparseOutliers.h CSR
// Layout choice: every weight has its lo-bit part at a fixed position, so a
// kernel tile of rows x whole groups loads the dense plane with aligned
// 128-bit loads and the same arithmetic as affine; only high groups add a
// second, also word-aligned, read found from its map word's prefix count and
// one popcount. (Per-row variable-length streams would make the tile's
// first word data-dependent for every group.) G * lo and G * (hi - lo) must
// be multiples of 32 so groups stay word-aligned. Widening every code to hi
// bits gives low and high groups one formula, and a low group's extra bits
// are zero: a kernel decodes both alike, with no branch per group.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_QUANT_MIXEDQUANTIZER_H
#define MIXQ_QUANT_MIXEDQUANTIZER_H

#include "quant/CalibrationStats.h"
#include "quant/ReconstructionError.h"
#include "quant/SparseOutliers.h"

#include <cstdint>
#include <string>
#include <vector>

namespace mixq::quant {

struct MixedParams {
  int64_t groupSize = 64;
  unsigned lowBits = 2;
  unsigned highBits = 4;
  /// Least share of high groups, in [0, 1].
  double highFraction = 0.1;
  /// Bits/weight budget that more high groups may fill (0: none).
  double targetBitsPerWeight = 2.9;
  /// Share of all weights kept as outliers (inside low groups), in [0, 1).
  double outlierFraction = 0.0075;
  /// Groups per second-order block, >= 1.
  int64_t blockGroups = 64;
  /// First-order clip search (AffineQuantizer.h clipRatios).
  unsigned clipGridSize = 11;
  float clipMin = 0.5f;
};

/// Second-order code widths.
constexpr unsigned kMixedScaleCodeBits = 8;
constexpr unsigned kMixedZeroCodeBits = 4;

struct MixedQuantized {
  std::vector<uint32_t> lowCodes;
  /// One row of extra codes per high group, in row-major order of the
  /// groups, then one row of zeros: the extra codes of every low group, so
  /// that a kernel reads a tile's extra codes from row isHigh ? h : H with
  /// no branch (and a GPU may copy them stages ahead).
  std::vector<uint32_t> highCodes;
  std::vector<int32_t> highGroupStart;
  std::vector<uint32_t> bitMap;
  std::vector<uint8_t> scaleCodes;
  std::vector<uint32_t> zeroCodes;
  std::vector<uint16_t> blockParams; ///< fp16 bits
  SparseCSR outliers;
};

/// The decoded parameters of one group: its weights are
/// (qq - zero) * scale, exactly in f32, qq = code << shift.
struct MixedGroupParams {
  float scale = 0.0f; ///< an f16 value
  float zero = 0.0f;  ///< zc * mixedZeroUnit: an integer
  unsigned shift = 0; ///< hi - bits
};

/// Step 6's parameters of a group from its second-order codes:
///   scale = fp16(fma(sc, scaleStep, scaleMin))   (f32 fma, rounded to
///   nearest even), zero = zc * mixedZeroUnit, shift = hi - bits.
/// qq - zero is an integer of at most 8 bits, exact in f16, and the
/// product (qq - zero) * scale, at most 19 significant bits, is exact in
/// f32; a kernel computing it in f16 rounds once.
MixedGroupParams mixedGroupParams(float scaleMin, float scaleStep,
                                  uint32_t scaleCode, uint32_t zeroCode,
                                  bool high, unsigned lo, unsigned hi);

/// The step of a group's zero point on the widened grid: m / 15, m =
/// (2^bits - 1) << (hi - bits), rounded to an integer of at least 1 (1 for
/// hi <= 4), so that 4-bit zero codes span the group's levels and
/// qq - zero is an integer. (A finer step, such as 3/4 for a 2-bit group
/// widened to 4 bits, is a little more accurate, but the f16 magic-number
/// conversion of a code in a half's lowest bits subtracts 1024 + zero,
/// exact only for an integer zero.)
float mixedZeroUnit(bool high, unsigned lo, unsigned hi);

std::string validateMixed(const MixedParams &params, int64_t rows,
                          int64_t cols);

/// Bytes of every component for `highGroups` high groups and `outliers`
/// outliers (what bitsPerWeight measures on the buffers).
int64_t mixedStorageBytes(const MixedParams &params, int64_t rows, int64_t cols,
                          int64_t highGroups, int64_t outliers);

/// Number of high groups quantizeMixed picks (step 2 of the file comment).
int64_t mixedHighGroupCount(const MixedParams &params, int64_t rows,
                            int64_t cols);

MixedQuantized quantizeMixed(const float *weights, int64_t rows, int64_t cols,
                             const MixedParams &params,
                             const Sensitivity *sensitivity = nullptr);

/// Checks stored components (of the right sizes) before they index
/// anything: no bit-map bit past the row's groups, every high_group_start
/// the count of the high groups before it (so a high group's row is in
/// high_codes), and the outlier CSR (validateCSR). Returns the problem, or
/// "" when they are sound.
std::string validateMixedLayout(const MixedQuantized &packed, int64_t rows,
                                int64_t cols, const MixedParams &params);

/// Dense + sparse reconstruction.
std::vector<float> dequantizeMixed(const MixedQuantized &packed, int64_t rows,
                                   int64_t cols, const MixedParams &params);

/// matrixErrorSums(weights, dequantizeMixed(packed)), exactly, from a row at
/// a time: the report's error without an N x K reconstruction to write and
/// read back.
ErrorSums mixedErrorSums(const MixedQuantized &packed, const float *weights,
                         int64_t rows, int64_t cols, const MixedParams &params);

/// True when group `group` of row `row` is high.
bool isMixedHighGroup(const MixedQuantized &packed, int64_t cols,
                      const MixedParams &params, int64_t row, int64_t group);

/// 8 * (bytes of every component) / (rows * cols).
double bitsPerWeight(const MixedQuantized &packed, int64_t rows, int64_t cols);

} // namespace mixq::quant

#endif // MIXQ_QUANT_MIXEDQUANTIZER_H
