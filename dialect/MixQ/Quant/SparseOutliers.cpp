//===- SparseOutliers.cpp - dense-and-sparse outlier residuals ------------===//
#include "dialect/MixQ/Quant/SparseOutliers.h"
#include "dialect/MixQ/Quant/FloatFormats.h"
#include "dialect/MixQ/Quant/Parallel.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>

using namespace mixq::quant;

unsigned mixq::quant::sparseColIndexBytes(int64_t cols) {
  return cols <= 65536 ? 2 : 4;
}

int64_t mixq::quant::sparseColumn(const SparseCSR &csr, int64_t cols,
                                  int64_t i) {
  unsigned width = sparseColIndexBytes(cols);
  uint32_t value = 0;
  for (unsigned b = 0; b < width; ++b)
    value |= static_cast<uint32_t>(csr.colIdx[i * width + b]) << (8 * b);
  return static_cast<int64_t>(value);
}

std::string mixq::quant::validateSparse(const SparseParams &params,
                                        int64_t rows, int64_t cols) {
  if (rows < 0 || cols < 0)
    return "matrix shape must be non-negative, got " + std::to_string(rows) +
           "x" + std::to_string(cols);
  if (cols > std::numeric_limits<int32_t>::max() ||
      rows * cols > std::numeric_limits<int32_t>::max())
    return "sparse fraction: the matrix has too many weights for int32 row "
           "pointers";
  if (!(params.fraction >= 0.0 && params.fraction < 1.0))
    return "sparse fraction must be in [0, 1), got " +
           std::to_string(params.fraction);
  if (!(params.iqrFactor > 0.0f && std::isfinite(params.iqrFactor)))
    return "sparse IQR factor must be positive, got " +
           std::to_string(params.iqrFactor);
  return "";
}

//===----------------------------------------------------------------------===//
// Top-count selection
//===----------------------------------------------------------------------===//

/// Order-preserving integer image of a candidate key (key >= 0): for
/// non-negative floats the bit pattern is monotone. -0 maps to +0.
static uint32_t keyBits(float key) {
  if (key == 0.0f)
    return 0;
  uint32_t bits;
  std::memcpy(&bits, &key, 4);
  return bits;
}

static bool isCandidate(float key) { return key >= 0.0f; }

using Histogram = std::vector<int64_t>;

/// One level of the radix select: the key bits [shift, shift + width).
struct RadixLevel {
  unsigned shift, width;
};
// Three levels of at most 11 bits: the histograms stay in L1.
static constexpr RadixLevel kLevels[3] = {{21, 11}, {10, 11}, {0, 10}};

/// Histogram of the bits of `level` over the candidate keys whose bits
/// above the level equal `prefix`.
static Histogram histogram(const float *keys, int64_t n, RadixLevel level,
                           uint32_t prefix) {
  unsigned top = level.shift + level.width;
  Histogram total(size_t{1} << level.width, 0);
  std::mutex mutex;
  parallelFor(
      n,
      [&](int64_t begin, int64_t end) {
        Histogram local(total.size(), 0);
        uint32_t mask = (1u << level.width) - 1u;
        for (int64_t i = begin; i < end; ++i) {
          if (!isCandidate(keys[i]))
            continue;
          uint32_t bits = keyBits(keys[i]);
          if (top < 32 && (bits >> top) != prefix)
            continue;
          ++local[(bits >> level.shift) & mask];
        }
        // Integer sums: the order of merging does not matter.
        std::lock_guard<std::mutex> lock(mutex);
        for (size_t b = 0; b < local.size(); ++b)
          total[b] += local[b];
      },
      1 << 16);
  return total;
}

/// Finds the bucket holding the `count`-th largest entry, counting from the
/// top; `above` receives how many entries lie in higher buckets.
static uint32_t findBucket(const Histogram &hist, int64_t count,
                           int64_t &above) {
  above = 0;
  for (int64_t b = static_cast<int64_t>(hist.size()) - 1; b >= 0; --b) {
    if (above + hist[b] >= count)
      return static_cast<uint32_t>(b);
    above += hist[b];
  }
  return 0;
}

