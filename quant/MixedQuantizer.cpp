//===- MixedQuantizer.cpp - 2/4/16-bit mixed precision in a weight --------===//
#include "quant/MixedQuantizer.h"
#include "quant/AffineQuantizer.h"
#include "quant/BitPacking.h"
#include "quant/FloatFormats.h"
#include "quant/Parallel.h"
#include "quant/Vectorize.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <tuple>

using namespace mixq::quant;

namespace {
/// Sizes derived from the shape and the parameters.
struct Shape {
  int64_t rows, cols, group, groupsPerRow, blocksPerRow;
  unsigned lo, hi;
  int64_t lowWordsPerRow, highWordsPerGroup, mapWordsPerRow, zeroWordsPerRow;

  Shape(const MixedParams &p, int64_t rows, int64_t cols)
      : rows(rows), cols(cols), group(p.groupSize),
        groupsPerRow(cols / p.groupSize),
        blocksPerRow((cols / p.groupSize + p.blockGroups - 1) / p.blockGroups),
        lo(p.lowBits), hi(p.highBits),
        lowWordsPerRow(packedWordCount(cols, p.lowBits)),
        highWordsPerGroup(p.groupSize * (p.highBits - p.lowBits) / 32),
        mapWordsPerRow(packedWordCount(cols / p.groupSize, 1)),
        zeroWordsPerRow(
            packedWordCount(cols / p.groupSize, kMixedZeroCodeBits)) {}
};
} // namespace

std::string mixq::quant::validateMixed(const MixedParams &params, int64_t rows,
                                       int64_t cols) {
  if (rows < 0 || cols < 0)
    return "matrix shape must be non-negative, got " + std::to_string(rows) +
           "x" + std::to_string(cols);
  if (params.lowBits < 1 || params.lowBits > 7)
    return "mixed low bits must be in 1..7, got " +
           std::to_string(params.lowBits);
  if (params.highBits <= params.lowBits || params.highBits > 8)
    return "mixed high bits must be in " + std::to_string(params.lowBits + 1) +
           "..8, got " + std::to_string(params.highBits);
  if (params.groupSize <= 0 || cols % params.groupSize != 0)
    return "mixed group size " + std::to_string(params.groupSize) +
           " must be positive and divide the number of columns " +
           std::to_string(cols);
  if (params.groupSize * params.lowBits % 32 != 0 ||
      params.groupSize * (params.highBits - params.lowBits) % 32 != 0)
    return "mixed group size " + std::to_string(params.groupSize) +
           " must make group size * low bits and group size * (high - low) "
           "bits multiples of 32, so that groups are word-aligned";
  if (!(params.highFraction >= 0.0 && params.highFraction <= 1.0))
    return "mixed high fraction must be in [0, 1], got " +
           std::to_string(params.highFraction);
  if (!(params.targetBitsPerWeight >= 0.0 &&
        std::isfinite(params.targetBitsPerWeight)))
    return "mixed target bits per weight must be finite and >= 0, got " +
           std::to_string(params.targetBitsPerWeight);
  if (!(params.outlierFraction >= 0.0 && params.outlierFraction < 1.0))
    return "mixed outlier fraction must be in [0, 1), got " +
           std::to_string(params.outlierFraction);
  if (params.blockGroups < 1)
    return "mixed block groups must be >= 1, got " +
           std::to_string(params.blockGroups);
  if (params.clipGridSize < 1 || params.clipGridSize > 1000)
    return "mixed clip grid size must be in 1..1000, got " +
           std::to_string(params.clipGridSize);
  if (!(params.clipMin > 0.0f && params.clipMin <= 1.0f))
    return "mixed clip minimum ratio must be in (0, 1], got " +
           std::to_string(params.clipMin);
  if (rows * cols > std::numeric_limits<int32_t>::max())
    return "mixed: " + std::to_string(rows * cols) +
           " weights exceed the int32 outlier row pointers";
  return "";
}

int64_t mixq::quant::mixedStorageBytes(const MixedParams &params, int64_t rows,
                                       int64_t cols, int64_t highGroups,
                                       int64_t outliers) {
  Shape s(params, rows, cols);
  int64_t bytes = 4 * rows * s.lowWordsPerRow +
                  4 * (highGroups + 1) * s.highWordsPerGroup +
                  2 * 4 * rows * s.mapWordsPerRow + rows * s.groupsPerRow +
                  4 * rows * s.zeroWordsPerRow + 2 * 2 * rows * s.blocksPerRow;
  bytes += 4 * (rows + 1) + outliers * (sparseColIndexBytes(cols) + 2);
  return bytes;
}

int64_t mixq::quant::mixedHighGroupCount(const MixedParams &params,
                                         int64_t rows, int64_t cols) {
  if (rows * cols == 0)
    return 0;
  Shape s(params, rows, cols);
  int64_t groups = rows * s.groupsPerRow;
  int64_t count = std::llround(params.highFraction * double(groups));
  if (params.targetBitsPerWeight > 0.0) {
    // Budget with every outlier present; a smaller outlier count (too few
    // low-group weights) only lowers the total.
    int64_t outliers =
        std::llround(params.outlierFraction * double(rows * cols));
    double budget = params.targetBitsPerWeight * double(rows * cols) / 8.0;
    double spare =
        budget - double(mixedStorageBytes(params, rows, cols, 0, outliers));
    double perGroup = 4.0 * double(s.highWordsPerGroup);
    if (spare > 0.0)
      count = std::max(count, static_cast<int64_t>(spare / perGroup));
  }
  return std::clamp<int64_t>(count, 0, groups);
}

//===----------------------------------------------------------------------===//
// Quantization
//===----------------------------------------------------------------------===//

/// q = clamp(floor(w / s + z + 1/2), 0, maxq), written so that it
/// vectorizes: after clamping t >= 0, truncation is floor.
static inline float codeOf(float w, float invScale, float zero, float maxq) {
  float t = w * invScale + zero + 0.5f;
  t = t > 0.0f ? t : 0.0f;
  t = t < maxq + 0.5f ? t : maxq + 0.5f;
  return static_cast<float>(static_cast<int32_t>(t));
}

