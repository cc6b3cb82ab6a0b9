//===- ReconstructionError.cpp - relative Frobenius error sums ------------===//
#include "quant/ReconstructionError.h"
#include "quant/Parallel.h"
#include "quant/Vectorize.h"

#include <cmath>
#include <vector>

using namespace mixq::quant;

double ErrorSums::relative() const {
  return norm > 0.0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

MIXQ_VECTOR_CLONES
ErrorSums mixq::quant::rowErrorSums(const float *original,
                                    const float *reconstructed, int64_t n) {
  // Float lanes (a row's sums need no more) added as a fixed tree: the
  // same on every CPU, and a fraction of the cost of double sums.
  constexpr int64_t kLanes = 16;
  float diffs[kLanes] = {}, norms[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int64_t j = 0; j < kLanes; ++j) {
      float x = original[i + j], d = x - reconstructed[i + j];
      diffs[j] += d * d;
      norms[j] += x * x;
    }
  for (; i < n; ++i) {
    float x = original[i], d = x - reconstructed[i];
    diffs[0] += d * d;
    norms[0] += x * x;
  }
  for (int64_t width = kLanes / 2; width > 0; width /= 2)
    for (int64_t j = 0; j < width; ++j) {
      diffs[j] += diffs[j + width];
      norms[j] += norms[j + width];
    }
  return {diffs[0], norms[0]};
}

ErrorSums mixq::quant::sumRowsInOrder(int64_t rows,
                                      const RowRangeErrorSums &rowRange) {
  std::vector<ErrorSums> perRow(rows);
  parallelFor(rows, [&](int64_t begin, int64_t end) {
    rowRange(begin, end, perRow.data() + begin);
  });
  ErrorSums sums;
  for (const ErrorSums &row : perRow)
    sums += row;
  return sums;
}

ErrorSums mixq::quant::matrixErrorSums(const float *original,
                                       const float *reconstructed, int64_t rows,
                                       int64_t cols) {
  return sumRowsInOrder(rows, [&](int64_t begin, int64_t end, ErrorSums *sums) {
    for (int64_t r = begin; r < end; ++r)
      sums[r - begin] =
          rowErrorSums(original + r * cols, reconstructed + r * cols, cols);
  });
}
