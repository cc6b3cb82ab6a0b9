//===- MixedQuantizer.cpp - 2/4/16-bit mixed precision in a weight --------===//
#include "dialect/MixQ/Quant/MixedQuantizer.h"
#include "dialect/MixQ/Quant/AffineQuantizer.h"
#include "dialect/MixQ/Quant/BitPacking.h"
#include "dialect/MixQ/Quant/FloatFormats.h"
#include "dialect/MixQ/Quant/Parallel.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>

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
                  4 * highGroups * s.highWordsPerGroup + 4 * (rows + 1) +
                  4 * rows * s.mapWordsPerRow + rows * s.groupsPerRow +
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

static float zeroOf(uint32_t zeroCode, float maxq) {
  return static_cast<float>(zeroCode) * maxq / 15.0f;
}

/// Group score of step 1.
static float groupScore(const float *w, const float *h, int64_t n) {
  float lo = 0.0f, hi = 0.0f;
  double mean = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    lo = std::min(lo, w[i]);
    hi = std::max(hi, w[i]);
    mean += w[i];
  }
  mean /= double(n);
  double energy = 0.0;
  for (int64_t i = 0; i < n; ++i)
    energy += (h ? h[i] : 1.0) * (w[i] - mean) * (w[i] - mean);
  return static_cast<float>(double(hi - lo) * energy);
}

namespace {
/// First-order fit of one group (step 4).
struct GroupFit {
  float range = 0.0f; ///< c (hi - lo)
  float lo = 0.0f;    ///< c lo
};

/// Everything quantizeMixed shares between rows.
struct MixedContext {
  const float *weights;
  const float *h; ///< E[x^2] per column or null
  const MixedParams &params;
  Shape shape;
  std::vector<float> ratios;
  OutlierPattern high;     ///< high groups (cols = group indices)
  OutlierPattern outliers; ///< outlier weights
  MixedQuantized &result;
};
} // namespace

static double fitError(const float *w, const float *hw, int64_t n, float lo,
                       float hi, float maxq) {
  float scale = (hi - lo) / maxq;
  if (!(scale > 0.0f))
    return 0.0;
  float inv = 1.0f / scale, zero = -lo / scale;
  // Eight independent partial sums: without them a float reduction cannot
  // be vectorized (no reassociation), and this loop is most of the time.
  constexpr int64_t kLanes = 8;
  float partial[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int64_t j = 0; j < kLanes; ++j) {
      float x = w[i + j];
      float d = x - decodeValue(codeOf(x, inv, zero, maxq), zero, scale);
      partial[j] += hw[i + j] * d * d;
    }
  for (; i < n; ++i) {
    float d = w[i] - decodeValue(codeOf(w[i], inv, zero, maxq), zero, scale);
    partial[0] += hw[i] * d * d;
  }
  double error = 0.0;
  for (float p : partial)
    error += p;
  return error;
}

/// `hw` holds the weight of each value in the error: h (or 1), 0 for
/// outliers, which neither set the range nor count.
static GroupFit fitGroup(const float *w, const float *hw, int64_t n,
                         unsigned bits, const std::vector<float> &ratios) {
  float lo = 0.0f, hi = 0.0f;
  for (int64_t i = 0; i < n; ++i)
    if (hw[i] != 0.0f) {
      lo = std::min(lo, w[i]);
      hi = std::max(hi, w[i]);
    }
  float maxq = static_cast<float>((1u << bits) - 1u);
  float best = ratios[0];
  if (ratios.size() > 1) {
    double bestError = fitError(w, hw, n, lo, hi, maxq);
    for (size_t i = 1; i < ratios.size(); ++i) {
      double error = fitError(w, hw, n, ratios[i] * lo, ratios[i] * hi, maxq);
      if (error < bestError) {
        bestError = error;
        best = ratios[i];
      }
    }
  }
  return {best * (hi - lo), best * lo};
}

namespace {
/// The per-row state of quantizeMixed.
class RowQuantizer {
public:
  explicit RowQuantizer(MixedContext &context)
      : ctx(context), s(ctx.shape), isOutlier(s.cols), hw(s.cols),
        lowCodes(s.cols), extraCodes(s.group), zeroCodes(s.groupsPerRow),
        recon(s.cols), fits(s.groupsPerRow), high(s.groupsPerRow) {}

  void run(int64_t row);

private:
  void markRow(int64_t row);
  void secondOrder(int64_t row, int64_t block);
  void codeGroup(int64_t row, int64_t g, float range, float lo);

  MixedContext &ctx;
  const Shape &s;
  std::vector<char> isOutlier;
  std::vector<float> hw;
  std::vector<uint8_t> lowCodes, extraCodes, zeroCodes;
  std::vector<float> recon;
  std::vector<GroupFit> fits;
  std::vector<char> high;
  int64_t nextHigh = 0;
};
} // namespace

