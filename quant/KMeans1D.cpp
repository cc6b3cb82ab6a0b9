//===- KMeans1D.cpp - fast weighted 1-D k-means ---------------------------===//
#include "quant/KMeans1D.h"

#include <algorithm>
#include <cstring>

using namespace mixq::quant;

/// Order-preserving unsigned image of a float (-0 maps like +0).
static uint32_t sortKey(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  if (bits == 0x80000000u)
    bits = 0;
  return bits & 0x80000000u ? ~bits : bits | 0x80000000u;
}

/// Stable LSD radix sort of `order` by `keys`, 8 bits per pass; passes
/// where every key has the same byte are skipped. Being stable from the
/// identity order, equal values stay in position order, so the result is
/// the one a (value, position) comparison sort gives, at a fraction of its
/// cost (this sort is most of the k-means time).
static void radixSort(std::vector<uint32_t> &keys, std::vector<int32_t> &order,
                      std::vector<uint32_t> &keyTemp,
                      std::vector<int32_t> &orderTemp) {
  size_t n = keys.size();
  keyTemp.resize(n);
  orderTemp.resize(n);
  for (unsigned shift = 0; shift < 32; shift += 8) {
    size_t count[257] = {};
    for (uint32_t k : keys)
      ++count[((k >> shift) & 0xFFu) + 1];
    if (count[((keys[0] >> shift) & 0xFFu) + 1] == n)
      continue;
    for (int b = 0; b < 256; ++b)
      count[b + 1] += count[b];
    for (size_t i = 0; i < n; ++i) {
      size_t to = count[(keys[i] >> shift) & 0xFFu]++;
      keyTemp[to] = keys[i];
      orderTemp[to] = order[i];
    }
    keys.swap(keyTemp);
    order.swap(orderTemp);
  }
}

void SortedSamples::assign(const float *values, const float *weights,
                           int64_t n) {
  keys.resize(n);
  order.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    keys[i] = sortKey(values[i]);
    order[i] = static_cast<int32_t>(i);
  }
  if (n > 0)
    radixSort(keys, order, keyTemp, orderTemp);
  samples.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    int32_t p = order[i];
    samples[i] = {values[p], weights ? weights[p] : 1.0f, p};
  }
  prefixWeight.assign(n + 1, 0.0);
  prefixWeighted.assign(n + 1, 0.0);
  double weight = 0.0, weighted = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    weight += samples[i].weight;
    weighted += static_cast<double>(samples[i].weight) * samples[i].value;
    prefixWeight[i + 1] = weight;
    prefixWeighted[i + 1] = weighted;
  }
}

double SortedSamples::mean(int64_t a, int64_t b) const {
  double weight = prefixWeight[b] - prefixWeight[a];
  // Zero total weight (all-zero sensitivities) falls back to the plain
  // midpoint of the interval, which lies inside it.
  if (!(weight > 0.0))
    return 0.5 * (static_cast<double>(samples[a].value) + samples[b - 1].value);
  double m = (prefixWeighted[b] - prefixWeighted[a]) / weight;
  // Prefix-sum cancellation must not push the mean out of the interval.
  return std::clamp(m, static_cast<double>(samples[a].value),
                    static_cast<double>(samples[b - 1].value));
}

int64_t SortedSamples::upperBound(double x, int64_t a, int64_t b) const {
  auto it = std::upper_bound(samples.begin() + a, samples.begin() + b, x,
                             [](double v, const Sample &s) {
                               return v < static_cast<double>(s.value);
                             });
  return it - samples.begin();
}

int64_t SortedSamples::quantile(double fraction, int64_t a, int64_t b) const {
  double target =
      prefixWeight[a] + fraction * (prefixWeight[b] - prefixWeight[a]);
  // First i in [a, b) whose cumulative weight prefixWeight[i + 1] > target.
  auto it = std::upper_bound(prefixWeight.begin() + a + 1,
                             prefixWeight.begin() + b + 1, target);
  return std::min<int64_t>(it - prefixWeight.begin() - 1, b - 1);
}

Clusters mixq::quant::kmeans1D(const SortedSamples &samples, int64_t begin,
                               int64_t end, int k, int maxIterations,
                               double emptyCentroid) {
  Clusters result;
  result.centroids.assign(k, emptyCentroid);
  result.bounds.assign(k + 1, end);
  result.bounds[0] = begin;
  if (begin >= end)
    return result;
  for (int j = 0; j < k; ++j)
    result.centroids[j] =
        samples.value(samples.quantile((j + 0.5) / k, begin, end));
  std::vector<int64_t> bounds(k + 1);
  bounds[0] = begin;
  bounds[k] = end;
  for (int iteration = 0; iteration <= maxIterations; ++iteration) {
    // Centroids stay sorted, so each boundary search starts at the last.
    for (int j = 1; j < k; ++j) {
      double mid = 0.5 * (result.centroids[j - 1] + result.centroids[j]);
      bounds[j] = samples.upperBound(mid, bounds[j - 1], end);
    }
    if (iteration > 0 && bounds == result.bounds)
      break;
    result.bounds = bounds;
    for (int j = 0; j < k; ++j)
      if (bounds[j] < bounds[j + 1])
        result.centroids[j] = samples.mean(bounds[j], bounds[j + 1]);
  }
  return result;
}

std::vector<float>
mixq::quant::kmeansColumnWeights(const Sensitivity *sensitivity) {
  if (!sensitivity || sensitivity->meanSquare.empty())
    return {};
  const std::vector<float> &h = sensitivity->meanSquare;
  double mean = 0.0;
  for (float v : h)
    mean += v;
  mean /= static_cast<double>(h.size());
  if (!(mean > 0.0))
    return {};
  float floor = static_cast<float>(1e-6 * mean);
  std::vector<float> weights(h.size());
  for (size_t i = 0; i < h.size(); ++i)
    weights[i] = std::max(h[i], floor);
  return weights;
}
