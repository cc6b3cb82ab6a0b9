//===- AffineQuantizer.cpp - round-to-nearest affine quantizer ------------===//
//
// Implements the formulas of AffineQuantizer.h group by group. Codes are
// computed with the scale already rounded to the storage format, so that
// dequantizing the stored scalars reproduces exactly what was quantized.
//===----------------------------------------------------------------------===//
#include "quant/AffineQuantizer.h"
#include "quant/BitPacking.h"
#include "quant/Parallel.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>
#include <utility>

using namespace mixq::quant;

static bool isSupportedAffineWidth(unsigned bits) {
  return bits == 2 || bits == 3 || bits == 4 || bits == 8;
}

static bool isKnownFormat(ScalarFormat format) {
  return format == ScalarFormat::F16 || format == ScalarFormat::BF16 ||
         format == ScalarFormat::F32;
}

std::string mixq::quant::validateAffine(const AffineParams &params,
                                        int64_t rows, int64_t cols) {
  if (!isSupportedAffineWidth(params.bits))
    return "bits must be 2, 3, 4 or 8, got " + std::to_string(params.bits);
  if (rows < 0)
    return "rows must be non-negative, got " + std::to_string(rows);
  if (cols < 0)
    return "columns must be non-negative, got " + std::to_string(cols);
  if (params.groupSize <= 0)
    return "group size must be positive, got " +
           std::to_string(params.groupSize);
  if (cols % params.groupSize != 0)
    return "group size " + std::to_string(params.groupSize) +
           " does not divide the number of columns " + std::to_string(cols);
  if (!isKnownFormat(params.scaleFormat))
    return "scale format " +
           std::to_string(static_cast<int>(params.scaleFormat)) +
           " is not f16, bf16 or f32";
  if (params.clipGridSize < 1 || params.clipGridSize > 1000)
    return "clip grid size must be in 1..1000, got " +
           std::to_string(params.clipGridSize);
  if (!(params.clipMin > 0.0f && params.clipMin <= 1.0f))
    return "clip minimum ratio must be in (0, 1], got " +
           std::to_string(params.clipMin);
  return "";
}

std::vector<float> mixq::quant::clipRatios(unsigned gridSize, float minRatio) {
  if (gridSize <= 1)
    return {1.0f};
  std::vector<float> ratios(gridSize);
  for (unsigned i = 0; i < gridSize; ++i)
    ratios[i] = 1.0f - static_cast<float>(i) * (1.0f - minRatio) /
                           static_cast<float>(gridSize - 1);
  return ratios;
}

float mixq::quant::symmetricScale(float amax, unsigned bits) {
  if (amax == 0.0f)
    return 1.0f;
  float mid = static_cast<float>(1u << (bits - 1));
  return amax / (mid - 1.0f);
}

/// Smallest positive and largest finite value of `format`.
static std::pair<float, float> positiveRange(ScalarFormat format) {
  switch (format) {
  case ScalarFormat::F16:
    return {std::ldexp(1.0f, -24), 65504.0f};
  case ScalarFormat::BF16:
    return {std::ldexp(1.0f, -133), bfloat16BitsToFloat(0x7F7F)};
  case ScalarFormat::F32:
    break;
  }
  return {std::numeric_limits<float>::denorm_min(),
          std::numeric_limits<float>::max()};
}

/// Rounds a positive scale to `format`. The header's formulas divide by the
/// scale, so a scale that underflows to 0 or overflows to infinity in the
/// storage format is saturated to the nearest positive finite value instead.
static float storedScale(float scale, ScalarFormat format) {
  auto [smallest, largest] = positiveRange(format);
  return std::clamp(roundToFormat(scale, format), smallest, largest);
}

/// Clamps in float, so that huge quotients never reach an integer
/// conversion. `lo` comes first in std::max so that -0 (from round(-0 /
/// scale)) clamps to +0 and is stored as a positive zero, and so that a NaN
/// (from non-finite weights) clamps to `lo` instead of being converted.
static float clampCode(float value, float lo, float hi) {
  return std::min(hi, std::max(lo, value));
}