static inline float decodeValue(float code, float zero, float scale) {
  return (code - zero) * scale;
}

/// The top of a group's codes on the widened hi-bit grid: maxq 2^(hi -
/// bits), 15 for a 4-bit group, 12 for a 2-bit one widened to 4 bits.
static unsigned widenedMaxCode(bool high, unsigned lo, unsigned hi) {
  unsigned bits = high ? hi : lo;
  return ((1u << bits) - 1u) << (hi - bits);
}

float mixq::quant::mixedZeroUnit(bool high, unsigned lo, unsigned hi) {
  return std::max(
      1.0f,
      std::round(static_cast<float>(widenedMaxCode(high, lo, hi)) / 15.0f));
}

MixedGroupParams mixq::quant::mixedGroupParams(float scaleMin, float scaleStep,
                                               uint32_t scaleCode,
                                               uint32_t zeroCode, bool high,
                                               unsigned lo, unsigned hi) {
  MixedGroupParams params;
  params.shift = hi - (high ? hi : lo);
  params.scale = halfBitsToFloat(floatToHalfBits(
      std::fma(static_cast<float>(scaleCode), scaleStep, scaleMin)));
  params.zero = static_cast<float>(zeroCode) * mixedZeroUnit(high, lo, hi);
  return params;
}

namespace {
/// First-order fit of one group (step 4).
struct GroupFit {
  float range = 0.0f; ///< c (hi - lo)
  float lo = 0.0f;    ///< c lo
  double error = 0.0; ///< sum hw (w - w')^2 at that clip ratio
};

/// Everything quantizeMixed shares between rows.
struct MixedContext {
  const float *weights;
  const float *h; ///< E[x^2] per column or null
  const MixedParams &params;
  Shape shape;
  std::vector<float> ratios;
  /// Step 1: the outlier keys kept for step 3, those of row r at
  /// [keyRowStart[r], keyRowStart[r + 1]). Keys in `candidateBucket` or
  /// above are the candidate outliers.
  std::vector<KeyEntry> keys;
  std::vector<int64_t> keyRowStart;
  uint32_t candidateBucket = kNonCandidateBucket;
  /// The bucket down to which `keys` holds every key.
  uint32_t keptBucket = kNonCandidateBucket;
  /// Step 1: each group's lo-bit fit without its candidate outliers.
  std::vector<GroupFit> lowFits;
  OutlierPattern high;     ///< high groups (cols = group indices)
  OutlierPattern outliers; ///< outlier weights
  MixedQuantized &result;

  MixedContext(const float *weights, const float *h, const MixedParams &params,
               const Shape &shape, std::vector<float> ratios,
               MixedQuantized &result)
      : weights(weights), h(h), params(params), shape(shape),
        ratios(std::move(ratios)), result(result) {}
};
} // namespace

/// Partial sums of the error loops: 16 lanes fill one AVX-512 register, two
/// AVX2 or four SSE ones, and every version adds in the same order, so the
/// result does not depend on the CPU.
constexpr int64_t kErrorLanes = 16;

/// sum hw (w - w')^2 of the `n` weights of a group coded with `scale`
/// (> 0) and `zero`; `Weighted` false means hw = 1, without its loads and
/// multiplies (the same sums: 1 * d is d).
template <bool Weighted>
static MIXQ_ALWAYS_INLINE double codeErrorOf(const float *w, const float *hw,
                                             int64_t n, float scale, float zero,
                                             float maxq) {
  float inv = 1.0f / scale;
  float partial[kErrorLanes] = {};
  int64_t i = 0;
  for (; i + kErrorLanes <= n; i += kErrorLanes)
    for (int64_t j = 0; j < kErrorLanes; ++j) {
      float x = w[i + j];
      float d = x - decodeValue(codeOf(x, inv, zero, maxq), zero, scale);
      partial[j] += Weighted ? hw[i + j] * d * d : d * d;
    }
  for (; i < n; ++i) {
    float d = w[i] - decodeValue(codeOf(w[i], inv, zero, maxq), zero, scale);
    partial[0] += Weighted ? hw[i] * d * d : d * d;
  }
  // A fixed tree of halvings: vector adds at any width, in the same order on
  // every CPU (a serial sum of the lanes cost more than the loop above).
  for (int64_t width = kErrorLanes / 2; width > 0; width /= 2)
    for (int64_t j = 0; j < width; ++j)
      partial[j] += partial[j + width];
  return partial[0];
}

/// codeErrorOf with the weights `hw`, or all 1 when `hw` is null.
static MIXQ_ALWAYS_INLINE double codeError(const float *w, const float *hw,
                                           int64_t n, float scale, float zero,
                                           float maxq) {
  return hw ? codeErrorOf<true>(w, hw, n, scale, zero, maxq)
            : codeErrorOf<false>(w, hw, n, scale, zero, maxq);
}

/// `hw` or, when all its `n` weights are 1 (no outlier, no statistics),
/// null: codeError then skips them.
static MIXQ_ALWAYS_INLINE const float *errorWeightsOrNull(const float *hw,
                                                          int64_t n) {
  bool ones = true;
  for (int64_t i = 0; i < n; ++i)
    ones &= hw[i] == 1.0f;
  return ones ? nullptr : hw;
}

/// The error of clip range [lo, hi] at first order (continuous zero point).
static MIXQ_ALWAYS_INLINE double fitError(const float *w, const float *hw,
                                          int64_t n, float lo, float hi,
                                          float maxq) {
  float scale = (hi - lo) / maxq;
  if (!(scale > 0.0f))
    return 0.0;
  return codeError(w, hw, n, scale, -lo / scale, maxq);
}

/// Lanes of the range loops: as for the error sums, per-lane minima and
/// maxima vectorize where one running min/max does not.
constexpr int64_t kRangeLanes = 16;

