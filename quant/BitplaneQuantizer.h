//===- BitplaneQuantizer.h - nested any-precision codes ---------*- C++ -*-===//
//
// `#mixq.bitplane<seed, parent>` (Any-Precision LLM): one set of codes
// readable at every width b in [seed, parent].
//
// Incremental upscaling, per output row, on the row's samples sorted by
// value (sample weight E[x_k^2] with a Sensitivity, else 1):
//   1. seed: weighted 1-D k-means with 2^seed clusters (KMeans1D.h); in one
//      dimension the clusters are intervals, numbered in value order;
//   2. for b = seed+1 .. parent: every cluster c of width b-1 is split into
//      two by a weighted 2-means over its own samples; the lower child gets
//      code 2c and the upper 2c + 1, and the children's centroids are their
//      means (a cluster of one value keeps it in both children).
// So the top b bits of every parent-width code are the code of width b, and
// since a split never increases the (weighted) squared error, the error does
// not grow with the width (up to the fp16 rounding of the centroids).
// Dequantization at width b: w' = lut_b[r][code >> (parent - b)].
//
// Components:
//   planes  uint32 [parent][N][ceil(K / 32)]  plane j holds bit
//           (parent - 1 - j) of every code, one bit per weight, each row a
//           PackedMatrixLayout row of 1-bit codes (plane 0 = most
//           significant). A width-b kernel reads planes 0 .. b-1 only.
//   luts    fp16 [sum over b = seed..parent of N * 2^b]: for b = seed first,
//           lut_b as [N][2^b]; lut_b starts at element
//           N * (2^b - 2^seed) (bitplaneLUTOffset).
// Stored bits/weight counts every plane and every LUT; the bits a width-b
// decode reads are in bitplaneBitsAtWidth.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_QUANT_BITPLANEQUANTIZER_H
#define MIXQ_QUANT_BITPLANEQUANTIZER_H

#include "quant/CalibrationStats.h"

#include <cstdint>
#include <string>
#include <vector>

namespace mixq::quant {

struct BitplaneParams {
  /// Smallest width, 1..parentBits.
  unsigned seedBits = 3;
  /// Largest width, seedBits..8.
  unsigned parentBits = 4;
  /// Lloyd iterations of the seed k-means and of each split, >= 0.
  int maxIterations = 100;
};

struct BitplaneQuantized {
  std::vector<uint32_t> planes;
  std::vector<uint16_t> luts; ///< fp16 bits
};

std::string validateBitplane(const BitplaneParams &params, int64_t rows,
                             int64_t cols);

BitplaneQuantized quantizeBitplane(const float *weights, int64_t rows,
                                   int64_t cols, const BitplaneParams &params,
                                   const Sensitivity *sensitivity = nullptr);

/// Element offset of lut_width in `luts`.
int64_t bitplaneLUTOffset(const BitplaneParams &params, int64_t rows,
                          unsigned width);

/// The width-`width` codes (row-major, one per weight), read from the top
/// `width` planes.
std::vector<uint8_t> bitplaneCodes(const BitplaneQuantized &packed,
                                   int64_t rows, int64_t cols,
                                   const BitplaneParams &params,
                                   unsigned width);

/// Reconstruction at `width` in [seedBits, parentBits].
std::vector<float> dequantizeBitplane(const BitplaneQuantized &packed,
                                      int64_t rows, int64_t cols,
                                      const BitplaneParams &params,
                                      unsigned width);

/// Everything stored: 8 * (bytes of planes and luts) / (rows * cols).
double bitsPerWeight(const BitplaneQuantized &packed, int64_t rows,
                     int64_t cols);
/// What a width-`width` decode reads: its planes and its LUT (0 for a
/// width outside [seedBits, parentBits]).
double bitplaneBitsAtWidth(const BitplaneParams &params, int64_t rows,
                           int64_t cols, unsigned width);

} // namespace mixq::quant

#endif // MIXQ_QUANT_BITPLANEQUANTIZER_H
