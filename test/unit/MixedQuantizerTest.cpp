//===- MixedQuantizerTest.cpp - 2/4/16-bit mixed precision ----------------===//
#include "quant/MixedQuantizer.h"
#include "quant/AffineQuantizer.h"
#include "quant/FloatFormats.h"
#include "quant/Parallel.h"
#include "test/unit/QuantTestUtil.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

using namespace mixq::quant;
using namespace mixq::quant::testing;

namespace {

/// 1 x 32, two groups of 16, one block, one high group, one outlier, no
/// clip search, no budget.
MixedParams tinyParams() {
  MixedParams p;
  p.groupSize = 16;
  p.highFraction = 0.5;
  p.targetBitsPerWeight = 0.0;
  p.outlierFraction = 1.0 / 32;
  p.blockGroups = 2;
  p.clipGridSize = 1;
  return p;
}

// g0 = {-8, -7, ..., 7}: the high group, its 2-bit error is much the larger
//   (scores in SensitivityPicksTheHighGroup and
//   CandidateOutliersCountInTheRanking).
// g1 = {0, 0.5, 1, 1.5} x 4 with the last value 6.
std::vector<float> tinyMatrix() {
  std::vector<float> w(32);
  for (int k = 0; k < 16; ++k) {
    w[k] = static_cast<float>(k - 8);
    w[16 + k] = 0.5f * (k % 4);
  }
  w[31] = 6.0f;
  return w;
}

/// Calibration statistics for tinyMatrix: E[x^2] = 1 on g0's columns, 1000
/// on g1's.
Sensitivity g1SensitiveStats() {
  Sensitivity s;
  s.meanSquare.assign(32, 1.0f);
  for (int k = 16; k < 32; ++k)
    s.meanSquare[k] = 1000.0f;
  return s;
}

/// Groups of 16, all low (2 bits), no outliers, no clip search, `blockGroups`
/// groups a second-order block: the second-order search tests.
MixedParams lowGroupParams(int64_t blockGroups) {
  MixedParams p;
  p.groupSize = 16;
  p.highFraction = 0.0;
  p.targetBitsPerWeight = 0.0;
  p.outlierFraction = 0.0;
  p.blockGroups = blockGroups;
  p.clipGridSize = 1;
  return p;
}

/// The high groups of a quantized matrix at group 64, lo 2, hi 4 (4 words
/// of extra codes a group): high_codes' rows but the last, the zero row.
int64_t highGroupsOf(const MixedQuantized &q) {
  return int64_t(q.highCodes.size() / (64 * 2 / 32)) - 1;
}

TEST(MixedQuantizerTest, TinyMatrixByHand) {
  // High group g0 (see CandidateOutliersCountInTheRanking). Outlier: the
  // largest |w| of the low group g1 is w[31] = 6.
  // First order: g0 range 15 (lo -8); g1 over its inliers and 0: range 1.5
  //   (lo 0).
  // Second order (one block), over the scales on the 4-bit grid: g0 15 /
  //   15 = 1, g1 1.5 / (3 << 2) = 0.125. smin = 0.125 (0x3000); step =
  //   0.875 / 255 = 0.0034314 -> fp16 1799 * 2^-19 (0x1B07). Scale codes:
  //   g0 round(0.875 / step = 255.0003) = 255, g1 0.
  // g0 (4 bits): scale = fp16(fma(255, step, 0.125) = 0.9999867) = 1; zero
  //   code round(8 / 1) = 8 (zero unit 1); q = floor(w + 8.5) = k, w' =
  //   (k - 8) * 1 = w exactly, so neither search moves a code.
  // g1 (2 bits): scale 0.125, zero code 0; codes widened to 4 bits, q =
  //   floor(w / (0.125 * 4) + 0.5) = {0, 1, 2, 3}, w' = (q << 2) * 0.125,
  //   exact for the inliers; and 6 -> clamp(12.5) = 3 -> w' 1.5, residual
  //   6 - 1.5 = 4.5 (fp16 0x4480).
  MixedParams p = tinyParams();
  ASSERT_EQ(validateMixed(p, 1, 32), "");
  EXPECT_EQ(mixedHighGroupCount(p, 1, 32), 1);
  std::vector<float> w = tinyMatrix();
  MixedQuantized q = quantizeMixed(w.data(), 1, 32, p);

  // Low plane: g0 contributes k >> 2 = {0 x4, 1 x4, 2 x4, 3 x4} ->
  // 0xFFAA5500; g1 codes {0, 1, 2, 3} x 4 -> 0xE4 per byte.
  EXPECT_EQ(q.lowCodes, (std::vector<uint32_t>{0xFFAA5500u, 0xE4E4E4E4u}));
  // High plane: g0's k & 3 = {0, 1, 2, 3} x 4, then the low groups' row of
  // zeros.
  EXPECT_EQ(q.highCodes, (std::vector<uint32_t>{0xE4E4E4E4u, 0u}));
  EXPECT_EQ(q.highGroupStart, (std::vector<int32_t>{0}));
  EXPECT_EQ(q.bitMap, (std::vector<uint32_t>{0x1u}));
  EXPECT_EQ(q.scaleCodes, (std::vector<uint8_t>{255, 0}));
  EXPECT_EQ(q.zeroCodes, (std::vector<uint32_t>{0x08u}));
  EXPECT_EQ(q.blockParams, (std::vector<uint16_t>{0x3000, 0x1B07}));
  EXPECT_EQ(q.outliers.rowPtr, (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(q.outliers.colIdx, (std::vector<uint8_t>{31, 0}));
  EXPECT_EQ(q.outliers.values, (std::vector<uint16_t>{0x4480}));
  EXPECT_TRUE(isMixedHighGroup(q, 32, p, 0, 0));
  EXPECT_FALSE(isMixedHighGroup(q, 32, p, 0, 1));

  std::vector<float> expected(32);
  for (int k = 0; k < 16; ++k) {
    expected[k] = static_cast<float>(k - 8);
    expected[16 + k] = 0.5f * (k % 4);
  }
  expected[31] = 1.5f + 4.5f;
  EXPECT_EQ(dequantizeMixed(q, 1, 32, p), expected);

  // Bytes: low 8, high 4 + the zero row 4, high group starts 4, bit map 4,
  // scale codes 2, zero codes 4, block params 4, CSR 8 + 2 + 2 = 46 ->
  // 46 * 8 / 32.
  EXPECT_EQ(mixedStorageBytes(p, 1, 32, 1, 1), 46);
  EXPECT_DOUBLE_EQ(bitsPerWeight(q, 1, 32), 11.5);
}

TEST(MixedQuantizerTest, SensitivityPicksTheHighGroup) {
  // Without outliers, a group's score is its 2-bit error minus its 4-bit
  // estimate (no clip search in tinyParams):
  //   g0: s = 15 / 3 = 5, z = 8 / 5 = 1.6, levels {-8, -3, 2, 7}; the
  //     squared errors of -8..7 are 0 1 4 4 1 0 1 4 4 1 0 1 4 4 1 0 = 30;
  //     4-bit estimate 16 * (15 / 15)^2 / 12 = 1.33: score 28.67.
  //   g1: s = 6 / 3 = 2, z = 0: 0.5 -> 0, 1 -> 2, 1.5 -> 2 cost 0.25 + 1 +
  //     0.25 per {0, 0.5, 1, 1.5}, 6 is exact: 4 * 1.5 - 0.25 = 5.75;
  //     estimate 16 * 0.4^2 / 12 = 0.21: score 5.54.
  // E[x^2] = 1000 on g1's columns scales g1's score to 5537: g1 is high.
  MixedParams p = tinyParams();
  p.outlierFraction = 0.0;
  std::vector<float> w = tinyMatrix();
  MixedQuantized plain = quantizeMixed(w.data(), 1, 32, p);
  EXPECT_TRUE(isMixedHighGroup(plain, 32, p, 0, 0));
  EXPECT_FALSE(isMixedHighGroup(plain, 32, p, 0, 1));
  Sensitivity s = g1SensitiveStats();
  MixedQuantized q = quantizeMixed(w.data(), 1, 32, p, &s);
  EXPECT_FALSE(isMixedHighGroup(q, 32, p, 0, 0));
  EXPECT_TRUE(isMixedHighGroup(q, 32, p, 0, 1));
}

TEST(MixedQuantizerTest, CandidateOutliersCountInTheRanking) {
  // Same sensitivity, one outlier. Its key |w| sqrt(h) is largest for g1's
  // 6 (6 * 31.6 = 190, against 8 for g0's -8), so 6 is the candidate, and
  // without it g1 = {0, 0.5, 1, 1.5} is exact at 2 bits: score 0. g0 (score
  // 28.67 as above) is high, and the outlier is the 6.
  MixedParams p = tinyParams();
  std::vector<float> w = tinyMatrix();
  Sensitivity s = g1SensitiveStats();
  MixedQuantized q = quantizeMixed(w.data(), 1, 32, p, &s);
  EXPECT_TRUE(isMixedHighGroup(q, 32, p, 0, 0));
  EXPECT_FALSE(isMixedHighGroup(q, 32, p, 0, 1));
  EXPECT_EQ(q.outliers.colIdx, (std::vector<uint8_t>{31, 0}));
  // Without statistics the candidate is g0's -8 instead. Without it g0 (s =
  // 14 / 3, z = 1.5) has 2-bit error 25.7, score 25.7 - 1.33 against g1's
  // 5.54: g0 is high, and the outlier comes from the low group g1, its 6.
  MixedQuantized plain = quantizeMixed(w.data(), 1, 32, p);
  EXPECT_TRUE(isMixedHighGroup(plain, 32, p, 0, 0));
  EXPECT_EQ(plain.outliers.colIdx, (std::vector<uint8_t>{31, 0}));
}

TEST(MixedQuantizerTest, ZeroCodeSearchByHand) {
  // One low group of 16: -1.25, 1.75 and {-1, 0, 1} repeated. Range 3,
  // scale on the 4-bit grid 3 / 12 = 0.25 (fp16 exact, one group per
  // block: step 0, so every scale code gives it). The rounded zero code
  // is round(1.25 / 0.25) = 5, levels (4 q - 5) 0.25 = {-1.25, -0.25,
  // 0.75, 1.75}: every -1, 0, 1 is 0.25 off. Code 4 (levels {-1, 0, 1, 2})
  // fits them exactly and is 0.25 off only at -1.25 and 1.75, so the
  // search takes it (3 and 6 are worse).
  MixedParams p = lowGroupParams(/*blockGroups=*/1);
  std::vector<float> w(16);
  w[0] = -1.25f;
  w[1] = 1.75f;
  for (int k = 2; k < 16; ++k)
    w[k] = static_cast<float>(k % 3 - 1);
  MixedQuantized q = quantizeMixed(w.data(), 1, 16, p);
  EXPECT_EQ(q.zeroCodes, (std::vector<uint32_t>{4u}));
  EXPECT_EQ(q.blockParams, (std::vector<uint16_t>{0x3400, 0x0000}));
  std::vector<float> expected = w;
  expected[0] = -1.0f;
  expected[1] = 2.0f;
  EXPECT_EQ(dequantizeMixed(q, 1, 16, p), expected);
}

TEST(MixedQuantizerTest, ScaleCodeSearchByHand) {
  // Two low groups of 16 in one block. g0 is all 0: scale 0, smin = 0.
  // g1: -u, 2.00390625 and {u, -u, 0} repeated, u = 0.984375 = 252 / 256:
  // range 2.98828125, scale 2.98828125 / 12 = 255 / 1024, so step =
  // 2^-10 and the rounded scale code is 255 (all exact in fp16). With
  // zero code 4 (round(u / scale)) the levels are (4 q - 4) c / 1024 at
  // scale code c, and the 11 values +-u and the 2.0039 (q = 3) are off by
  //   c = 255: 0.01172 each, 12 x 1.373e-4        = 1.648e-3
  //   c = 254: 0.00781 (x 11), 0.01953 (x 1)      = 1.052e-3
  //   c = 253: 0.00391 (x 11), 0.02734 (x 1)      = 0.916e-3
  //   c = 252: 0 (x 11), 0.03516 (x 1)            = 1.236e-3
  // (zero codes 3 and 5 are a quarter level off), so the walk stops at 252
  // and keeps 253.
  MixedParams p = lowGroupParams(/*blockGroups=*/2);
  const float u = 0.984375f;
  std::vector<float> w(32, 0.0f);
  w[16] = -u;
  w[17] = 2.00390625f;
  for (int k = 2; k < 16; ++k)
    w[16 + k] = u * static_cast<float>(k % 3 - 1);
  MixedQuantized q = quantizeMixed(w.data(), 1, 32, p);
  EXPECT_EQ(q.blockParams, (std::vector<uint16_t>{0x0000, 0x1400}));
  EXPECT_EQ(q.scaleCodes, (std::vector<uint8_t>{0, 253}));
  EXPECT_EQ(q.zeroCodes, (std::vector<uint32_t>{0x40u}));
  std::vector<float> expected = w;
  const float level = 4.0f * 253.0f / 1024.0f;
  for (int k = 16; k < 32; ++k)
    expected[k] = level * std::round(w[k] / u);
  expected[17] = 2.0f * level;
  EXPECT_EQ(dequantizeMixed(q, 1, 32, p), expected);
}

/// Bytes of every buffer, counted independently of the library.
int64_t bufferBytes(const MixedQuantized &q) {
  return 4 * int64_t(q.lowCodes.size() + q.highCodes.size() +
                     q.highGroupStart.size() + q.bitMap.size() +
                     q.zeroCodes.size() + q.outliers.rowPtr.size()) +
         int64_t(q.scaleCodes.size() + q.outliers.colIdx.size()) +
         2 * int64_t(q.blockParams.size() + q.outliers.values.size());
}

struct Comparison {
  const char *name;
  double bits, error;
};

TEST(MixedQuantizerTest, DefaultsOnAHeavyTailedMatrix) {
  const int64_t rows = 256, cols = 1024;
  std::vector<float> w = heavyTailedMatrix(rows, cols, 1);
  MixedParams p;
  ASSERT_EQ(validateMixed(p, rows, cols), "");
  MixedQuantized q = quantizeMixed(w.data(), rows, cols, p);
  std::vector<float> r = dequantizeMixed(q, rows, cols, p);

  double bits = bitsPerWeight(q, rows, cols);
  EXPECT_DOUBLE_EQ(bits, 8.0 * bufferBytes(q) / (rows * cols));
  EXPECT_EQ(bufferBytes(q), mixedStorageBytes(p, rows, cols, highGroupsOf(q),
                                              q.outliers.nnz()));
  EXPECT_GE(bits, 2.8);
  EXPECT_LE(bits, 2.9);
  EXPECT_EQ(highGroupsOf(q), mixedHighGroupCount(p, rows, cols));
  EXPECT_EQ(q.outliers.nnz(), std::llround(p.outlierFraction * rows * cols));

  // Outliers only in low groups, and exact up to the fp16 residual.
  for (int64_t row = 0; row < rows; ++row)
    for (int32_t i = q.outliers.rowPtr[row]; i < q.outliers.rowPtr[row + 1];
         ++i) {
      int64_t c = sparseColumn(q.outliers, cols, i);
      EXPECT_FALSE(isMixedHighGroup(q, cols, p, row, c / 64));
      float residual = halfBitsToFloat(q.outliers.values[i]);
      float tolerance = std::fabs(residual) * std::ldexp(1.0f, -11) +
                        std::fabs(w[row * cols + c]) * std::ldexp(1.0f, -23);
      EXPECT_LE(std::fabs(r[row * cols + c] - w[row * cols + c]), tolerance);
    }

  double error = relativeError(w, r);
  std::vector<Comparison> affine;
  for (unsigned abits : {2u, 3u})
    // Not g32: on this Student-t matrix 3-bit g32 (4.0 bits/weight) is
    // better than mixed (docs/performance.md); on the synthetic llama2-7b
    // it is not.
    for (int64_t group : {64, 128})
      for (unsigned clip : {1u, 11u}) {
        AffineParams ap;
        ap.bits = abits;
        ap.groupSize = group;
        ap.clipGridSize = clip;
        AffineQuantized aq = quantizeAffine(w.data(), rows, cols, ap);
        double abpw = bitsPerWeight(aq, rows, cols);
        double aerr = relativeError(w, dequantizeAffine(aq, rows, cols, ap));
        std::printf("  affine %u-bit g%lld%s: %.4f bits/weight, relative "
                    "error %.4f\n",
                    abits, static_cast<long long>(group),
                    clip > 1 ? " mse-clip" : "", abpw, aerr);
        if (abits == 2 || abpw >= bits)
          EXPECT_LT(error, aerr) << abits << "-bit g" << group;
      }
  std::printf("  mixed defaults: %.4f bits/weight, relative error %.4f, "
              "%.1f%% high groups\n",
              bits, error, 100.0 * highGroupsOf(q) / (rows * cols / 64.0));
}

TEST(MixedQuantizerTest, ThreadCountDoesNotMatter) {
  const int64_t rows = 48, cols = 256;
  std::vector<float> w = heavyTailedMatrix(rows, cols, 43);
  MixedParams p;
  setQuantThreadCount(1);
  MixedQuantized one = quantizeMixed(w.data(), rows, cols, p);
  setQuantThreadCount(3);
  MixedQuantized three = quantizeMixed(w.data(), rows, cols, p);
  setQuantThreadCount(0);
  EXPECT_EQ(one.lowCodes, three.lowCodes);
  EXPECT_EQ(one.highCodes, three.highCodes);
  EXPECT_EQ(one.bitMap, three.bitMap);
  EXPECT_EQ(one.scaleCodes, three.scaleCodes);
  EXPECT_EQ(one.zeroCodes, three.zeroCodes);
  EXPECT_EQ(one.blockParams, three.blockParams);
  EXPECT_EQ(one.outliers.colIdx, three.outliers.colIdx);
  EXPECT_EQ(one.outliers.values, three.outliers.values);
}

TEST(MixedQuantizerTest, OutliersAreTheLargestLowGroupWeights) {
  // Step 3 chooses among the keys step 1 kept (4x the outlier count) and
  // falls back to its own passes when the high groups hold too many of
  // them: with 90% high groups it must. Both must give the count largest
  // |w| of the low groups, ties to the lower index.
  const int64_t rows = 40, cols = 512;
  std::vector<float> w = heavyTailedMatrix(rows, cols, 53);
  for (double highFraction : {0.1, 0.9}) {
    MixedParams p;
    p.targetBitsPerWeight = 0.0;
    p.highFraction = highFraction;
    p.outlierFraction = 0.01;
    MixedQuantized q = quantizeMixed(w.data(), rows, cols, p);
    std::vector<int64_t> low;
    for (int64_t i = 0; i < rows * cols; ++i)
      if (!isMixedHighGroup(q, cols, p, i / cols, i % cols / p.groupSize))
        low.push_back(i);
    std::stable_sort(low.begin(), low.end(), [&](int64_t a, int64_t b) {
      return std::fabs(w[a]) > std::fabs(w[b]);
    });
    low.resize(std::llround(0.01 * rows * cols));
    std::sort(low.begin(), low.end());
    std::vector<int64_t> got;
    for (int64_t r = 0; r < rows; ++r)
      for (int32_t i = q.outliers.rowPtr[r]; i < q.outliers.rowPtr[r + 1]; ++i)
        got.push_back(r * cols + sparseColumn(q.outliers, cols, i));
    EXPECT_EQ(got, low) << "high fraction " << highFraction;
  }
}

TEST(MixedQuantizerTest, FractionWithoutBudget) {
  const int64_t rows = 16, cols = 512;
  std::vector<float> w = heavyTailedMatrix(rows, cols, 47);
  MixedParams p;
  p.targetBitsPerWeight = 0.0;
  MixedQuantized q = quantizeMixed(w.data(), rows, cols, p);
  // round(0.1 * 128 groups) = 13.
  EXPECT_EQ(highGroupsOf(q), 13);
  int popcount = 0;
  for (uint32_t word : q.bitMap)
    popcount += __builtin_popcount(word);
  EXPECT_EQ(popcount, 13);
  EXPECT_DOUBLE_EQ(bitsPerWeight(q, rows, cols),
                   8.0 * bufferBytes(q) / (rows * cols));
}

TEST(MixedQuantizerTest, Validate) {
  MixedParams p;
  EXPECT_NE(validateMixed(p, 4, 100).find("group size 64"), std::string::npos);
  p.groupSize = 8;
  EXPECT_NE(validateMixed(p, 4, 64).find("word-aligned"), std::string::npos);
  p = MixedParams();
  p.highBits = 2;
  EXPECT_NE(validateMixed(p, 4, 64).find("high bits"), std::string::npos);
  p = MixedParams();
  p.highFraction = 1.5;
  EXPECT_NE(validateMixed(p, 4, 64).find("high fraction"), std::string::npos);
  p = MixedParams();
  p.outlierFraction = -0.1;
  EXPECT_NE(validateMixed(p, 4, 64).find("outlier fraction"),
            std::string::npos);
  p = MixedParams();
  p.blockGroups = 0;
  EXPECT_NE(validateMixed(p, 4, 64).find("block groups"), std::string::npos);
  p = MixedParams();
  p.targetBitsPerWeight = -1;
  EXPECT_NE(validateMixed(p, 4, 64).find("target bits"), std::string::npos);
}

} // namespace