/// [min(w, 0), max(w, 0)] over the weights with hw != 0 (all of them when
/// `hw` is null).
static MIXQ_ALWAYS_INLINE void groupRange(const float *w, const float *hw,
                                          int64_t n, float &lo, float &hi) {
  float los[kRangeLanes] = {}, his[kRangeLanes] = {};
  int64_t i = 0;
  for (; i + kRangeLanes <= n; i += kRangeLanes)
    for (int64_t j = 0; j < kRangeLanes; ++j) {
      // An outlier counts as 0, which is in the range anyway.
      float x = !hw || hw[i + j] != 0.0f ? w[i + j] : 0.0f;
      los[j] = x < los[j] ? x : los[j];
      his[j] = x > his[j] ? x : his[j];
    }
  for (; i < n; ++i) {
    float x = !hw || hw[i] != 0.0f ? w[i] : 0.0f;
    los[0] = std::min(los[0], x);
    his[0] = std::max(his[0], x);
  }
  lo = *std::min_element(los, los + kRangeLanes);
  hi = *std::max_element(his, his + kRangeLanes);
}

/// Step 4 for one group. `hw` holds the weight of each value in the error:
/// h (or 1), 0 for outliers, which neither set the range nor count.
static MIXQ_ALWAYS_INLINE GroupFit fitGroupInline(const float *w,
                                                  const float *hw, int64_t n,
                                                  unsigned bits,
                                                  const float *ratios,
                                                  size_t numRatios) {
  hw = errorWeightsOrNull(hw, n);
  float lo, hi;
  groupRange(w, hw, n, lo, hi);
  float maxq = static_cast<float>((1u << bits) - 1u);
  auto errorAt = [&](size_t i) {
    return fitError(w, hw, n, ratios[i] * lo, ratios[i] * hi, maxq);
  };
  // Coarse to fine: every other ratio of the grid, walking down until the
  // error rises (it is close to unimodal in the ratio), then the two ratios
  // beside the best. On the synthetic llama2-7b this evaluates about half
  // the grid, and the mean relative error is within 1e-4 of the exhaustive
  // search's.
  size_t best = 0;
  double bestError = errorAt(0), previous = bestError;
  for (size_t i = 2; i < numRatios; i += 2) {
    double error = errorAt(i);
    if (error < bestError) {
      bestError = error;
      best = i;
    }
    if (error > previous)
      break;
    previous = error;
  }
  size_t coarse = best;
  for (size_t i : {coarse - 1, coarse + 1}) {
    if (coarse == 0 && i == coarse - 1)
      continue;
    if (i >= numRatios)
      continue;
    double error = errorAt(i);
    if (error < bestError) {
      bestError = error;
      best = i;
    }
  }
  return {ratios[best] * (hi - lo), ratios[best] * lo, bestError};
}

MIXQ_VECTOR_CLONES
static GroupFit fitGroup(const float *w, const float *hw, int64_t n,
                         unsigned bits, const float *ratios, size_t numRatios) {
  return fitGroupInline(w, hw, n, bits, ratios, numRatios);
}

/// How far from the rounded zero code the search goes (step 5): once the
/// scale is quantized too, the rounded code is often not the best.
constexpr int kZeroSearchRadius = 2;

/// How far from the rounded scale code the search goes (step 5), each side
/// while the error falls. On the synthetic llama2-7b's first block
/// (`mixq-compile --scheme=mixed --report`, 2 cores): mean relative error
/// 0.18465 / 0.18410 / 0.18374 / 0.18334 at radius 0 / 2 / 4 / 8, in
/// 1.97 / 2.65 / 2.97 / 3.35 s.
constexpr int kScaleSearchRadius = 4;

/// The zero code (4 bits) near `start` with the least error, and that
/// error, the code's zero point being code * zeroUnit in units of `scale`
/// (a level of the group): each side is searched outwards while the error
/// keeps falling (ties keep the code nearer `start`, then the lower one).
MIXQ_VECTOR_CLONES
static std::pair<uint32_t, double> searchZeroCode(const float *w,
                                                  const float *hw, int64_t n,
                                                  float scale, float maxq,
                                                  float zeroUnit, int start) {
  hw = errorWeightsOrNull(hw, n);
  auto errorAt = [&](int code) {
    return codeError(w, hw, n, scale, static_cast<float>(code) * zeroUnit,
                     maxq);
  };
  int best = start;
  double startError = errorAt(start);
  double bestError = startError;
  for (int direction : {-1, 1}) {
    double previous = startError;
    for (int distance = 1; distance <= kZeroSearchRadius; ++distance) {
      int code = start + direction * distance;
      if (code < 0 || code > 15)
        break;
      double error = errorAt(code);
      if (error < bestError) {
        bestError = error;
        best = code;
      }
      if (!(error < previous))
        break;
      previous = error;
    }
  }
  return {static_cast<uint32_t>(best), bestError};
}

/// Codes the `n` weights of a group on the grid of `params` (step 6):
/// q = clamp(floor(w / (scale 2^shift) + zero / 2^shift + 1/2), 0, maxq),
/// recon = ((q << shift) - zero) * scale. A high group's code is split into
/// its low code (the top bits) and `extraBits` extra bits.
MIXQ_VECTOR_CLONES
static void codeValues(const float *w, int64_t n,
                       const MixedGroupParams &params, float maxq,
                       unsigned extraBits, float *recon, uint8_t *lowCodes,
                       uint8_t *extraCodes) {
  int shift = static_cast<int>(params.shift);
  float step = std::ldexp(params.scale, shift);
  float inv = step > 0.0f ? 1.0f / step : 0.0f;
  float zero = std::ldexp(params.zero, -shift);
  uint32_t extraMask = (1u << extraBits) - 1u;
  float unit = static_cast<float>(1u << params.shift);
  for (int64_t i = 0; i < n; ++i) {
    float q = step > 0.0f ? codeOf(w[i], inv, zero, maxq) : 0.0f;
    recon[i] = (q * unit - params.zero) * params.scale;
    auto code = static_cast<uint32_t>(static_cast<int32_t>(q));
    lowCodes[i] = static_cast<uint8_t>(code >> extraBits);
    extraCodes[i] = static_cast<uint8_t>(code & extraMask);
  }
}

