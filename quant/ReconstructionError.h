//===- ReconstructionError.h - relative Frobenius error sums ----*- C++ -*-===//
//
// ||W - W'||_F / ||W||_F, the error `mixq-compile --report` prints, from
// sums over rows: each row's squares are summed in 16 interleaved float
// lanes (one running sum is a chain of dependent adds, slow enough to matter
// on a 7B model), and the rows' sums are added in double in row order, so
// the value does not depend on the thread count or the CPU. Schemes that
// reconstruct a row at a time (mixedErrorSums) use the same row sums, so that
// their fused error equals the one computed from a full dequantization.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_QUANT_RECONSTRUCTIONERROR_H
#define MIXQ_QUANT_RECONSTRUCTIONERROR_H

#include <cstdint>
#include <functional>

namespace mixq::quant {

struct ErrorSums {
  double diff = 0.0; ///< sum (w - w')^2
  double norm = 0.0; ///< sum w^2

  ErrorSums &operator+=(const ErrorSums &other) {
    diff += other.diff;
    norm += other.norm;
    return *this;
  }
  /// sqrt(diff / norm), or sqrt(diff) for an all-zero W.
  double relative() const;
};

/// The sums over `n` values of one row.
ErrorSums rowErrorSums(const float *original, const float *reconstructed,
                       int64_t n);

/// The sum of per-row sums, added in row order whatever the threads:
/// `rowRange(begin, end, sums)` runs on contiguous ranges in parallel and
/// sets sums[r - begin] for each row r of [begin, end).
using RowRangeErrorSums =
    std::function<void(int64_t begin, int64_t end, ErrorSums *sums)>;
ErrorSums sumRowsInOrder(int64_t rows, const RowRangeErrorSums &rowRange);

/// The sums over a rows x cols matrix (rows in parallel).
ErrorSums matrixErrorSums(const float *original, const float *reconstructed,
                          int64_t rows, int64_t cols);

} // namespace mixq::quant

#endif // MIXQ_QUANT_RECONSTRUCTIONERROR_H
