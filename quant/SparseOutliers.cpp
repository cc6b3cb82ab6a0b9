//===- SparseOutliers.cpp - dense-and-sparse outlier residuals ------------===//
#include "quant/SparseOutliers.h"

#include "quant/FloatFormats.h"
#include "quant/Parallel.h"
#include <string>

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

std::string mixq::quant::validateCSR(const SparseCSR &csr, int64_t rows,
                                     int64_t cols, const std::string &scheme) {
  if (static_cast<int64_t>(csr.rowPtr.size()) != rows + 1 ||
      csr.rowPtr.front() != 0 || csr.rowPtr.back() != csr.nnz())
    return scheme +
           ": outlier_row_ptr must start at 0 and end at the number of "
           "outliers";
  for (int64_t r = 0; r < rows; ++r)
    if (csr.rowPtr[r + 1] < csr.rowPtr[r] || csr.rowPtr[r + 1] > csr.nnz())
      return scheme +
             ": outlier_row_ptr must be non-decreasing and at most the "
             "number of outliers (row " +
             std::to_string(r) + ")";
  for (int64_t r = 0; r < rows; ++r)
    for (int32_t i = csr.rowPtr[r]; i < csr.rowPtr[r + 1]; ++i) {
      int64_t c = sparseColumn(csr, cols, i);
      if (c >= cols ||
          (i > csr.rowPtr[r] && c <= sparseColumn(csr, cols, i - 1)))
        return scheme + ": outlier_col_idx of row " + std::to_string(r) +
               " must be strictly increasing and below K = " +
               std::to_string(cols);
    }
  return "";
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

void mixq::quant::addToKeyHistogram(const float *keys, int64_t n,
                                    uint32_t *counts) {
  for (int64_t i = 0; i < n; ++i)
    ++counts[keyBucket(keys[i])];
}

uint32_t mixq::quant::keyBucketThreshold(const KeyHistogram &hist,
                                         int64_t count) {
  int64_t above = 0;
  for (int64_t b = kNonCandidateBucket - 1; b > 0; --b) {
    above += hist[b];
    if (above >= count)
      return static_cast<uint32_t>(b);
  }
  return 0;
}

void mixq::quant::gatherKeys(const float *keys, int64_t cols, uint32_t bucket,
                             std::vector<KeyEntry> &out) {
  for (int64_t c = 0; c < cols; ++c) {
    uint32_t b = keyBucket(keys[c]);
    if (b >= bucket && b != kNonCandidateBucket)
      out.push_back({static_cast<int32_t>(c), keyBits(keys[c])});
  }
}

OutlierPattern mixq::quant::selectFromKeys(const std::vector<KeyEntry> &entries,
                                           const std::vector<int64_t> &rowStart,
                                           int64_t count) {
  OutlierPattern pattern;
  int64_t rows = static_cast<int64_t>(rowStart.size()) - 1;
  pattern.rowPtr.assign(rows + 1, 0);
  count = std::min<int64_t>(count, static_cast<int64_t>(entries.size()));
  if (count <= 0)
    return pattern;
  // The exact threshold T, the count-th largest kept key: keys above T are
  // taken, and `ties` of those equal to T in row-major order.
  std::vector<uint32_t> bits(entries.size());
  for (size_t i = 0; i < entries.size(); ++i)
    bits[i] = entries[i].bits;
  std::nth_element(bits.begin(), bits.begin() + (count - 1), bits.end(),
                   std::greater<uint32_t>());
  uint32_t threshold = bits[count - 1];
  int64_t ties = count;
  for (const KeyEntry &e : entries)
    ties -= e.bits > threshold;
  pattern.cols.reserve(count);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = rowStart[r]; i < rowStart[r + 1]; ++i) {
      const KeyEntry &e = entries[i];
      if (e.bits > threshold || (e.bits == threshold && ties-- > 0))
        pattern.cols.push_back(e.col);
    }
    pattern.rowPtr[r + 1] = static_cast<int32_t>(pattern.cols.size());
  }
  assert(pattern.size() == count && "kept keys do not hold the threshold");
  return pattern;
}