/// The weights of the error for one row: h (or 1), 0 at the `count`
/// outlier columns `outliers`. A column that calibration never saw (h = 0)
/// gets the smallest normal float instead, so that it still sets the range.
static void errorWeights(const float *h, int64_t cols, const int32_t *outliers,
                         int32_t count, float *hw) {
  if (h)
    for (int64_t c = 0; c < cols; ++c)
      hw[c] = h[c] != 0.0f ? h[c] : std::numeric_limits<float>::min();
  else
    std::fill_n(hw, cols, 1.0f);
  for (int32_t i = 0; i < count; ++i)
    hw[outliers[i]] = 0.0f;
}

/// The outlier keys of row r: |w| sqrt(h), |w| without statistics.
static void outlierKeys(const float *weights, const float *h, int64_t cols,
                        int64_t r, float *keys) {
  const float *w = weights + r * cols;
  if (h)
    for (int64_t c = 0; c < cols; ++c)
      keys[c] = std::fabs(w[c]) * std::sqrt(h[c]);
  else
    for (int64_t c = 0; c < cols; ++c)
      keys[c] = std::fabs(w[c]);
}

/// Step 1 for the groups of one row: their lo-bit fits without the
/// candidate outliers (hw 0) and their scores. A high group keeps all its
/// weights; its error is estimated as the uniform rounding noise step^2 / 12
/// of its full range, times `groupWeights[g]` = sum h.
MIXQ_VECTOR_CLONES
static void scoreRow(const float *w, const float *hw, const Shape &s,
                     const std::vector<float> &ratios,
                     const double *groupWeights, GroupFit *fits,
                     float *scores) {
  float maxqHigh = static_cast<float>((1u << s.hi) - 1u);
  for (int64_t g = 0; g < s.groupsPerRow; ++g) {
    const float *wg = w + g * s.group;
    fits[g] = fitGroupInline(wg, hw + g * s.group, s.group, s.lo, ratios.data(),
                             ratios.size());
    float lo, hi;
    groupRange(wg, nullptr, s.group, lo, hi);
    double step = double(hi - lo) / maxqHigh;
    double saved = fits[g].error - groupWeights[g] * step * step / 12.0;
    // NaN stays NaN (never selected, reported as a size mismatch).
    scores[g] = static_cast<float>(saved < 0.0 ? 0.0 : saved);
  }
}

/// Step 1 estimates its key buckets from every 8th row.
constexpr int64_t kSampleStride = 8;

/// How many times the outlier count step 1 keeps of the largest keys, so
/// that step 3 can choose among them: it needs `count` in the low groups,
/// and the high groups hold many of the largest weights.
constexpr int64_t kKeptKeysPerOutlier = 4;

/// Steps 1-2 in two passes over the weights: a histogram of the outlier
/// keys, then per row the kept keys, the lo-bit fits without the candidate
/// outliers and the groups' scores; then the high groups.
static void chooseHighGroups(MixedContext &ctx, int64_t highCount,
                             int64_t outlierCount) {
  const Shape &s = ctx.shape;
  int64_t weights = s.rows * s.cols;
  if (outlierCount > 0) {
    // The buckets come from every kSampleStride-th row: a pass over all the
    // weights costs as much as the fits. Step 3 checks that enough keys were
    // kept (and takes its own passes when not), so only the candidates of
    // step 1 depend on the estimate.
    int64_t stride = s.rows >= 8 * kSampleStride ? kSampleStride : 1;
    int64_t sampled = (s.rows + stride - 1) / stride;
    KeyHistogram hist =
        keyHistogram(sampled, s.cols, [&](int64_t i, float *keys) {
          outlierKeys(ctx.weights, ctx.h, s.cols, i * stride, keys);
        });
    auto inSample = [&](int64_t count) {
      return (count * sampled + s.rows - 1) / s.rows;
    };
    ctx.candidateBucket = keyBucketThreshold(hist, inSample(outlierCount));
    // With a large outlier fraction keeping 4x would approach keeping every
    // weight: keep only the candidates, and step 3 takes its own two passes.
    int64_t kept = kKeptKeysPerOutlier * outlierCount;
    ctx.keptBucket = kept <= weights / 4
                         ? keyBucketThreshold(hist, inSample(kept))
                         : ctx.candidateBucket;
  }
  ctx.lowFits.resize(s.rows * s.groupsPerRow);
  std::vector<float> scores(s.rows * s.groupsPerRow);
  // The weight of a hi-bit group's error, sum h over its columns.
  std::vector<double> groupWeights(s.groupsPerRow, double(s.group));
  if (ctx.h)
    for (int64_t g = 0; g < s.groupsPerRow; ++g) {
      groupWeights[g] = 0.0;
      for (int64_t i = 0; i < s.group; ++i)
        groupWeights[g] +=
            std::max(ctx.h[g * s.group + i], std::numeric_limits<float>::min());
    }
  gatherKeysInRowOrder(
      s.rows, /*minRows=*/1,
      [&](int64_t begin, int64_t end, std::vector<KeyEntry> &out,
          std::vector<int64_t> &rowEnd) {
        std::vector<float> keys(s.cols), hw(s.cols);
        for (int64_t r = begin; r < end; ++r) {
          size_t first = out.size();
          outlierKeys(ctx.weights, ctx.h, s.cols, r, keys.data());
          gatherKeys(keys.data(), s.cols, ctx.keptBucket, out);
          rowEnd[r + 1] = static_cast<int64_t>(out.size());
          errorWeights(ctx.h, s.cols, nullptr, 0, hw.data());
          for (size_t i = first; i < out.size(); ++i)
            if (out[i].bits >> 16 >= ctx.candidateBucket)
              hw[out[i].col] = 0.0f;
          scoreRow(ctx.weights + r * s.cols, hw.data(), s, ctx.ratios,
                   groupWeights.data(), ctx.lowFits.data() + r * s.groupsPerRow,
                   scores.data() + r * s.groupsPerRow);
        }
      },
      ctx.keys, ctx.keyRowStart);
  ctx.high = selectLargest(scores.data(), s.rows, s.groupsPerRow, highCount);
}

