//===- LUTQuantizer.h - per-row codebook (SqueezeLLM) -----------*- C++ -*-===//
//
// `#mixq.lut<bits>`: each output row r of the N x K matrix has a codebook of
// 2^bits fp16 centroids found by weighted 1-D k-means over the row's K
// weights (KMeans1D.h; sample weight of column k = E[x_k^2] when a
// Sensitivity is given, else 1; initialization at the weighted quantiles
// (j + 1/2) / 2^bits, Lloyd iterations until no sample changes cluster or
// maxIterations). Centroids are rounded to fp16 and sorted, and each weight
// gets the code of its nearest rounded centroid (a tie goes to the lower
// code):  w'[r][k] = lut[r][code[r][k]].
//
// Components:
//   codes  uint32 [N][ceil(K * bits / 32)]  PackedMatrixLayout (BitPacking.h)
//   lut    fp16   [N][2^bits]               non-decreasing per row
// bits/weight = (32 * N * ceil(K * bits / 32) + 16 * N * 2^bits) / (N K).
//===----------------------------------------------------------------------===//
#ifndef MIXQ_QUANT_LUTQUANTIZER_H
#define MIXQ_QUANT_LUTQUANTIZER_H

#include "quant/CalibrationStats.h"

#include <cstdint>
#include <string>
#include <vector>

namespace mixq::quant {

struct LUTParams {
  /// Code width, 1..8 (the scheme uses 2, 3 and 4).
  unsigned bits = 3;
  /// Upper bound on Lloyd iterations per row, >= 0.
  int maxIterations = 100;
};

struct LUTQuantized {
  std::vector<uint32_t> codes;
  std::vector<uint16_t> lut; ///< fp16 bits
};

std::string validateLUT(const LUTParams &params, int64_t rows, int64_t cols);

/// Quantizes (rows in parallel); `sensitivity` is optional.
LUTQuantized quantizeLUT(const float *weights, int64_t rows, int64_t cols,
                         const LUTParams &params,
                         const Sensitivity *sensitivity = nullptr);

std::vector<float> dequantizeLUT(const LUTQuantized &packed, int64_t rows,
                                 int64_t cols, const LUTParams &params);

/// 8 * (bytes of codes and lut) / (rows * cols).
double bitsPerWeight(const LUTQuantized &packed, int64_t rows, int64_t cols);

/// Nearest-centroid code of `value` among `count` non-decreasing centroids,
/// ties to the lower code (shared with the bit-plane quantizer).
uint8_t nearestCentroid(float value, const float *centroids, unsigned count);

} // namespace mixq::quant

#endif // MIXQ_QUANT_LUTQUANTIZER_H
