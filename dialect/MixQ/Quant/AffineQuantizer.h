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
//===----------------------------------------------------------------------===//
#ifndef MIXQ_DIALECT_MIXQ_QUANT_AFFINEQUANTIZER_H
#define MIXQ_DIALECT_MIXQ_QUANT_AFFINEQUANTIZER_H

#include "dialect/MixQ/Quant/FloatFormats.h"

#include <cstdint>
#include <string>
#include <vector>

namespace mixq::quant {

struct AffineParams {
  unsigned bits = 4;
  int64_t groupSize = 128;
  bool symmetric = false;
  ScalarFormat scaleFormat = ScalarFormat::F16;
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

/// Quantizes; `params` must satisfy validateAffine.
AffineQuantized quantizeAffine(const float *weights, int64_t rows, int64_t cols,
                               const AffineParams &params);

/// Reconstructs the rows x cols fp32 matrix.
std::vector<float> dequantizeAffine(const AffineQuantized &packed, int64_t rows,
                                    int64_t cols, const AffineParams &params);

} // namespace mixq::quant

#endif // MIXQ_DIALECT_MIXQ_QUANT_AFFINEQUANTIZER_H