/// Step 3: the `count` largest outlier keys among the low groups' weights,
/// from the keys step 1 kept when they hold enough of them.
static OutlierPattern chooseOutliers(const MixedContext &ctx, int64_t count) {
  const Shape &s = ctx.shape;
  std::vector<KeyEntry> low;
  std::vector<int64_t> lowRowStart(s.rows + 1, 0);
  std::vector<char> isHigh(s.groupsPerRow, 0);
  for (int64_t r = 0; r < s.rows; ++r) {
    for (int32_t i = ctx.high.rowPtr[r]; i < ctx.high.rowPtr[r + 1]; ++i)
      isHigh[ctx.high.cols[i]] = 1;
    for (int64_t i = ctx.keyRowStart[r]; i < ctx.keyRowStart[r + 1]; ++i)
      if (!isHigh[ctx.keys[i].col / s.group])
        low.push_back(ctx.keys[i]);
    lowRowStart[r + 1] = static_cast<int64_t>(low.size());
    for (int32_t i = ctx.high.rowPtr[r]; i < ctx.high.rowPtr[r + 1]; ++i)
      isHigh[ctx.high.cols[i]] = 0;
  }
  // Exact when the kept low keys are at least `count` (every key down to
  // the kept bucket is there) or all of them (bucket 0).
  if (static_cast<int64_t>(low.size()) >= count || ctx.keptBucket == 0)
    return selectFromKeys(low, lowRowStart, count);
  return selectLargest(s.rows, s.cols, count, [&](int64_t r, float *keys) {
    outlierKeys(ctx.weights, ctx.h, s.cols, r, keys);
    for (int32_t i = ctx.high.rowPtr[r]; i < ctx.high.rowPtr[r + 1]; ++i)
      std::fill_n(keys + ctx.high.cols[i] * s.group, s.group, -1.0f);
  });
}

namespace {
/// The per-row state of quantizeMixed.
class RowQuantizer {
public:
  explicit RowQuantizer(MixedContext &context)
      : ctx(context), s(ctx.shape), isCandidate(s.cols), hw(s.cols),
        lowCodes(s.cols), extraCodes(s.group), zeroCodes(s.groupsPerRow),
        recon(s.cols), scales(s.groupsPerRow), fits(s.groupsPerRow),
        high(s.groupsPerRow), refit(s.groupsPerRow) {}

  void run(int64_t row);

private:
  void markRow(int64_t row);
  void secondOrder(int64_t row, int64_t block);
  /// A group's second-order codes and the error sum of its weights coded
  /// with them (outliers excluded).
  struct GroupCodes {
    uint32_t scale = 0, zero = 0;
    double error = 0.0;
    bool scaled = false; ///< the scale is > 0 (else every weight is 0)
  };
  /// The best zero code for scale code `scaleCode` (searchZeroCode from
  /// `start`, or from the code nearest the group's clipped minimum `lo`).
  GroupCodes fitZeroCode(int64_t row, int64_t g, float scaleMin,
                         float scaleStep, uint32_t scaleCode, float lo,
                         std::optional<uint32_t> start = std::nullopt) const;
  /// Step 5's walk over the scale codes beside the rounded one.
  GroupCodes searchGroupCodes(int64_t row, int64_t g, float scaleMin,
                              float scaleStep, uint32_t scaleCode,
                              float lo) const;
  void codeGroup(int64_t row, int64_t g, float scaleMin, float scaleStep,
                 uint32_t scaleCode, float lo);

  MixedContext &ctx;
  const Shape &s;
  std::vector<char> isCandidate;
  std::vector<float> hw;
  std::vector<uint8_t> lowCodes, extraCodes, zeroCodes;
  std::vector<float> recon, scales;
  std::vector<GroupFit> fits;
  std::vector<char> high, refit;
  int64_t nextHigh = 0;
};
} // namespace

void RowQuantizer::markRow(int64_t row) {
  const OutlierPattern &out = ctx.outliers;
  errorWeights(ctx.h, s.cols, out.cols.data() + out.rowPtr[row],
               out.rowPtr[row + 1] - out.rowPtr[row], hw.data());
  std::fill(high.begin(), high.end(), 0);
  for (int32_t i = ctx.high.rowPtr[row]; i < ctx.high.rowPtr[row + 1]; ++i)
    high[ctx.high.cols[i]] = 1;
  // A low group whose outliers are its candidates has its fit from step 1;
  // the others (a candidate went to a high group and another weight took
  // its place) are fitted again.
  std::fill(refit.begin(), refit.end(), 0);
  const KeyEntry *keys = ctx.keys.data() + ctx.keyRowStart[row];
  const KeyEntry *keysEnd = ctx.keys.data() + ctx.keyRowStart[row + 1];
  for (const KeyEntry *k = keys; k != keysEnd; ++k)
    isCandidate[k->col] = k->bits >> 16 >= ctx.candidateBucket;
  for (int32_t i = out.rowPtr[row]; i < out.rowPtr[row + 1]; ++i)
    if (!isCandidate[out.cols[i]])
      refit[out.cols[i] / s.group] = 1;
  for (const KeyEntry *k = keys; k != keysEnd; ++k) {
    if (isCandidate[k->col] && hw[k->col] != 0.0f)
      refit[k->col / s.group] = 1;
    isCandidate[k->col] = 0;
  }
}

