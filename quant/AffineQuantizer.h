//===- AffineQuantizer.h - round-to-nearest affine quantizer ----*- C++ -*-===//
//
// Group-wise affine quantization of a row-major N x K matrix (N output rows,
// K inputs), groups of `groupSize` consecutive inputs within a row.
//
// Asymmetric (per group, with lo = min(w), hi = max(w), maxq = 2^bits - 1):
//   scale = (hi - lo) / maxq, rounded to the scale format
//           (a group whose values are all equal uses scale = 1 when they are
//           0 and scale = |value| otherwise, so that it reconstructs exactly)
//   zero  = clamp(round(-lo / scale), 0, maxq), stored in the scale format
//   q     = clamp(round(w / scale) + zero, 0, maxq)
//   w'    = (q - zero) * scale
// Symmetric (amax = max |w|, mid = 2^(bits-1)):
//   scale = amax / (mid - 1), rounded to the scale format (scale = 1 when
//           amax == 0); no zeros are stored
//   q     = clamp(round(w / scale), -mid, mid - 1) + mid
//   w'    = (q - mid) * scale
// round() is round-half-away-from-zero (std::round) throughout.
// Codes are computed with the scale as stored. A scale that would round to 0
// or to infinity in the scale format is stored as the format's smallest
// positive or largest finite value instead, since the formulas divide by it.
// Weights must be finite.
//
// MSE clipping (clipGridSize > 1): each group tries the clip ratios
//   r_i = 1 - i * (1 - clipMin) / (clipGridSize - 1),  i = 0 .. size - 1
// (the default grid 11 x 0.5 is 1.0, 0.95, ..., 0.5), replacing lo, hi by
// r lo, r hi (asymmetric) or amax by r amax (symmetric) in the formulas
// above, and keeps the ratio whose reconstruction has the smallest
//   sum_k h_k (w_k - w'_k)^2,  h_k = E[x_k^2] of input column k when a
// Sensitivity is given, 1 otherwise (the diagonal-Hessian output error).
// Ties keep the larger ratio, so clipGridSize = 1 (the default) and all-equal
// errors both give plain RTN. Values outside the clipped range saturate.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_QUANT_AFFINEQUANTIZER_H
#define MIXQ_QUANT_AFFINEQUANTIZER_H

#include "quant/CalibrationStats.h"
#include "quant/FloatFormats.h"

#include <cstdint>
#include <string>
#include <vector>

namespace mixq::quant {

struct AffineParams {
  unsigned bits = 4;
  int64_t groupSize = 128;
  bool symmetric = false;
  ScalarFormat scaleFormat = ScalarFormat::F16;
  /// Number of clip ratios tried per group (1: no clipping search).
  unsigned clipGridSize = 1;
  /// Smallest clip ratio of the grid, in (0, 1].
  float clipMin = 0.5f;
};

/// Packed result. `codes` uses the PackedMatrixLayout of BitPacking.h;
/// `scales` and `zeros` are N x (K / groupSize) little-endian scalars in
/// `scaleFormat` (zeros empty when symmetric).
struct AffineQuantized {
  std::vector<uint32_t> codes;
  std::vector<uint8_t> scales;
  std::vector<uint8_t> zeros;
};

/// Returns an empty string when `params` fit a rows x cols matrix, otherwise
/// a message naming the offending parameter. An empty matrix (0 rows or 0
/// columns) is valid.
std::string validateAffine(const AffineParams &params, int64_t rows,
                           int64_t cols);

/// The symmetric scale used for a group with maximum magnitude `amax`,
/// before rounding to the scale format (1 when amax == 0).
float symmetricScale(float amax, unsigned bits);

/// Quantizes; `params` must satisfy validateAffine and `sensitivity`, when
/// given, validateSensitivity for `cols` (only its meanSquare is used, as
/// the weights of the clipping search). Rows run in parallel.
AffineQuantized quantizeAffine(const float *weights, int64_t rows, int64_t cols,
                               const AffineParams &params,
                               const Sensitivity *sensitivity = nullptr);

/// Reconstructs the rows x cols fp32 matrix.
std::vector<float> dequantizeAffine(const AffineQuantized &packed, int64_t rows,
                                    int64_t cols, const AffineParams &params);

/// The clip ratios tried per group, largest first (see the file comment).
std::vector<float> clipRatios(unsigned gridSize, float minRatio);

/// Exact storage cost: 8 * (bytes of codes, scales and zeros) / (rows * cols).
double bitsPerWeight(const AffineQuantized &packed, int64_t rows, int64_t cols);

} // namespace mixq::quant

#endif // MIXQ_QUANT_AFFINEQUANTIZER_H