void mixq::quant::gatherKeysInRowOrder(int64_t rows, int64_t minRows,
                                       const KeyRangeGatherer &gatherRange,
                                       std::vector<KeyEntry> &entries,
                                       std::vector<int64_t> &rowStart) {
  struct RangeKeys {
    int64_t beginRow, endRow;
    std::vector<KeyEntry> entries;
  };
  std::vector<RangeKeys> ranges;
  std::mutex mutex;
  rowStart.assign(rows + 1, 0);
  parallelFor(
      rows,
      [&](int64_t begin, int64_t end) {
        RangeKeys range{begin, end, {}};
        gatherRange(begin, end, range.entries, rowStart);
        std::lock_guard<std::mutex> lock(mutex);
        ranges.push_back(std::move(range));
      },
      minRows);
  // Each range's rows are contiguous: put them back in row order.
  std::sort(ranges.begin(), ranges.end(),
            [](const RangeKeys &a, const RangeKeys &b) {
              return a.beginRow < b.beginRow;
            });
  entries.clear();
  for (RangeKeys &range : ranges) {
    // rowStart holds offsets within the range: make them global.
    auto offset = static_cast<int64_t>(entries.size());
    for (int64_t r = range.beginRow; r < range.endRow; ++r)
      rowStart[r + 1] += offset;
    entries.insert(entries.end(), range.entries.begin(), range.entries.end());
  }
}

/// Rows per task of the selection passes: enough keys that the per-thread
/// histograms pay off.
static int64_t rowsPerTask(int64_t cols) {
  return std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(cols, 1));
}

template <typename RowKeys>
static KeyHistogram keyHistogramImpl(int64_t rows, int64_t cols,
                                     const RowKeys &rowKeys) {
  KeyHistogram hist(kKeyBuckets, 0);
  std::mutex mutex;
  parallelFor(
      rows,
      [&](int64_t begin, int64_t end) {
        // uint32 counts suffice: patterns are limited to int32 positions.
        std::vector<uint32_t> local(kKeyBuckets, 0);
        std::vector<float> scratch(cols);
        for (int64_t r = begin; r < end; ++r)
          addToKeyHistogram(rowKeys(r, scratch.data()), cols, local.data());
        // Integer sums: the order of merging does not matter.
        std::lock_guard<std::mutex> lock(mutex);
        for (size_t b = 0; b < local.size(); ++b)
          hist[b] += local[b];
      },
      rowsPerTask(cols));
  return hist;
}

/// A RowKeyFunction as the Impls' row accessor: the keys go to the scratch.
static auto inScratch(const RowKeyFunction &rowKeys) {
  return [&rowKeys](int64_t row, float *scratch) -> const float * {
    rowKeys(row, scratch);
    return scratch;
  };
}

KeyHistogram mixq::quant::keyHistogram(int64_t rows, int64_t cols,
                                       const RowKeyFunction &rowKeys) {
  return keyHistogramImpl(rows, cols, inScratch(rowKeys));
}

/// The selection behind both selectLargest overloads. `rowKeys(r, scratch)`
/// returns the `cols` keys of row r (in `scratch`, of `cols` floats, or
/// elsewhere) and may run on several threads. Two passes over the keys: a
/// histogram of their buckets finds the bucket of the count-th largest key;
/// the second pass keeps the keys in or above that bucket (about `count` of
/// them), among which selectFromKeys settles the exact threshold and ties.
template <typename RowKeys>
static OutlierPattern selectLargestImpl(int64_t rows, int64_t cols,
                                        int64_t count, const RowKeys &rowKeys) {
  if (rows <= 0 || cols <= 0 || count <= 0) {
    OutlierPattern pattern;
    pattern.rowPtr.assign(std::max<int64_t>(rows, 0) + 1, 0);
    return pattern;
  }
  KeyHistogram hist = keyHistogramImpl(rows, cols, rowKeys);
  uint32_t bucket = keyBucketThreshold(hist, count);
  // Keep every candidate in or above the bucket.
  std::vector<KeyEntry> entries;
  std::vector<int64_t> rowStart;
  gatherKeysInRowOrder(
      rows, rowsPerTask(cols),
      [&](int64_t begin, int64_t end, std::vector<KeyEntry> &out,
          std::vector<int64_t> &rowEnd) {
        std::vector<float> scratch(cols);
        for (int64_t r = begin; r < end; ++r) {
          gatherKeys(rowKeys(r, scratch.data()), cols, bucket, out);
          rowEnd[r + 1] = static_cast<int64_t>(out.size());
        }
      },
      entries, rowStart);
  return selectFromKeys(entries, rowStart, count);
}

OutlierPattern mixq::quant::selectLargest(const float *keys, int64_t rows,
                                          int64_t cols, int64_t count) {
  return selectLargestImpl(rows, cols, count, [&](int64_t row, float *) {
    return keys + row * cols;
  });
}

OutlierPattern mixq::quant::selectLargest(int64_t rows, int64_t cols,
                                          int64_t count,
                                          const RowKeyFunction &rowKeys) {
  return selectLargestImpl(rows, cols, count, inScratch(rowKeys));
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