RowQuantizer::GroupCodes
RowQuantizer::fitZeroCode(int64_t row, int64_t g, float scaleMin,
                          float scaleStep, uint32_t scaleCode, float lo,
                          std::optional<uint32_t> start) const {
  const float *w = ctx.weights + row * s.cols + g * s.group;
  MixedGroupParams params =
      mixedGroupParams(scaleMin, scaleStep, scaleCode, 0, high[g], s.lo, s.hi);
  const float *groupHw = hw.data() + g * s.group;
  GroupCodes codes{scaleCode, 0, 0.0, false};
  if (!(params.scale > 0.0f)) {
    // Every weight decodes to 0.
    for (int64_t i = 0; i < s.group; ++i)
      codes.error += double(groupHw[i]) * w[i] * w[i];
    return codes;
  }
  // In units of a level of the group's bits: the scale times 2^shift, the
  // zero over 2^shift.
  unsigned bits = high[g] ? s.hi : s.lo;
  float maxq = static_cast<float>((1u << bits) - 1u);
  float levelScale = std::ldexp(params.scale, static_cast<int>(params.shift));
  float zeroUnit = std::ldexp(mixedZeroUnit(high[g], s.lo, s.hi),
                              -static_cast<int>(params.shift));
  int first = start
                  ? static_cast<int>(*start)
                  : static_cast<int>(std::clamp(
                        std::round(-lo / levelScale / zeroUnit), 0.0f, 15.0f));
  codes.scaled = true;
  std::tie(codes.zero, codes.error) =
      searchZeroCode(w, groupHw, s.group, levelScale, maxq, zeroUnit, first);
  return codes;
}

RowQuantizer::GroupCodes RowQuantizer::searchGroupCodes(int64_t row, int64_t g,
                                                        float scaleMin,
                                                        float scaleStep,
                                                        uint32_t scaleCode,
                                                        float lo) const {
  GroupCodes center = fitZeroCode(row, g, scaleMin, scaleStep, scaleCode, lo);
  GroupCodes best = center;
  for (int direction : {-1, 1}) {
    // Each next scale code's zero search starts at the last one's zero.
    GroupCodes previous = center;
    for (int distance = 1; distance <= kScaleSearchRadius; ++distance) {
      int code = static_cast<int>(scaleCode) + direction * distance;
      if (code < 0 || code > 255)
        break;
      GroupCodes codes = fitZeroCode(
          row, g, scaleMin, scaleStep, static_cast<uint32_t>(code), lo,
          previous.scaled ? std::optional<uint32_t>(previous.zero)
                          : std::nullopt);
      if (codes.error < best.error)
        best = codes;
      if (!(codes.error < previous.error))
        break;
      previous = codes;
    }
  }
  return best;
}

void RowQuantizer::codeGroup(int64_t row, int64_t g, float scaleMin,
                             float scaleStep, uint32_t scaleCode, float lo) {
  GroupCodes codes =
      searchGroupCodes(row, g, scaleMin, scaleStep, scaleCode, lo);
  ctx.result.scaleCodes[row * s.groupsPerRow + g] =
      static_cast<uint8_t>(codes.scale);
  zeroCodes[g] = static_cast<uint8_t>(codes.zero);
  MixedGroupParams params = mixedGroupParams(scaleMin, scaleStep, codes.scale,
                                             codes.zero, high[g], s.lo, s.hi);
  unsigned bits = high[g] ? s.hi : s.lo;
  float maxq = static_cast<float>((1u << bits) - 1u);
  unsigned extraBits = high[g] ? s.hi - s.lo : 0;
  codeValues(ctx.weights + row * s.cols + g * s.group, s.group, params, maxq,
             extraBits, recon.data() + g * s.group,
             lowCodes.data() + g * s.group, extraCodes.data());
  if (high[g])
    packCodes(extraCodes.data(), s.group, extraBits,
              ctx.result.highCodes.data() +
                  (ctx.high.rowPtr[row] + nextHigh++) * s.highWordsPerGroup);
}

void RowQuantizer::secondOrder(int64_t row, int64_t block) {
  int64_t begin = block * ctx.params.blockGroups;
  int64_t end = std::min(s.groupsPerRow, begin + ctx.params.blockGroups);
  // Each group's scale on the widened grid: its range over its levels.
  for (int64_t g = begin; g < end; ++g)
    scales[g] =
        fits[g].range / static_cast<float>(widenedMaxCode(high[g], s.lo, s.hi));
  float smin = *std::min_element(scales.begin() + begin, scales.begin() + end);
  float smax = *std::max_element(scales.begin() + begin, scales.begin() + end);
  uint16_t minBits = floatToHalfBits(smin);
  float minValue = halfBitsToFloat(minBits);
  uint16_t stepBits = floatToHalfBits(std::max(0.0f, smax - minValue) / 255.0f);
  float step = halfBitsToFloat(stepBits);
  uint16_t *params =
      ctx.result.blockParams.data() + 2 * (row * s.blocksPerRow + block);
  params[0] = minBits;
  params[1] = stepBits;
  for (int64_t g = begin; g < end; ++g) {
    float code = 0.0f;
    if (step > 0.0f)
      code =
          std::clamp(std::round((scales[g] - minValue) / step), 0.0f, 255.0f);
    codeGroup(row, g, minValue, step, static_cast<uint32_t>(code), fits[g].lo);
  }
}

void RowQuantizer::run(int64_t row) {
  markRow(row);
  const float *w = ctx.weights + row * s.cols;
  for (int64_t g = 0; g < s.groupsPerRow; ++g)
    fits[g] = high[g] || refit[g]
                  ? fitGroup(w + g * s.group, hw.data() + g * s.group, s.group,
                             high[g] ? s.hi : s.lo, ctx.ratios.data(),
                             ctx.ratios.size())
                  : ctx.lowFits[row * s.groupsPerRow + g];
  nextHigh = 0;
  for (int64_t b = 0; b < s.blocksPerRow; ++b)
    secondOrder(row, b);
  MixedQuantized &r = ctx.result;
  packCodes(lowCodes.data(), s.cols, s.lo,
            r.lowCodes.data() + row * s.lowWordsPerRow);
  packCodes(zeroCodes.data(), s.groupsPerRow, kMixedZeroCodeBits,
            r.zeroCodes.data() + row * s.zeroWordsPerRow);
  for (int64_t g = 0; g < s.groupsPerRow; ++g)
    if (high[g])
      r.bitMap[row * s.mapWordsPerRow + g / 32] |= 1u << (g % 32);
  // Residuals against exactly the dense value dequantizeMixed computes.
  unsigned indexBytes = sparseColIndexBytes(s.cols);
  for (int32_t i = ctx.outliers.rowPtr[row]; i < ctx.outliers.rowPtr[row + 1];
       ++i) {
    int32_t c = ctx.outliers.cols[i];
    for (unsigned b = 0; b < indexBytes; ++b)
      r.outliers.colIdx[i * indexBytes + b] =
          static_cast<uint8_t>(c >> (8 * b));
    r.outliers.values[i] = floatToHalfBits(w[c] - recon[c]);
  }
}

