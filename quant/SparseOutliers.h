//===- SparseOutliers.h - dense-and-sparse outlier residuals ----*- C++ -*-===//
//
// `#mixq.sparse<csr>` (SqueezeLLM dense-and-sparse) composes with any dense
// scheme: a few weights, the outliers, get an fp16 correction on top of the
// dense reconstruction,
//   w'[r][c] = dense'[r][c] + value   for (r, c) in the sparse pattern,
//   value    = fp16(w[r][c] - dense'[r][c]),
// so every kept weight is reconstructed up to the fp16 rounding of its
// residual (half an fp16 ulp of the residual, plus one f32 rounding).
//
// Components (CSR over the N x K weight matrix):
//   row_ptr  int32  [N + 1]  outliers of row r are entries
//                            [row_ptr[r], row_ptr[r+1]); row_ptr[0] = 0
//   col_idx  uint16 [nnz]    when K <= 65536, else int32 [nnz];
//                            little-endian, strictly increasing within a row
//   values   fp16   [nnz]    the residuals above
//
// Selection takes round(fraction * N * K) weights over the whole matrix (not
// per row: outliers cluster in a few rows and columns) with the largest key:
//   Magnitude    |w|
//   Sensitivity  |w| * sqrt(E[x_c^2]) (the weight's share of the output
//                error), |w| when no statistics are given
//   IQR          per row, how far w lies outside the fence
//                [Q1 - f IQR, Q3 + f IQR] in units of IQR; only weights
//                outside the fence are candidates, the fraction caps them
// Ties are broken towards the lower row-major index, so the pattern is
// deterministic.
//
// Recipe for dense + sparse with any dense quantizer X:
//   pattern = selectOutliers(w, ...);
//   masked  = maskOutliers(w, ..., pattern);   // outliers no longer set
//                                              // the dense ranges/centroids
//   dense'  = dequantizeX(quantizeX(masked, ...), ...);
//   csr     = buildSparseResidual(w, dense', ..., pattern);
// quantizeDenseAndSparse() runs exactly that with a callback.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_QUANT_SPARSEOUTLIERS_H
#define MIXQ_QUANT_SPARSEOUTLIERS_H