namespace {
/// Scale and zero point of one group (zero is unused when symmetric).
struct GroupParams {
  float scale;
  float zero;
};
} // namespace

/// Parameters for the (possibly clipped) range [lo, hi].
static GroupParams asymmetricParams(float lo, float hi, unsigned bits,
                                    ScalarFormat format) {
  // A non-constant range is widened to contain 0 (as in GPTQ's RTN), so
  // that the zero point round(-lo / scale) lies in [0, maxq]: for a group of
  // one sign, e.g. [0.50, 0.51], it would otherwise clamp to 0 and every
  // code would saturate.
  if (lo != hi) {
    lo = std::min(lo, 0.0f);
    hi = std::max(hi, 0.0f);
  }
  float maxq = static_cast<float>((1u << bits) - 1u);
  // A constant group would get scale 0; scale |value| maps it to code 1 (or
  // 0 when negative, with zero 1) and reconstructs it exactly.
  float scale =
      lo == hi ? (lo == 0.0f ? 1.0f : std::fabs(lo)) : (hi - lo) / maxq;
  scale = storedScale(scale, format);
  return {scale, clampCode(std::round(-lo / scale), 0.0f, maxq)};
}

static GroupParams symmetricParams(float amax, unsigned bits,
                                   ScalarFormat format) {
  return {storedScale(symmetricScale(amax, bits), format), 0.0f};
}

/// The header's q. The zero is added after rounding: round() is not
/// translation invariant at negative ties (round(-0.5) + 2 = 1, but
/// round(-0.5 + 2) = 2).
static uint8_t quantizeValue(float w, GroupParams p, unsigned bits,
                             bool symmetric) {
  float q = std::round(w / p.scale);
  if (symmetric) {
    float mid = static_cast<float>(1u << (bits - 1));
    return static_cast<uint8_t>(clampCode(q, -mid, mid - 1.0f) + mid);
  }
  float maxq = static_cast<float>((1u << bits) - 1u);
  return static_cast<uint8_t>(clampCode(q + p.zero, 0.0f, maxq));
}

/// Reconstruction of code q, as dequantizeAffine computes it.
static float dequantValue(uint8_t q, GroupParams p, unsigned bits,
                          bool symmetric) {
  float zero = symmetric ? static_cast<float>(1u << (bits - 1)) : p.zero;
  return (static_cast<float>(q) - zero) * p.scale;
}

static GroupParams clippedParams(float lo, float hi, float ratio,
                                 const AffineParams &params) {
  if (params.symmetric)
    return symmetricParams(std::max(std::fabs(lo), std::fabs(hi)) * ratio,
                           params.bits, params.scaleFormat);
  return asymmetricParams(lo * ratio, hi * ratio, params.bits,
                          params.scaleFormat);
}

/// Weighted squared reconstruction error of a group under `p`; `h` may be
/// null (all weights 1).
static double groupError(const float *w, const float *h, int64_t n,
                         GroupParams p, const AffineParams &params) {
  double error = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    uint8_t q = quantizeValue(w[i], p, params.bits, params.symmetric);
    double d = w[i] - dequantValue(q, p, params.bits, params.symmetric);
    error += (h ? h[i] : 1.0) * d * d;
  }
  return error;
}

/// The group's parameters: plain RTN, or the best clip ratio of `ratios`.
static GroupParams fitGroup(const float *w, const float *h, int64_t n,
                            const std::vector<float> &ratios,
                            const AffineParams &params) {
  auto [loIt, hiIt] = std::minmax_element(w, w + n);
  GroupParams best = clippedParams(*loIt, *hiIt, ratios[0], params);
  if (ratios.size() == 1)
    return best;
  double bestError = groupError(w, h, n, best, params);
  for (size_t i = 1; i < ratios.size(); ++i) {
    GroupParams p = clippedParams(*loIt, *hiIt, ratios[i], params);
    double error = groupError(w, h, n, p, params);
    if (error < bestError) {
      best = p;
      bestError = error;
    }
  }
  return best;
}