MixedQuantized mixq::quant::quantizeMixed(const float *weights, int64_t rows,
                                          int64_t cols,
                                          const MixedParams &params,
                                          const Sensitivity *sensitivity) {
  assert(validateMixed(params, rows, cols).empty() && "invalid parameters");
  assert((!sensitivity || validateSensitivity(*sensitivity, cols).empty()) &&
         "invalid sensitivity");
  Shape s(params, rows, cols);
  const float *h = sensitivity ? sensitivity->meanSquare.data() : nullptr;
  MixedQuantized result;
  MixedContext ctx{
      weights, h, params, s, clipRatios(params.clipGridSize, params.clipMin),
      result};
  int64_t outlierCount =
      std::llround(params.outlierFraction * double(rows * cols));
  chooseHighGroups(ctx, mixedHighGroupCount(params, rows, cols), outlierCount);
  ctx.outliers = chooseOutliers(ctx, outlierCount);

  result.lowCodes.assign(rows * s.lowWordsPerRow, 0u);
  // The high groups' rows and the zero row of the low groups.
  result.highCodes.assign((ctx.high.size() + 1) * s.highWordsPerGroup, 0u);
  result.bitMap.assign(rows * s.mapWordsPerRow, 0u);
  result.scaleCodes.assign(rows * s.groupsPerRow, 0);
  result.zeroCodes.assign(rows * s.zeroWordsPerRow, 0u);
  result.blockParams.assign(2 * rows * s.blocksPerRow, 0);
  result.outliers.rowPtr = ctx.outliers.rowPtr;
  result.outliers.colIdx.assign(ctx.outliers.size() * sparseColIndexBytes(cols),
                                0);
  result.outliers.values.assign(ctx.outliers.size(), 0);
  parallelFor(rows, [&](int64_t begin, int64_t end) {
    RowQuantizer quantizer(ctx);
    for (int64_t r = begin; r < end; ++r)
      quantizer.run(r);
  });
  // Each map word's first high group: the row's first, plus the popcount
  // of the row's earlier words.
  result.highGroupStart.assign(rows * s.mapWordsPerRow, 0);
  for (int64_t r = 0; r < rows; ++r) {
    int32_t next = ctx.high.rowPtr[r];
    for (int64_t w = 0; w < s.mapWordsPerRow; ++w) {
      result.highGroupStart[r * s.mapWordsPerRow + w] = next;
      next += static_cast<int32_t>(
          __builtin_popcount(result.bitMap[r * s.mapWordsPerRow + w]));
    }
  }
  return result;
}

//===----------------------------------------------------------------------===//
// Dequantization
//===----------------------------------------------------------------------===//

std::string mixq::quant::validateMixedLayout(const MixedQuantized &packed,
                                             int64_t rows, int64_t cols,
                                             const MixedParams &params) {
  Shape s(params, rows, cols);
  // The last row is the low groups' zeros.
  int64_t highGroups = s.highWordsPerGroup
                           ? static_cast<int64_t>(packed.highCodes.size()) /
                                     s.highWordsPerGroup -
                                 1
                           : 0;
  if (packed.highCodes.size() < size_t(s.highWordsPerGroup))
    return "mixed: high_codes lacks its last row, the low groups' zeros";
  if (std::any_of(packed.highCodes.end() - s.highWordsPerGroup,
                  packed.highCodes.end(), [](uint32_t word) { return word; }))
    return "mixed: the last row of high_codes, the low groups' extra codes, "
           "must be zeros";
  int64_t next = 0;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t w = 0; w < s.mapWordsPerRow; ++w) {
      uint32_t word = packed.bitMap[r * s.mapWordsPerRow + w];
      int64_t groupsInWord = std::min<int64_t>(32, s.groupsPerRow - 32 * w);
      if (groupsInWord < 32 && (word >> groupsInWord) != 0)
        return "mixed: bit_map of row " + std::to_string(r) +
               " marks groups past its " + std::to_string(s.groupsPerRow);
      if (packed.highGroupStart[r * s.mapWordsPerRow + w] != next)
        return "mixed: high_group_start of row " + std::to_string(r) +
               ", word " + std::to_string(w) + " must be " +
               std::to_string(next) +
               ", the high groups before it in the bit map";
      next += __builtin_popcount(word);
    }
  if (next != highGroups)
    return "mixed: the bit map marks " + std::to_string(next) +
           " high groups, but high_codes holds " + std::to_string(highGroups);
  return validateCSR(packed.outliers, rows, cols, "mixed");
}

bool mixq::quant::isMixedHighGroup(const MixedQuantized &packed, int64_t cols,
                                   const MixedParams &params, int64_t row,
                                   int64_t group) {
  Shape s(params, 0, cols);
  return (packed.bitMap[row * s.mapWordsPerRow + group / 32] >> (group % 32)) &
         1u;
}

/// The `n` codes of `Bits` bits (a divisor of 32) packed in `words`: with
/// the width known, the shifts are constants and the loop vectorizes.
template <unsigned Bits>
static MIXQ_ALWAYS_INLINE void unpackFixed(const uint32_t *words, int64_t n,
                                           uint32_t *codes) {
  constexpr int64_t perWord = 32 / Bits;
  for (int64_t word = 0; word < n / perWord; ++word)
    for (int64_t j = 0; j < perWord; ++j)
      codes[word * perWord + j] =
          (words[word] >> (j * Bits)) & ((1u << Bits) - 1u);
}

