//===- LUTQuantizer.cpp - per-row codebook (SqueezeLLM) -------------------===//
#include "quant/LUTQuantizer.h"
#include "quant/BitPacking.h"
#include "quant/FloatFormats.h"
#include "quant/KMeans1D.h"
#include "quant/Parallel.h"

#include <cassert>
#include <cmath>
#include <limits>

using namespace mixq::quant;

std::string mixq::quant::validateLUT(const LUTParams &params, int64_t rows,
                                     int64_t cols) {
  if (params.bits < 1 || params.bits > 8)
    return "lut bits must be in 1..8, got " + std::to_string(params.bits);
  if (params.maxIterations < 0)
    return "lut maxIterations must be non-negative, got " +
           std::to_string(params.maxIterations);
  if (rows < 0 || cols < 0)
    return "matrix shape must be non-negative, got " + std::to_string(rows) +
           "x" + std::to_string(cols);
  if (cols > std::numeric_limits<int32_t>::max())
    return "lut: " + std::to_string(cols) + " columns exceed int32 positions";
  return "";
}

uint8_t mixq::quant::nearestCentroid(float value, const float *centroids,
                                     unsigned count) {
  // Non-decreasing centroids: the code is the number of midpoints below
  // the value. A value exactly at a midpoint stays with the lower code.
  unsigned code = 0;
  for (unsigned j = 1; j < count; ++j)
    code += value > 0.5f * (centroids[j - 1] + centroids[j]);
  return static_cast<uint8_t>(code);
}

LUTQuantized mixq::quant::quantizeLUT(const float *weights, int64_t rows,
                                      int64_t cols, const LUTParams &params,
                                      const Sensitivity *sensitivity) {
  assert(validateLUT(params, rows, cols).empty() && "invalid parameters");
  unsigned k = 1u << params.bits;
  int64_t wordsPerRow = packedWordCount(cols, params.bits);
  LUTQuantized result;
  result.codes.assign(rows * wordsPerRow, 0u);
  result.lut.assign(rows * k, 0);
  std::vector<float> columnWeights = kmeansColumnWeights(sensitivity);
  const float *h = columnWeights.empty() ? nullptr : columnWeights.data();
  parallelFor(rows, [&](int64_t begin, int64_t end) {
    SortedSamples samples;
    std::vector<float> centroids(k);
    std::vector<uint8_t> codes(cols);
    for (int64_t r = begin; r < end; ++r) {
      const float *w = weights + r * cols;
      samples.assign(w, h, cols);
      Clusters clusters =
          kmeans1D(samples, 0, cols, static_cast<int>(k), params.maxIterations);
      // Rounding is monotone, so the fp16 centroids stay non-decreasing.
      for (unsigned j = 0; j < k; ++j) {
        uint16_t half =
            floatToHalfBits(static_cast<float>(clusters.centroids[j]));
        result.lut[r * k + j] = half;
        centroids[j] = halfBitsToFloat(half);
      }
      for (int64_t c = 0; c < cols; ++c)
        codes[c] = nearestCentroid(w[c], centroids.data(), k);
      packCodes(codes.data(), cols, params.bits,
                result.codes.data() + r * wordsPerRow);
    }
  });
  return result;
}

std::vector<float> mixq::quant::dequantizeLUT(const LUTQuantized &packed,
                                              int64_t rows, int64_t cols,
                                              const LUTParams &params) {
  assert(validateLUT(params, rows, cols).empty() && "invalid parameters");
  unsigned k = 1u << params.bits;
  int64_t wordsPerRow = packedWordCount(cols, params.bits);
  assert(static_cast<int64_t>(packed.codes.size()) == rows * wordsPerRow &&
         static_cast<int64_t>(packed.lut.size()) == rows * k &&
         "buffers do not match the shape");
  std::vector<float> result(rows * cols);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      uint32_t code =
          extractCode(packed.codes.data() + r * wordsPerRow, c, params.bits);
      result[r * cols + c] = halfBitsToFloat(packed.lut[r * k + code]);
    }
  return result;
}

double mixq::quant::bitsPerWeight(const LUTQuantized &packed, int64_t rows,
                                  int64_t cols) {
  size_t bytes = packed.codes.size() * sizeof(uint32_t) +
                 packed.lut.size() * sizeof(uint16_t);
  return 8.0 * static_cast<double>(bytes) / static_cast<double>(rows * cols);
}