AffineQuantized mixq::quant::quantizeAffine(const float *weights, int64_t rows,
                                            int64_t cols,
                                            const AffineParams &params,
                                            const Sensitivity *sensitivity) {
  assert(validateAffine(params, rows, cols).empty() && "invalid parameters");
  assert((!sensitivity || validateSensitivity(*sensitivity, cols).empty()) &&
         "invalid sensitivity");
  int64_t groupSize = params.groupSize;
  int64_t groupsPerRow = cols / groupSize;
  unsigned bytes = scalarFormatBytes(params.scaleFormat);
  AffineQuantized result;
  result.scales.resize(rows * groupsPerRow * bytes);
  if (!params.symmetric)
    result.zeros.resize(rows * groupsPerRow * bytes);
  std::vector<uint8_t> codes(rows * cols);
  std::vector<float> ratios = clipRatios(params.clipGridSize, params.clipMin);
  const float *h = sensitivity ? sensitivity->meanSquare.data() : nullptr;
  // Group g (counted over all rows) covers the row-major elements
  // [g * groupSize, (g + 1) * groupSize) and input columns
  // [(g % groupsPerRow) * groupSize, ...).
  parallelFor(rows, [&](int64_t rowBegin, int64_t rowEnd) {
    for (int64_t g = rowBegin * groupsPerRow; g < rowEnd * groupsPerRow; ++g) {
      const float *w = weights + g * groupSize;
      const float *hg = h ? h + (g % groupsPerRow) * groupSize : nullptr;
      GroupParams p = fitGroup(w, hg, groupSize, ratios, params);
      storeScalar(p.scale, params.scaleFormat, &result.scales[g * bytes]);
      if (!params.symmetric)
        storeScalar(p.zero, params.scaleFormat, &result.zeros[g * bytes]);
      for (int64_t i = 0; i < groupSize; ++i)
        codes[g * groupSize + i] =
            quantizeValue(w[i], p, params.bits, params.symmetric);
    }
  });
  result.codes = packMatrix(codes.data(), rows, cols, params.bits);
  return result;
}

[[maybe_unused]] static bool hasExpectedSizes(const AffineQuantized &packed,
                                              int64_t rows, int64_t cols,
                                              const AffineParams &params) {
  PackedMatrixLayout layout{rows, cols, params.bits};
  size_t scaleBytes = static_cast<size_t>(rows * (cols / params.groupSize)) *
                      scalarFormatBytes(params.scaleFormat);
  size_t zeroBytes = params.symmetric ? 0 : scaleBytes;
  return static_cast<int64_t>(packed.codes.size()) == layout.totalWords() &&
         packed.scales.size() == scaleBytes && packed.zeros.size() == zeroBytes;
}

std::vector<float> mixq::quant::dequantizeAffine(const AffineQuantized &packed,
                                                 int64_t rows, int64_t cols,
                                                 const AffineParams &params) {
  assert(validateAffine(params, rows, cols).empty() && "invalid parameters");
  int64_t groupSize = params.groupSize;
  unsigned bytes = scalarFormatBytes(params.scaleFormat);
  assert(hasExpectedSizes(packed, rows, cols, params) &&
         "packed buffers do not match the shape");
  std::vector<uint8_t> codes =
      unpackMatrix(packed.codes.data(), rows, cols, params.bits);
  float mid = static_cast<float>(1u << (params.bits - 1));
  std::vector<float> result(rows * cols);
  for (int64_t i = 0, e = rows * cols; i < e; ++i) {
    int64_t g = i / groupSize;
    float scale = loadScalar(&packed.scales[g * bytes], params.scaleFormat);
    float zero = params.symmetric
                     ? mid
                     : loadScalar(&packed.zeros[g * bytes], params.scaleFormat);
    // Same f32 arithmetic as the generated dequantization code.
    result[i] = (static_cast<float>(codes[i]) - zero) * scale;
  }
  return result;
}

double mixq::quant::bitsPerWeight(const AffineQuantized &packed, int64_t rows,
                                  int64_t cols) {
  size_t bytes = packed.codes.size() * sizeof(uint32_t) + packed.scales.size() +
                 packed.zeros.size();
  return 8.0 * static_cast<double>(bytes) / static_cast<double>(rows * cols);
}
