//===- LUTQuantizerTest.cpp - per-row codebooks and 1-D k-means -----------===//
//
// The k-means traces are worked by hand from KMeans1D.h: initial centroids
// at the weighted quantiles (j + 1/2) / k (the first sample whose cumulative
// weight exceeds that share), boundaries at centroid midpoints (a sample on
// a midpoint stays below), centroids = weighted means of the intervals.
//===----------------------------------------------------------------------===//
#include "quant/LUTQuantizer.h"
#include "quant/FloatFormats.h"
#include "quant/KMeans1D.h"
#include "quant/Parallel.h"
#include "test/unit/QuantTestUtil.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace mixq::quant;
using namespace mixq::quant::testing;

namespace {

std::vector<float> lutValues(const LUTQuantized &q) {
  std::vector<float> values;
  for (uint16_t h : q.lut)
    values.push_back(halfBitsToFloat(h));
  return values;
}

TEST(LUTQuantizerTest, OneBitByHand) {
  // Row {10, 0, 12, 1, 13, 2, 11, 3}, sorted {0, 1, 2, 3, 10, 11, 12, 13}.
  // Init: share 1/4 of 8 = 2 -> sorted[2] = 2; share 3/4 = 6 -> sorted[6]
  // = 12. Midpoint 7: clusters {0..3} mean 1.5 and {10..13} mean 11.5;
  // midpoint 6.5 keeps them, done. Codes: >= 10 -> 1.
  const float w[8] = {10, 0, 12, 1, 13, 2, 11, 3};
  LUTParams p;
  p.bits = 1;
  LUTQuantized q = quantizeLUT(w, 1, 8, p);
  EXPECT_EQ(lutValues(q), (std::vector<float>{1.5f, 11.5f}));
  // Codes {1,0,1,0,1,0,1,0}, LSB first -> 0b01010101.
  EXPECT_EQ(q.codes, (std::vector<uint32_t>{0x55u}));
  EXPECT_EQ(
      dequantizeLUT(q, 1, 8, p),
      (std::vector<float>{11.5f, 1.5f, 11.5f, 1.5f, 11.5f, 1.5f, 11.5f, 1.5f}));
}

TEST(LUTQuantizerTest, WeightedByHand) {
  // Sorted {0, 1, 2, 3, 10, 11, 12, 13} with weights {1, 1, 1, 5, 1, 1, 1,
  // 1} (total 12, prefix 1 2 3 8 9 10 11 12). Init: share 3 -> first
  // prefix > 3 is at 3 -> value 3; share 9 -> value 11. Midpoint 7:
  // means (0 + 1 + 2 + 5 * 3) / 8 = 2.25 and 11.5; midpoint 6.875 keeps
  // the clusters.
  const float w[8] = {0, 1, 2, 3, 10, 11, 12, 13};
  Sensitivity s;
  s.meanSquare = {1, 1, 1, 5, 1, 1, 1, 1};
  LUTParams p;
  p.bits = 1;
  LUTQuantized q = quantizeLUT(w, 1, 8, p, &s);
  EXPECT_EQ(lutValues(q), (std::vector<float>{2.25f, 11.5f}));
  EXPECT_EQ(q.codes, (std::vector<uint32_t>{0xF0u}));
}

TEST(LUTQuantizerTest, ThreeBitsByHand) {
  // Pairs {10j, 10j + 1}, j = 0..7. Init share (j + 1/2) / 8 of 16 =
  // 2j + 1 -> sorted[2j + 1] = 10j + 1; midpoints 10j + 6 split the pairs;
  // means 10j + 0.5; midpoints 10j + 5.5 keep them. Code of a pair = j.
  std::vector<float> w;
  for (int j = 0; j < 8; ++j) {
    w.push_back(10.0f * j);
    w.push_back(10.0f * j + 1);
  }
  LUTParams p;
  p.bits = 3;
  LUTQuantized q = quantizeLUT(w.data(), 1, 16, p);
  EXPECT_EQ(lutValues(q), (std::vector<float>{0.5f, 10.5f, 20.5f, 30.5f, 40.5f,
                                              50.5f, 60.5f, 70.5f}));
  // Codes {0,0,1,1,...,7,7} at bits 3i. Word 0: 1<<6 | 1<<9 | 2<<12 |
  // 2<<15 | 3<<18 | 3<<21 | 4<<24 | 4<<27 | (5 & 3)<<30 = 0x646D2240.
  // Word 1: 5>>2 | 5<<1 | 6<<4 | 6<<7 | 7<<10 | 7<<13 = 0xFF6B.
  EXPECT_EQ(q.codes, (std::vector<uint32_t>{0x646D2240u, 0x0000FF6Bu}));
  EXPECT_DOUBLE_EQ(bitsPerWeight(q, 1, 16), (2 * 32 + 8 * 16) / 16.0);
}

TEST(LUTQuantizerTest, NearestCentroidTiesGoDown) {
  const float c[4] = {0.0f, 1.0f, 1.0f, 4.0f};
  EXPECT_EQ(nearestCentroid(0.5f, c, 4), 0);
  EXPECT_EQ(nearestCentroid(0.51f, c, 4), 1);
  EXPECT_EQ(nearestCentroid(2.5f, c, 4), 2);
  EXPECT_EQ(nearestCentroid(2.6f, c, 4), 3);
  EXPECT_EQ(nearestCentroid(-7.0f, c, 4), 0);
}

/// Plain O(n k) weighted Lloyd from the same initialization, as a
/// reference for the interval/prefix-sum implementation.
std::vector<double> referenceKMeans(std::vector<float> x, int k) {
  std::sort(x.begin(), x.end());
  int64_t n = static_cast<int64_t>(x.size());
  std::vector<double> c(k);
  for (int j = 0; j < k; ++j)
    c[j] = x[std::min<int64_t>(n - 1, int64_t((j + 0.5) / k * n))];
  for (int it = 0; it < 200; ++it) {
    std::vector<double> sum(k, 0.0), count(k, 0.0);
    for (float v : x) {
      int j = 0;
      while (j + 1 < k && v > 0.5 * (c[j] + c[j + 1]))
        ++j;
      sum[j] += v;
      count[j] += 1;
    }
    std::vector<double> next = c;
    for (int j = 0; j < k; ++j)
      if (count[j] > 0)
        next[j] = sum[j] / count[j];
    if (next == c)
      break;
    c = next;
  }
  return c;
}

TEST(LUTQuantizerTest, KMeansMatchesPlainLloyd) {
  std::vector<float> w = heavyTailedMatrix(8, 300, 17);
  for (int k : {2, 4, 8, 16})
    for (int64_t r = 0; r < 8; ++r) {
      std::vector<float> row(w.begin() + r * 300, w.begin() + (r + 1) * 300);
      SortedSamples samples;
      samples.assign(row.data(), nullptr, 300);
      Clusters c = kmeans1D(samples, 0, 300, k, 200);
      std::vector<double> ref = referenceKMeans(row, k);
      for (int j = 0; j < k; ++j)
        EXPECT_NEAR(c.centroids[j], ref[j], 1e-6) << "k " << k << " j " << j;
    }
}

TEST(LUTQuantizerTest, CodesAreNearestAndErrorFallsWithBits) {
  const int64_t rows = 32, cols = 512;
  std::vector<float> w = heavyTailedMatrix(rows, cols, 19);
  double previous = 1.0;
  for (unsigned bits : {2u, 3u, 4u}) {
    LUTParams p;
    p.bits = bits;
    ASSERT_EQ(validateLUT(p, rows, cols), "");
    LUTQuantized q = quantizeLUT(w.data(), rows, cols, p);
    std::vector<float> r = dequantizeLUT(q, rows, cols, p);
    unsigned k = 1u << bits;
    for (int64_t i = 0; i < rows * cols; ++i) {
      const uint16_t *lut = q.lut.data() + (i / cols) * k;
      for (unsigned j = 0; j < k; ++j)
        ASSERT_LE(std::fabs(w[i] - r[i]),
                  std::fabs(w[i] - halfBitsToFloat(lut[j])));
    }
    double error = relativeError(w, r);
    EXPECT_LT(error, previous);
    previous = error;
    EXPECT_DOUBLE_EQ(bitsPerWeight(q, rows, cols), bits + 16.0 * k / cols);
  }
}

TEST(LUTQuantizerTest, ThreadCountDoesNotMatter) {
  const int64_t rows = 40, cols = 256;
  std::vector<float> w = heavyTailedMatrix(rows, cols, 23);
  Sensitivity s;
  s.meanSquare.resize(cols);
  for (int64_t c = 0; c < cols; ++c)
    s.meanSquare[c] = 0.5f + float(c % 7);
  LUTParams p;
  setQuantThreadCount(1);
  LUTQuantized one = quantizeLUT(w.data(), rows, cols, p, &s);
  setQuantThreadCount(4);
  LUTQuantized four = quantizeLUT(w.data(), rows, cols, p, &s);
  setQuantThreadCount(0);
  EXPECT_EQ(one.codes, four.codes);
  EXPECT_EQ(one.lut, four.lut);
}

TEST(LUTQuantizerTest, Validate) {
  LUTParams p;
  p.bits = 9;
  EXPECT_NE(validateLUT(p, 1, 1).find("lut bits"), std::string::npos);
  p.bits = 3;
  p.maxIterations = -1;
  EXPECT_NE(validateLUT(p, 1, 1).find("maxIterations"), std::string::npos);
}

} // namespace
