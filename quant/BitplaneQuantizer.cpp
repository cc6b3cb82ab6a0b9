//===- BitplaneQuantizer.cpp - nested any-precision codes -----------------===//
#include "quant/BitplaneQuantizer.h"
#include "quant/BitPacking.h"
#include "quant/FloatFormats.h"
#include "quant/KMeans1D.h"
#include "quant/Parallel.h"

#include <cassert>
#include <limits>

using namespace mixq::quant;

std::string mixq::quant::validateBitplane(const BitplaneParams &params,
                                          int64_t rows, int64_t cols) {
  if (params.parentBits < 1 || params.parentBits > 8)
    return "bitplane parent bits must be in 1..8, got " +
           std::to_string(params.parentBits);
  if (params.seedBits < 1 || params.seedBits > params.parentBits)
    return "bitplane seed bits must be in 1..parent (" +
           std::to_string(params.parentBits) + "), got " +
           std::to_string(params.seedBits);
  if (params.maxIterations < 0)
    return "bitplane maxIterations must be non-negative, got " +
           std::to_string(params.maxIterations);
  if (rows < 0 || cols < 0)
    return "matrix shape must be non-negative, got " + std::to_string(rows) +
           "x" + std::to_string(cols);
  if (cols > std::numeric_limits<int32_t>::max())
    return "bitplane: " + std::to_string(cols) +
           " columns exceed int32 positions";
  return "";
}

int64_t mixq::quant::bitplaneLUTOffset(const BitplaneParams &params,
                                       int64_t rows, unsigned width) {
  // sum_{b = seed}^{width - 1} 2^b = 2^width - 2^seed.
  return rows * ((int64_t{1} << width) - (int64_t{1} << params.seedBits));
}

namespace {
/// Per-row work: clusters of the current width as sorted-sample intervals.
struct RowUpscaler {
  const SortedSamples &samples;
  int maxIterations;
  std::vector<double> centroids;
  std::vector<int64_t> bounds; ///< size centroids + 1

  /// Splits every cluster in two; cluster c becomes 2c and 2c + 1.
  void split() {
    std::vector<double> childCentroids;
    std::vector<int64_t> childBounds{bounds[0]};
    for (size_t c = 0; c < centroids.size(); ++c) {
      Clusters halves = kmeans1D(samples, bounds[c], bounds[c + 1], 2,
                                 maxIterations, centroids[c]);
      childCentroids.insert(childCentroids.end(), halves.centroids.begin(),
                            halves.centroids.end());
      childBounds.push_back(halves.bounds[1]);
      childBounds.push_back(halves.bounds[2]);
    }
    centroids = std::move(childCentroids);
    bounds = std::move(childBounds);
  }
};
} // namespace

static void storeLUT(const std::vector<double> &centroids, uint16_t *out) {
  for (size_t j = 0; j < centroids.size(); ++j)
    out[j] = floatToHalfBits(static_cast<float>(centroids[j]));
}

/// Writes the parent-width codes of one row into its planes.
static void storePlanes(const SortedSamples &samples,
                        const std::vector<int64_t> &bounds, unsigned parent,
                        int64_t rows, int64_t row, int64_t cols,
                        uint32_t *planes) {
  int64_t wordsPerRow = packedWordCount(cols, 1);
  for (size_t code = 0; code + 1 < bounds.size(); ++code)
    for (int64_t i = bounds[code]; i < bounds[code + 1]; ++i) {
      int64_t col = samples.position(i);
      for (unsigned j = 0; j < parent; ++j)
        if ((code >> (parent - 1 - j)) & 1u)
          planes[(j * rows + row) * wordsPerRow + col / 32] |= 1u << (col % 32);
    }
}

BitplaneQuantized
mixq::quant::quantizeBitplane(const float *weights, int64_t rows, int64_t cols,
                              const BitplaneParams &params,
                              const Sensitivity *sensitivity) {
  assert(validateBitplane(params, rows, cols).empty() && "invalid parameters");
  unsigned seed = params.seedBits, parent = params.parentBits;
  BitplaneQuantized result;
  result.planes.assign(parent * rows * packedWordCount(cols, 1), 0u);
  result.luts.assign(bitplaneLUTOffset(params, rows, parent + 1), 0);
  std::vector<float> columnWeights = kmeansColumnWeights(sensitivity);
  const float *h = columnWeights.empty() ? nullptr : columnWeights.data();
  parallelFor(rows, [&](int64_t begin, int64_t end) {
    SortedSamples samples;
    for (int64_t r = begin; r < end; ++r) {
      samples.assign(weights + r * cols, h, cols);
      Clusters seedClusters =
          kmeans1D(samples, 0, cols, 1 << seed, params.maxIterations);
      RowUpscaler up{samples, params.maxIterations,
                     std::move(seedClusters.centroids),
                     std::move(seedClusters.bounds)};
      for (unsigned b = seed;; ++b) {
        storeLUT(up.centroids, result.luts.data() +
                                   bitplaneLUTOffset(params, rows, b) +
                                   (r << b));
        if (b == parent)
          break;
        up.split();
      }
      storePlanes(samples, up.bounds, parent, rows, r, cols,
                  result.planes.data());
    }
  });
  return result;
}

std::vector<uint8_t> mixq::quant::bitplaneCodes(const BitplaneQuantized &packed,
                                                int64_t rows, int64_t cols,
                                                const BitplaneParams &params,
                                                unsigned width) {
  assert(validateBitplane(params, rows, cols).empty() && width >= 1 &&
         width <= params.parentBits && "invalid parameters");
  int64_t wordsPerRow = packedWordCount(cols, 1);
  std::vector<uint8_t> codes(rows * cols, 0);
  // Only planes 0 .. width-1 (the most significant bits) are touched.
  for (unsigned j = 0; j < width; ++j)
    for (int64_t r = 0; r < rows; ++r) {
      const uint32_t *plane =
          packed.planes.data() + (j * rows + r) * wordsPerRow;
      for (int64_t c = 0; c < cols; ++c)
        codes[r * cols + c] = static_cast<uint8_t>(
            codes[r * cols + c] << 1 | ((plane[c / 32] >> (c % 32)) & 1u));
    }
  return codes;
}

std::vector<float>
mixq::quant::dequantizeBitplane(const BitplaneQuantized &packed, int64_t rows,
                                int64_t cols, const BitplaneParams &params,
                                unsigned width) {
  assert(width >= params.seedBits && width <= params.parentBits &&
         "width outside [seed, parent]");
  std::vector<uint8_t> codes = bitplaneCodes(packed, rows, cols, params, width);
  const uint16_t *lut =
      packed.luts.data() + bitplaneLUTOffset(params, rows, width);
  std::vector<float> result(rows * cols);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      result[r * cols + c] =
          halfBitsToFloat(lut[(r << width) + codes[r * cols + c]]);
  return result;
}

double mixq::quant::bitsPerWeight(const BitplaneQuantized &packed, int64_t rows,
                                  int64_t cols) {
  size_t bytes = packed.planes.size() * sizeof(uint32_t) +
                 packed.luts.size() * sizeof(uint16_t);
  return 8.0 * static_cast<double>(bytes) / static_cast<double>(rows * cols);
}

double mixq::quant::bitplaneBitsAtWidth(const BitplaneParams &params,
                                        int64_t rows, int64_t cols,
                                        unsigned width) {
  if (width < params.seedBits || width > params.parentBits)
    return 0.0;
  double bits = 32.0 * width * rows * packedWordCount(cols, 1) +
                16.0 * rows * (int64_t{1} << width);
  return bits / static_cast<double>(rows * cols);
}
