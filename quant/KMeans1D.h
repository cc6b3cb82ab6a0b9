//===- KMeans1D.h - fast weighted 1-D k-means -------------------*- C++ -*-===//
//
// In one dimension the clusters of Lloyd's algorithm are intervals of the
// sorted samples, separated at the midpoints between consecutive centroids.
// So after one O(n log n) sort and prefix sums of w and w*x, every Lloyd
// iteration costs O(k log n) (a binary search per boundary and an O(1)
// interval mean per cluster) instead of O(n k). The LUT and bit-plane
// quantizers run this per output row.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_QUANT_KMEANS1D_H
#define MIXQ_QUANT_KMEANS1D_H

#include "quant/CalibrationStats.h"

#include <cstdint>
#include <vector>

namespace mixq::quant {

/// The samples of one row sorted by value, with their original positions and
/// prefix sums of the sample weights.
class SortedSamples {
public:
  /// `weights` may be null (all 1).
  void assign(const float *values, const float *weights, int64_t n);

  int64_t size() const { return static_cast<int64_t>(samples.size()); }
  float value(int64_t i) const { return samples[i].value; }
  int32_t position(int64_t i) const { return samples[i].position; }
  /// Weighted mean of samples [a, b); requires a < b.
  double mean(int64_t a, int64_t b) const;
  /// Index in [a, b) of the sample at the weighted quantile `fraction` of
  /// the range: the first whose cumulative weight exceeds that fraction.
  int64_t quantile(double fraction, int64_t a, int64_t b) const;
  /// First sample index in [a, b) whose value is > x (b when none).
  int64_t upperBound(double x, int64_t a, int64_t b) const;

private:
  struct Sample {
    float value;
    float weight;
    int32_t position;
  };
  std::vector<Sample> samples;
  // Scratch of the radix sort, kept to avoid reallocating per row.
  std::vector<uint32_t> keys, keyTemp;
  std::vector<int32_t> order, orderTemp;
  std::vector<double> prefixWeight;   ///< size n + 1
  std::vector<double> prefixWeighted; ///< sum of weight * value, size n + 1
};

/// Result of clustering samples [begin, end) into k intervals:
/// cluster j is [bounds[j], bounds[j+1]) with centroid centroids[j]
/// (non-decreasing). An empty cluster keeps its initial centroid.
struct Clusters {
  std::vector<double> centroids;
  std::vector<int64_t> bounds; ///< k + 1 entries
};

/// Weighted Lloyd iterations from the weighted quantiles (j + 1/2) / k,
/// until no boundary moves or `maxIterations`. Deterministic. An empty
/// range yields k clusters at `emptyCentroid`.
Clusters kmeans1D(const SortedSamples &samples, int64_t begin, int64_t end,
                  int k, int maxIterations, double emptyCentroid = 0.0);

/// The per-column k-means weights for a row: E[x^2] floored at 1e-6 of its
/// mean, so that channels never seen during calibration still count a
/// little; empty (uniform weights) without statistics or when all are 0.
std::vector<float> kmeansColumnWeights(const Sensitivity *sensitivity);

} // namespace mixq::quant

#endif // MIXQ_QUANT_KMEANS1D_H