static MIXQ_ALWAYS_INLINE void unpackGroup(const uint32_t *words, int64_t n,
                                           unsigned bits, uint32_t *codes) {
  switch (bits) {
  case 1:
    return unpackFixed<1>(words, n, codes);
  case 2:
    return unpackFixed<2>(words, n, codes);
  case 4:
    return unpackFixed<4>(words, n, codes);
  case 8:
    return unpackFixed<8>(words, n, codes);
  default:
    for (int64_t i = 0; i < n; ++i)
      codes[i] = extractCode(words, i, bits);
  }
}

/// One group's weights, w' = (qq - zero) * scale with qq = code << shift,
/// from its word-aligned low codes and, for a high group (`extra` not
/// null), the low `extraBits` bits of its codes. `codes` and `extraCodes`
/// are scratch of `n`.
MIXQ_VECTOR_CLONES
static void decodeGroup(const uint32_t *low, unsigned lowBits,
                        const uint32_t *extra, unsigned extraBits, int64_t n,
                        const MixedGroupParams &params, uint32_t *codes,
                        uint32_t *extraCodes, float *out) {
  unpackGroup(low, n, lowBits, codes);
  if (extra) {
    unpackGroup(extra, n, extraBits, extraCodes);
    for (int64_t i = 0; i < n; ++i)
      codes[i] = codes[i] << extraBits | extraCodes[i];
  }
  for (int64_t i = 0; i < n; ++i)
    out[i] =
        (static_cast<float>(static_cast<int32_t>(codes[i] << params.shift)) -
         params.zero) *
        params.scale;
}

/// `codes` and `extra` are scratch of a group's size.
static void dequantizeRow(const MixedQuantized &p, const Shape &s,
                          const MixedParams &params, int64_t row, float *out,
                          uint32_t *codes, uint32_t *extra) {
  const uint32_t *map = p.bitMap.data() + row * s.mapWordsPerRow;
  const uint32_t *low = p.lowCodes.data() + row * s.lowWordsPerRow;
  unsigned extraBits = s.hi - s.lo;
  // The high groups of the row are stored in order: a running count is the
  // popcount of the bit map below each group.
  const uint32_t *nextExtra =
      p.highCodes.data() +
      p.highGroupStart[row * s.mapWordsPerRow] * s.highWordsPerGroup;
  // Groups start on word boundaries (validateMixed).
  int64_t lowWordsPerGroup = s.group * s.lo / 32;
  for (int64_t b = 0; b < s.blocksPerRow; ++b) {
    const uint16_t *block =
        p.blockParams.data() + 2 * (row * s.blocksPerRow + b);
    float scaleMin = halfBitsToFloat(block[0]);
    float scaleStep = halfBitsToFloat(block[1]);
    int64_t end = std::min(s.groupsPerRow, (b + 1) * params.blockGroups);
    for (int64_t g = b * params.blockGroups; g < end; ++g) {
      bool high = (map[g / 32] >> (g % 32)) & 1u;
      MixedGroupParams group = mixedGroupParams(
          scaleMin, scaleStep, p.scaleCodes[row * s.groupsPerRow + g],
          extractCode(p.zeroCodes.data() + row * s.zeroWordsPerRow, g,
                      kMixedZeroCodeBits),
          high, s.lo, s.hi);
      decodeGroup(low + g * lowWordsPerGroup, s.lo, high ? nextExtra : nullptr,
                  extraBits, s.group, group, codes, extra, out + g * s.group);
      if (high)
        nextExtra += s.highWordsPerGroup;
    }
  }
}

/// Adds row `row`'s CSR residuals to its reconstruction `out`, exactly as
/// addSparse does for the whole matrix.
static void addRowOutliers(const SparseCSR &csr, int64_t cols, int64_t row,
                           float *out) {
  for (int32_t i = csr.rowPtr[row]; i < csr.rowPtr[row + 1]; ++i)
    out[sparseColumn(csr, cols, i)] += halfBitsToFloat(csr.values[i]);
}

std::vector<float> mixq::quant::dequantizeMixed(const MixedQuantized &packed,
                                                int64_t rows, int64_t cols,
                                                const MixedParams &params) {
  assert(validateMixed(params, rows, cols).empty() && "invalid parameters");
  Shape s(params, rows, cols);
  std::vector<float> result(rows * cols);
  parallelFor(rows, [&](int64_t begin, int64_t end) {
    std::vector<uint32_t> codes(s.group), extra(s.group);
    for (int64_t r = begin; r < end; ++r) {
      dequantizeRow(packed, s, params, r, result.data() + r * cols,
                    codes.data(), extra.data());
      addRowOutliers(packed.outliers, cols, r, result.data() + r * cols);
    }
  });
  return result;
}

ErrorSums mixq::quant::mixedErrorSums(const MixedQuantized &packed,
                                      const float *weights, int64_t rows,
                                      int64_t cols, const MixedParams &params) {
  assert(validateMixed(params, rows, cols).empty() && "invalid parameters");
  Shape s(params, rows, cols);
  return sumRowsInOrder(rows, [&](int64_t begin, int64_t end, ErrorSums *sums) {
    std::vector<uint32_t> codes(s.group), extra(s.group);
    std::vector<float> row(cols);
    for (int64_t r = begin; r < end; ++r) {
      dequantizeRow(packed, s, params, r, row.data(), codes.data(),
                    extra.data());
      addRowOutliers(packed.outliers, cols, r, row.data());
      sums[r - begin] = rowErrorSums(weights + r * cols, row.data(), cols);
    }
  });
}

double mixq::quant::bitsPerWeight(const MixedQuantized &p, int64_t rows,
                                  int64_t cols) {
  size_t bytes =
      4 * (p.lowCodes.size() + p.highCodes.size() + p.highGroupStart.size() +
           p.bitMap.size() + p.zeroCodes.size()) +
      p.scaleCodes.size() + 2 * p.blockParams.size();
  double sparseBits = bitsPerWeight(p.outliers, rows, cols);
  return 8.0 * static_cast<double>(bytes) / static_cast<double>(rows * cols) +
         sparseBits;
}
