//===- QuantTestUtil.h - shared helpers of the quantizer tests --*- C++ -*-===//
//
// A deterministic heavy-tailed matrix shaped like mixq-synth's weights:
// Student-t(4) entries (closed-form inverse CDF of a 32-bit uniform from
// std::mt19937, whose output is fixed by the standard), log-normal row
// scales (sigma 0.4), mild log-normal column scales (sigma 0.1) and ~0.5%
// outlier input columns scaled 5-20x.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_TEST_UNIT_QUANTTESTUTIL_H
#define MIXQ_TEST_UNIT_QUANTTESTUTIL_H

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace mixq::quant::testing {

/// Uniform in (0, 1) from 32 random bits.
inline double unitOpen(std::mt19937 &rng) {
  return (static_cast<double>(rng()) + 0.5) / 4294967296.0;
}

/// Student-t with 4 degrees of freedom at probability p.
inline double studentT4(double p) {
  double alpha = 4.0 * p * (1.0 - p);
  double root = std::sqrt(alpha);
  double t = 2.0 * std::sqrt(std::cos(std::acos(root) / 3.0) / root - 1.0);
  return p < 0.5 ? -t : t;
}

/// Standard normal by Box-Muller.
inline double gaussian(std::mt19937 &rng) {
  double u = unitOpen(rng), v = unitOpen(rng);
  return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * v);
}

inline std::vector<float> heavyTailedMatrix(int64_t rows, int64_t cols,
                                            uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<double> rowScale(rows), colScale(cols);
  for (double &s : rowScale)
    s = std::exp(0.4 * gaussian(rng));
  for (double &s : colScale)
    s = std::exp(0.1 * gaussian(rng));
  int64_t outliers = std::max<int64_t>(1, cols / 200);
  for (int64_t i = 0; i < outliers; ++i)
    colScale[rng() % cols] *= 5.0 * std::exp(std::log(4.0) * unitOpen(rng));
  double rms = 1.0 / std::sqrt(static_cast<double>(cols));
  std::vector<float> w(rows * cols);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      w[r * cols + c] =
          static_cast<float>(studentT4(unitOpen(rng)) * rowScale[r] *
                             colScale[c] * rms / std::sqrt(2.0));
  return w;
}

/// ||a - b||_F / ||a||_F.
inline double relativeError(const std::vector<float> &a,
                            const std::vector<float> &b) {
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(a[i]) * a[i];
  }
  return den > 0.0 ? std::sqrt(num / den) : std::sqrt(num);
}

} // namespace mixq::quant::testing

#endif // MIXQ_TEST_UNIT_QUANTTESTUTIL_H