#include "quant/CalibrationStats.h"

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace mixq::quant {

enum class OutlierSelection { Magnitude, Sensitivity, IQR };

struct SparseParams {
  /// Fraction of all weights kept as outliers, in [0, 1).
  double fraction = 0.005;
  OutlierSelection selection = OutlierSelection::Magnitude;
  /// Fence width f of the IQR selection, > 0.
  float iqrFactor = 3.0f;
};

/// Positions of the outliers: columns of row r are
/// cols[rowPtr[r] .. rowPtr[r+1]), increasing.
struct OutlierPattern {
  std::vector<int32_t> rowPtr;
  std::vector<int32_t> cols;
  int64_t size() const { return static_cast<int64_t>(cols.size()); }
};

/// The stored components (see the file comment).
struct SparseCSR {
  std::vector<int32_t> rowPtr;
  std::vector<uint8_t> colIdx; ///< nnz * sparseColIndexBytes(K) bytes
  std::vector<uint16_t> values;
  int64_t nnz() const { return static_cast<int64_t>(values.size()); }
};

/// 2 when column indices fit uint16 (K <= 65536), else 4.
unsigned sparseColIndexBytes(int64_t cols);
/// Column of entry i.
int64_t sparseColumn(const SparseCSR &csr, int64_t cols, int64_t i);

std::string validateSparse(const SparseParams &params, int64_t rows,
                           int64_t cols);

/// Checks a stored CSR before it is used to index a rows x cols matrix: row
/// pointers from 0 to nnz, non-decreasing, column indices strictly
/// increasing within a row and below `cols`. Returns the problem, naming
/// outlier_row_ptr or outlier_col_idx after `scheme` ("sparse: ..."), or
/// "" when it is sound.
std::string validateCSR(const SparseCSR &csr, int64_t rows, int64_t cols,
                        const std::string &scheme);

/// The outliers of `weights` per `params`; `sensitivity` is optional.
OutlierPattern selectOutliers(const float *weights, int64_t rows, int64_t cols,
                              const SparseParams &params,
                              const Sensitivity *sensitivity = nullptr);

/// The min(count, #candidates) positions with the largest keys, candidates
/// being the keys >= 0 (a negative or NaN key is never selected); ties go to
/// the lower row-major index. Linear time: a histogram pass and a pass that
/// keeps about `count` keys, among which the exact threshold is found.
OutlierPattern selectLargest(const float *keys, int64_t rows, int64_t cols,
                             int64_t count);

/// Fills keys[0 .. cols) with the keys of one row.
using RowKeyFunction = std::function<void(int64_t row, float *keys)>;

/// selectLargest over keys computed a row at a time, so that no N x K key
/// matrix is stored: `rowKeys` runs twice per row, possibly on several
/// threads at once, and must give the same keys both times.
OutlierPattern selectLargest(int64_t rows, int64_t cols, int64_t count,
                             const RowKeyFunction &rowKeys);

//===----------------------------------------------------------------------===//
// The passes of selectLargest, for quantizers that fuse them with their own
// work on the same rows (MixedQuantizer.cpp): a histogram of the keys by
// bucket finds the bucket of the count-th largest key, every key in or above
// it is kept, and among those few the exact threshold and ties are settled.
//===----------------------------------------------------------------------===//

/// A bucket is the top 16 bits of a candidate key's bit pattern: the sign is
/// 0, so it is 8 bits of exponent and 7 of mantissa, 1/128 of an octave.
/// Bucket kNonCandidateBucket collects the keys that are not candidates.
constexpr uint32_t kNonCandidateBucket = (0x7F800000u >> 16) + 1;
constexpr uint32_t kKeyBuckets = kNonCandidateBucket + 1;

/// The bucket of `key` (-0 is +0; negative and NaN keys are not
/// candidates), without branches so that histogram loops stay tight.
inline uint32_t keyBucket(float key) {
  uint32_t bits;
  std::memcpy(&bits, &key, 4);
  bits = bits == 0x80000000u ? 0u : bits;
  return bits <= 0x7F800000u ? bits >> 16 : kNonCandidateBucket;
}

/// Keys per bucket, kKeyBuckets entries.
using KeyHistogram = std::vector<int64_t>;

/// ++counts[keyBucket(k)] for the `n` keys.
void addToKeyHistogram(const float *keys, int64_t n, uint32_t *counts);

/// The histogram of a matrix's keys, computed a row at a time (in parallel).
KeyHistogram keyHistogram(int64_t rows, int64_t cols,
                          const RowKeyFunction &rowKeys);

/// The largest bucket b > 0 whose candidates and those of higher buckets
/// number at least `count`; 0 when all candidates together are fewer.
uint32_t keyBucketThreshold(const KeyHistogram &hist, int64_t count);

/// A kept key: its column and its order-preserving bit pattern.
struct KeyEntry {
  int32_t col;
  uint32_t bits;
};

/// Appends the candidate keys of one row that lie in bucket `bucket` or
/// above, in column order.
void gatherKeys(const float *keys, int64_t cols, uint32_t bucket,
                std::vector<KeyEntry> &out);

/// Fills `entries` with every row's kept keys in row order, row r's at
/// [rowStart[r], rowStart[r + 1]), gathered on contiguous row ranges in
/// parallel (at least `minRows` per range): `gatherRange(begin, end, out,
/// rowEnd)` appends the keys of rows [begin, end) to the empty `out`, each
/// row's in column order, and sets rowEnd[r + 1] to out.size() after row r.
using KeyRangeGatherer =
    std::function<void(int64_t begin, int64_t end, std::vector<KeyEntry> &out,
                       std::vector<int64_t> &rowEnd)>;
void gatherKeysInRowOrder(int64_t rows, int64_t minRows,
                          const KeyRangeGatherer &gatherRange,
                          std::vector<KeyEntry> &entries,
                          std::vector<int64_t> &rowStart);

/// selectLargest(count) of a matrix from its kept keys: those of row r are
/// entries[rowStart[r] .. rowStart[r + 1]). They must be all candidates at
/// or above some bucket, and at least `count` of them unless they are all
/// the candidates (what gatherKeys with keyBucketThreshold's bucket keeps).
OutlierPattern selectFromKeys(const std::vector<KeyEntry> &entries,
                              const std::vector<int64_t> &rowStart,
                              int64_t count);

/// A copy of `weights` with each outlier clamped into the range of the
/// non-outliers of its row (0 for a row of outliers only).
std::vector<float> maskOutliers(const float *weights, int64_t rows,
                                int64_t cols, const OutlierPattern &pattern);

/// CSR of the residuals w - dense at the pattern's positions.
SparseCSR buildSparseResidual(const float *weights, const float *dense,
                              int64_t rows, int64_t cols,
                              const OutlierPattern &pattern);

/// Adds the stored residuals to a dense reconstruction, in place.
void addSparse(const SparseCSR &csr, int64_t rows, int64_t cols, float *dense);

/// Dense + sparse with any dense scheme: `denseRoundTrip` gets the masked
/// matrix and returns its dense reconstruction (and may keep the packed
/// dense buffers). Returns the CSR; `reconstruction`, when given, receives
/// dense + sparse.
SparseCSR quantizeDenseAndSparse(
    const float *weights, int64_t rows, int64_t cols,
    const SparseParams &params, const Sensitivity *sensitivity,
    const std::function<std::vector<float>(const std::vector<float> &)>
        &denseRoundTrip,
    std::vector<float> *reconstruction = nullptr);

/// 8 * (bytes of row_ptr, col_idx and values) / (rows * cols).
double bitsPerWeight(const SparseCSR &csr, int64_t rows, int64_t cols);

} // namespace mixq::quant

#endif // MIXQ_QUANT_SPARSEOUTLIERS_H
