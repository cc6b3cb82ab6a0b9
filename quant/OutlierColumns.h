//===- OutlierColumns.h - fp16 outlier input columns (QUIK) -----*- C++ -*-===//
//
// `#mixq.outlier_cols<n>`: the n input columns with the largest activations
// stay fp16; the other K - n columns are quantized to `bits` (4 or 8),
// symmetric per output row, so that the matmul on them runs in integers
// against per-token asymmetric activation codes:
//
//   x[t][k] ~ sx[t] * (qx[t][k] - zx[t])      (qx unsigned, zx integer)
//   w[r][k] ~ sw[r] * qw[r][k]                (qw signed)
//   y[t][r] = sx[t] sw[r] (sum_k qx qw - zx[t] * rowSum[r])
//             + sum_{outlier columns o} x[t][o] * wOut[r][o]
//
// Column choice: the n largest by max |x| of a Sensitivity with maxAbs
// (QUIK), else by E[x^2], else (no statistics) by the column's L2 norm;
// ties go to the lower column. Quantized weights: with mid = 2^(bits-1),
//   sw[r] = fp16(max_k |w[r][k]| / (mid - 1))   (1 for an all-zero row)
//   qw    = clamp(round(w / sw), -(mid - 1), mid - 1)
// (the code -mid is never used, so that negation is exact).
//
// Components (N x K weight, n outlier columns, Kq = K - n):
//   outlier_cols     int32  [n]        increasing column indices
//   outlier_weights  fp16   [N][n]     w[r][outlier_cols[j]]
//   codes            uint32 [N][ceil(K * bits / 32)]  qw + mid of every
//                    column, as `bits`-bit offset binary, PackedMatrixLayout
//                    (BitPacking.h); an outlier column's code is mid, 0
//   scales           fp16   [N]        sw
//   row_sums         int32  [N]        sum_k qw[r][k] over the Kq columns
//
// The codes cover all K columns, outliers included, so that a weight's code
// is at its column: a kernel reads whole words of a row and dequantizes them
// a word at a time, (code - mid) * sw, with no column map, and adds the
// outlier columns' fp16 terms once per row after the dot product. The price
// is n * bits / 8 bytes per row (4 bits, n = 256: 128 bytes, 5% of a
// 4096-column row).
//===----------------------------------------------------------------------===//
#ifndef MIXQ_QUANT_OUTLIERCOLUMNS_H
#define MIXQ_QUANT_OUTLIERCOLUMNS_H

#include "quant/CalibrationStats.h"

#include <cstdint>
#include <string>
#include <vector>

namespace mixq::quant {

enum class OutlierColumnRule { MaxAbs, MeanSquare };

struct OutlierColumnsParams {
  /// Number of fp16 columns, 0..K.
  int64_t outlierColumns = 256;
  /// Width of the quantized columns: 4 or 8.
  unsigned bits = 4;
  /// Statistic ranking the columns when a Sensitivity is given (MaxAbs
  /// falls back to MeanSquare when the Sensitivity has no maxAbs).
  OutlierColumnRule rule = OutlierColumnRule::MaxAbs;
};

struct OutlierColumnsQuantized {
  std::vector<int32_t> outlierCols;
  std::vector<uint16_t> outlierWeights; ///< fp16 bits
  std::vector<uint32_t> codes;
  std::vector<uint16_t> scales; ///< fp16 bits
  std::vector<int32_t> rowSums;
};

std::string validateOutlierColumns(const OutlierColumnsParams &params,
                                   int64_t rows, int64_t cols);

/// The chosen columns, increasing.
std::vector<int32_t> chooseOutlierColumns(const float *weights, int64_t rows,
                                          int64_t cols,
                                          const OutlierColumnsParams &params,
                                          const Sensitivity *sensitivity);

OutlierColumnsQuantized
quantizeOutlierColumns(const float *weights, int64_t rows, int64_t cols,
                       const OutlierColumnsParams &params,
                       const Sensitivity *sensitivity = nullptr);

/// Signed codes qw of the quantized columns, row-major [N][Kq].
std::vector<int8_t> outlierColumnsCodes(const OutlierColumnsQuantized &packed,
                                        int64_t rows, int64_t cols,
                                        const OutlierColumnsParams &params);

std::vector<float>
dequantizeOutlierColumns(const OutlierColumnsQuantized &packed, int64_t rows,
                         int64_t cols, const OutlierColumnsParams &params);

double bitsPerWeight(const OutlierColumnsQuantized &packed, int64_t rows,
                     int64_t cols);

/// Per-token asymmetric activation quantization (row t of a T x K matrix):
///   lo = min(0, min x), hi = max(0, max x)  (so that 0 is exact)
///   sx = (hi - lo) / (2^bits - 1) (1 when hi == lo), rounded to fp16
///   zx = round(-lo / sx) clamped to [0, 2^bits - 1]
///   qx = clamp(round(x / sx) + zx, 0, 2^bits - 1)
struct ActivationQuantized {
  std::vector<uint8_t> codes; ///< [T][K], unpacked
  std::vector<float> scales;  ///< [T], fp16 values
  std::vector<int32_t> zeros; ///< [T]
};
std::string validateActivationBits(unsigned bits);
ActivationQuantized quantizeActivationsPerToken(const float *x, int64_t tokens,
                                                int64_t cols, unsigned bits);

/// y = x W^T as the QUIK kernel computes it: the quantized columns of
/// `x` (per-token codes of `actBits`) times the integer weight codes via the
/// row sums, plus the fp16 outlier columns in f32. [T][N].
std::vector<float> outlierColumnsMatmul(const float *x, int64_t tokens,
                                        const OutlierColumnsQuantized &packed,
                                        int64_t rows, int64_t cols,
                                        const OutlierColumnsParams &params,
                                        unsigned actBits);

} // namespace mixq::quant

#endif // MIXQ_QUANT_OUTLIERCOLUMNS_H