void RowQuantizer::markRow(int64_t row) {
  std::fill(isOutlier.begin(), isOutlier.end(), 0);
  const OutlierPattern &out = ctx.outliers;
  for (int32_t i = out.rowPtr[row]; i < out.rowPtr[row + 1]; ++i)
    isOutlier[out.cols[i]] = 1;
  std::fill(high.begin(), high.end(), 0);
  for (int32_t i = ctx.high.rowPtr[row]; i < ctx.high.rowPtr[row + 1]; ++i)
    high[ctx.high.cols[i]] = 1;
  for (int64_t c = 0; c < s.cols; ++c)
    hw[c] = isOutlier[c] ? 0.0f : (ctx.h ? ctx.h[c] : 1.0f);
  // A column that calibration never saw must still be fitted.
  if (ctx.h)
    for (int64_t c = 0; c < s.cols; ++c)
      if (!isOutlier[c] && hw[c] == 0.0f)
        hw[c] = std::numeric_limits<float>::min();
}

void RowQuantizer::codeGroup(int64_t row, int64_t g, float range, float lo) {
  unsigned bits = high[g] ? s.hi : s.lo;
  float maxq = static_cast<float>((1u << bits) - 1u);
  float scale = range / maxq;
  float zeroCode = 0.0f;
  if (scale > 0.0f)
    zeroCode = std::clamp(std::round(-lo / scale * 15.0f / maxq), 0.0f, 15.0f);
  zeroCodes[g] = static_cast<uint8_t>(zeroCode);
  float zero = zeroOf(zeroCodes[g], maxq);
  float inv = scale > 0.0f ? 1.0f / scale : 0.0f;
  const float *w = ctx.weights + row * s.cols + g * s.group;
  unsigned extraBits = s.hi - s.lo;
  for (int64_t i = 0; i < s.group; ++i) {
    float q = scale > 0.0f ? codeOf(w[i], inv, zero, maxq) : 0.0f;
    recon[g * s.group + i] = decodeValue(q, zero, scale);
    auto code = static_cast<uint32_t>(q);
    lowCodes[g * s.group + i] =
        static_cast<uint8_t>(high[g] ? code >> extraBits : code);
    extraCodes[i] = static_cast<uint8_t>(code & ((1u << extraBits) - 1u));
  }
  if (high[g])
    packCodes(extraCodes.data(), s.group, extraBits,
              ctx.result.highCodes.data() +
                  (ctx.high.rowPtr[row] + nextHigh++) * s.highWordsPerGroup);
}

void RowQuantizer::secondOrder(int64_t row, int64_t block) {
  int64_t begin = block * ctx.params.blockGroups;
  int64_t end = std::min(s.groupsPerRow, begin + ctx.params.blockGroups);
  float rmin = fits[begin].range, rmax = rmin;
  for (int64_t g = begin; g < end; ++g) {
    rmin = std::min(rmin, fits[g].range);
    rmax = std::max(rmax, fits[g].range);
  }
  uint16_t minBits = floatToHalfBits(rmin);
  float minValue = halfBitsToFloat(minBits);
  uint16_t stepBits = floatToHalfBits(std::max(0.0f, rmax - minValue) / 255.0f);
  float step = halfBitsToFloat(stepBits);
  uint16_t *params =
      ctx.result.blockParams.data() + 2 * (row * s.blocksPerRow + block);
  params[0] = minBits;
  params[1] = stepBits;
  for (int64_t g = begin; g < end; ++g) {
    float code = 0.0f;
    if (step > 0.0f)
      code = std::clamp(std::round((fits[g].range - minValue) / step), 0.0f,
                        255.0f);
    ctx.result.scaleCodes[row * s.groupsPerRow + g] =
        static_cast<uint8_t>(code);
    codeGroup(row, g, minValue + code * step, fits[g].lo);
  }
}

void RowQuantizer::run(int64_t row) {
  markRow(row);
  const float *w = ctx.weights + row * s.cols;
  for (int64_t g = 0; g < s.groupsPerRow; ++g)
    fits[g] = fitGroup(w + g * s.group, hw.data() + g * s.group, s.group,
                       high[g] ? s.hi : s.lo, ctx.ratios);
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

/// Steps 1-2: the high groups, as a pattern over the N x gpr group matrix.
static OutlierPattern chooseHighGroups(const float *weights, const float *h,
                                       const Shape &s, int64_t count) {
  std::vector<float> scores(s.rows * s.groupsPerRow);
  parallelFor(s.rows, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r)
      for (int64_t g = 0; g < s.groupsPerRow; ++g)
        scores[r * s.groupsPerRow + g] =
            groupScore(weights + r * s.cols + g * s.group,
                       h ? h + g * s.group : nullptr, s.group);
  });
  return selectLargest(scores.data(), s.rows, s.groupsPerRow, count);
}