OutlierPattern mixq::quant::selectLargest(const float *keys, int64_t rows,
                                          int64_t cols, int64_t count) {
  int64_t n = rows * cols;
  OutlierPattern pattern;
  pattern.rowPtr.assign(rows + 1, 0);
  Histogram first = histogram(keys, n, kLevels[0], 0);
  int64_t candidates = 0;
  for (int64_t c : first)
    candidates += c;
  count = std::min(count, candidates);
  if (count <= 0)
    return pattern;
  // Exact threshold T (as bits), digit by digit: `greater` candidates are
  // > T, and `ties` of those equal to T are taken in row-major order.
  uint32_t threshold = 0;
  int64_t above = 0;
  for (int level = 0; level < 3; ++level) {
    Histogram hist = level == 0 ? std::move(first)
                                : histogram(keys, n, kLevels[level], threshold);
    int64_t levelAbove;
    uint32_t digit = findBucket(hist, count - above, levelAbove);
    above += levelAbove;
    threshold = threshold << kLevels[level].width | digit;
  }
  int64_t ties = count - above;

  // Per row: how many are above T and how many equal T.
  std::vector<int64_t> greater(rows, 0), equal(rows, 0);
  parallelFor(rows, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        float key = keys[r * cols + c];
        if (!isCandidate(key))
          continue;
        uint32_t bits = keyBits(key);
        greater[r] += bits > threshold;
        equal[r] += bits == threshold;
      }
  });
  std::vector<int64_t> tiesTaken(rows, 0);
  for (int64_t r = 0; r < rows; ++r) {
    tiesTaken[r] = std::min(ties, equal[r]);
    ties -= tiesTaken[r];
    pattern.rowPtr[r + 1] =
        static_cast<int32_t>(pattern.rowPtr[r] + greater[r] + tiesTaken[r]);
  }
  pattern.cols.resize(count);
  parallelFor(rows, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      int32_t *out = pattern.cols.data() + pattern.rowPtr[r];
      int64_t tiesLeft = tiesTaken[r];
      for (int64_t c = 0; c < cols; ++c) {
        float key = keys[r * cols + c];
        if (!isCandidate(key))
          continue;
        uint32_t bits = keyBits(key);
        bool take = bits > threshold || (bits == threshold && tiesLeft-- > 0);
        if (take)
          *out++ = static_cast<int32_t>(c);
      }
    }
  });
  return pattern;
}

//===----------------------------------------------------------------------===//
// Keys of the selection rules
//===----------------------------------------------------------------------===//

/// Per row, the distance outside [Q1 - f IQR, Q3 + f IQR] in IQR units, or
/// -1 inside the fence.
static void iqrKeys(const float *w, int64_t rows, int64_t cols, float factor,
                    float *keys) {
  parallelFor(rows, [&](int64_t begin, int64_t end) {
    std::vector<float> sorted(cols);
    for (int64_t r = begin; r < end; ++r) {
      const float *row = w + r * cols;
      std::copy(row, row + cols, sorted.begin());
      std::sort(sorted.begin(), sorted.end());
      float q1 = sorted[(cols - 1) / 4], q3 = sorted[3 * (cols - 1) / 4];
      float iqr = q3 - q1;
      float lo = q1 - factor * iqr, hi = q3 + factor * iqr;
      float unit = iqr > 0.0f ? iqr : 1.0f;
      for (int64_t c = 0; c < cols; ++c) {
        float x = row[c];
        keys[r * cols + c] = x > hi   ? (x - hi) / unit
                             : x < lo ? (lo - x) / unit
                                      : -1.0f;
      }
    }
  });
}

OutlierPattern mixq::quant::selectOutliers(const float *weights, int64_t rows,
                                           int64_t cols,
                                           const SparseParams &params,
                                           const Sensitivity *sensitivity) {
  assert(validateSparse(params, rows, cols).empty() && "invalid parameters");
  int64_t n = rows * cols;
  std::vector<float> keys(n);
  if (params.selection == OutlierSelection::IQR) {
    iqrKeys(weights, rows, cols, params.iqrFactor, keys.data());
  } else {
    bool weighted =
        params.selection == OutlierSelection::Sensitivity && sensitivity;
    parallelFor(rows, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin * cols; i < end * cols; ++i) {
        float key = std::fabs(weights[i]);
        if (weighted)
          key *= std::sqrt(sensitivity->meanSquare[i % cols]);
        keys[i] = key;
      }
    });
  }
  auto count = static_cast<int64_t>(std::llround(params.fraction * n));
  return selectLargest(keys.data(), rows, cols, count);
}