/// Step 3: outliers among the low groups' weights.
static OutlierPattern chooseOutliers(const float *weights, const float *h,
                                     const Shape &s, const OutlierPattern &high,
                                     int64_t count) {
  std::vector<float> keys(s.rows * s.cols);
  parallelFor(s.rows, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      float *k = keys.data() + r * s.cols;
      const float *w = weights + r * s.cols;
      for (int64_t c = 0; c < s.cols; ++c)
        k[c] = std::fabs(w[c]) * (h ? std::sqrt(h[c]) : 1.0f);
      for (int32_t i = high.rowPtr[r]; i < high.rowPtr[r + 1]; ++i)
        std::fill_n(k + high.cols[i] * s.group, s.group, -1.0f);
    }
  });
  return selectLargest(keys.data(), s.rows, s.cols, count);
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
      weights, h,  params, s, clipRatios(params.clipGridSize, params.clipMin),
      {},      {}, result};
  ctx.high =
      chooseHighGroups(weights, h, s, mixedHighGroupCount(params, rows, cols));
  ctx.outliers = chooseOutliers(
      weights, h, s, ctx.high,
      std::llround(params.outlierFraction * double(rows * cols)));

  result.lowCodes.assign(rows * s.lowWordsPerRow, 0u);
  result.highCodes.assign(ctx.high.size() * s.highWordsPerGroup, 0u);
  result.highRowStart = ctx.high.rowPtr;
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
  return result;
}

//===----------------------------------------------------------------------===//
// Dequantization
//===----------------------------------------------------------------------===//

bool mixq::quant::isMixedHighGroup(const MixedQuantized &packed, int64_t cols,
                                   const MixedParams &params, int64_t row,
                                   int64_t group) {
  Shape s(params, 0, cols);
  return (packed.bitMap[row * s.mapWordsPerRow + group / 32] >> (group % 32)) &
         1u;
}

/// Number of high groups of `row` before `group`: the popcount a kernel
/// does on the bit map.
static int64_t highGroupsBefore(const uint32_t *map, int64_t group) {
  int64_t count = 0;
  for (int64_t word = 0; word < group / 32; ++word)
    count += __builtin_popcount(map[word]);
  if (group % 32)
    count += __builtin_popcount(map[group / 32] & ((1u << (group % 32)) - 1u));
  return count;
}

static void dequantizeRow(const MixedQuantized &p, const Shape &s,
                          const MixedParams &params, int64_t row, float *out) {
  const uint32_t *map = p.bitMap.data() + row * s.mapWordsPerRow;
  const uint32_t *low = p.lowCodes.data() + row * s.lowWordsPerRow;
  unsigned extraBits = s.hi - s.lo;
  for (int64_t g = 0; g < s.groupsPerRow; ++g) {
    bool high = (map[g / 32] >> (g % 32)) & 1u;
    const uint16_t *block = p.blockParams.data() +
                            2 * (row * s.blocksPerRow + g / params.blockGroups);
    float range = halfBitsToFloat(block[0]) +
                  float(p.scaleCodes[row * s.groupsPerRow + g]) *
                      halfBitsToFloat(block[1]);
    float maxq = static_cast<float>((1u << (high ? s.hi : s.lo)) - 1u);
    float scale = range / maxq;
    float zero =
        zeroOf(extractCode(p.zeroCodes.data() + row * s.zeroWordsPerRow, g,
                           kMixedZeroCodeBits),
               maxq);
    const uint32_t *extra =
        high ? p.highCodes.data() +
                   (p.highRowStart[row] + highGroupsBefore(map, g)) *
                       s.highWordsPerGroup
             : nullptr;
    for (int64_t i = 0; i < s.group; ++i) {
      uint32_t code = extractCode(low, g * s.group + i, s.lo);
      if (high)
        code = code << extraBits | extractCode(extra, i, extraBits);
      out[g * s.group + i] = decodeValue(static_cast<float>(code), zero, scale);
    }
  }
}

std::vector<float> mixq::quant::dequantizeMixed(const MixedQuantized &packed,
                                                int64_t rows, int64_t cols,
                                                const MixedParams &params) {
  assert(validateMixed(params, rows, cols).empty() && "invalid parameters");
  Shape s(params, rows, cols);
  std::vector<float> result(rows * cols);
  parallelFor(rows, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r)
      dequantizeRow(packed, s, params, r, result.data() + r * cols);
  });
  addSparse(packed.outliers, rows, cols, result.data());
  return result;
}

double mixq::quant::bitsPerWeight(const MixedQuantized &p, int64_t rows,
                                  int64_t cols) {
  size_t bytes =
      4 * (p.lowCodes.size() + p.highCodes.size() + p.highRowStart.size() +
           p.bitMap.size() + p.zeroCodes.size()) +
      p.scaleCodes.size() + 2 * p.blockParams.size();
  double sparseBits = bitsPerWeight(p.outliers, rows, cols);
  return 8.0 * static_cast<double>(bytes) / static_cast<double>(rows * cols) +
         sparseBits;
}