//===----------------------------------------------------------------------===//
// Residuals
//===----------------------------------------------------------------------===//

std::vector<float> mixq::quant::maskOutliers(const float *weights, int64_t rows,
                                             int64_t cols,
                                             const OutlierPattern &pattern) {
  std::vector<float> masked(weights, weights + rows * cols);
  parallelFor(rows, [&](int64_t begin, int64_t end) {
    std::vector<char> isOutlier(cols);
    for (int64_t r = begin; r < end; ++r) {
      std::fill(isOutlier.begin(), isOutlier.end(), 0);
      for (int32_t i = pattern.rowPtr[r]; i < pattern.rowPtr[r + 1]; ++i)
        isOutlier[pattern.cols[i]] = 1;
      float lo = std::numeric_limits<float>::infinity(), hi = -lo;
      for (int64_t c = 0; c < cols; ++c)
        if (!isOutlier[c]) {
          lo = std::min(lo, masked[r * cols + c]);
          hi = std::max(hi, masked[r * cols + c]);
        }
      if (lo > hi)
        lo = hi = 0.0f;
      for (int32_t i = pattern.rowPtr[r]; i < pattern.rowPtr[r + 1]; ++i) {
        float &x = masked[r * cols + pattern.cols[i]];
        x = std::clamp(x, lo, hi);
      }
    }
  });
  return masked;
}

SparseCSR mixq::quant::buildSparseResidual(const float *weights,
                                           const float *dense, int64_t rows,
                                           int64_t cols,
                                           const OutlierPattern &pattern) {
  SparseCSR csr;
  csr.rowPtr = pattern.rowPtr;
  int64_t nnz = pattern.size();
  unsigned width = sparseColIndexBytes(cols);
  csr.colIdx.resize(nnz * width);
  csr.values.resize(nnz);
  for (int64_t r = 0; r < rows; ++r)
    for (int32_t i = pattern.rowPtr[r]; i < pattern.rowPtr[r + 1]; ++i) {
      int64_t c = pattern.cols[i];
      for (unsigned b = 0; b < width; ++b)
        csr.colIdx[i * width + b] = static_cast<uint8_t>(c >> (8 * b));
      float residual = weights[r * cols + c] - dense[r * cols + c];
      csr.values[i] = floatToHalfBits(residual);
    }
  return csr;
}

void mixq::quant::addSparse(const SparseCSR &csr, int64_t rows, int64_t cols,
                            float *dense) {
  for (int64_t r = 0; r < rows; ++r)
    for (int32_t i = csr.rowPtr[r]; i < csr.rowPtr[r + 1]; ++i)
      dense[r * cols + sparseColumn(csr, cols, i)] +=
          halfBitsToFloat(csr.values[i]);
}

SparseCSR mixq::quant::quantizeDenseAndSparse(
    const float *weights, int64_t rows, int64_t cols,
    const SparseParams &params, const Sensitivity *sensitivity,
    const std::function<std::vector<float>(const std::vector<float> &)>
        &denseRoundTrip,
    std::vector<float> *reconstruction) {
  OutlierPattern pattern =
      selectOutliers(weights, rows, cols, params, sensitivity);
  std::vector<float> dense =
      denseRoundTrip(maskOutliers(weights, rows, cols, pattern));
  SparseCSR csr =
      buildSparseResidual(weights, dense.data(), rows, cols, pattern);
  if (reconstruction) {
    addSparse(csr, rows, cols, dense.data());
    *reconstruction = std::move(dense);
  }
  return csr;
}

double mixq::quant::bitsPerWeight(const SparseCSR &csr, int64_t rows,
                                  int64_t cols) {
  size_t bytes = csr.rowPtr.size() * sizeof(int32_t) + csr.colIdx.size() +
                 csr.values.size() * sizeof(uint16_t);
  return 8.0 * static_cast<double>(bytes) / static_cast<double>(rows * cols);
}
