//===- OutlierColumnsTest.cpp - QUIK outlier columns ----------------------===//
#include "quant/OutlierColumns.h"
#include "quant/FloatFormats.h"
#include "test/unit/QuantTestUtil.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>

using namespace mixq::quant;
using namespace mixq::quant::testing;

namespace {

// 2 x 4. Column sums of squares: 2, 80, 1.25, 16.25 -> column 1 is the
// outlier without statistics.
const float kW[8] = {1, -8, 0.5f, 2, -1, 4, 1, -3.5f};

OutlierColumnsParams oneColumn(unsigned bits) {
  OutlierColumnsParams p;
  p.outlierColumns = 1;
  p.bits = bits;
  return p;
}

TEST(OutlierColumnsTest, FourBitByHand) {
  // Row 0 keeps {1, 0.5, 2}: scale fp16(2 / 7) = 1170/4096 (0x3492);
  //   q = round({3.5009, 1.7504, 7.0017}) = {4, 2, 7}, sum 13.
  // Row 1 keeps {-1, 1, -3.5}: scale 3.5 / 7 = 0.5 (0x3800);
  //   q = {-2, 2, -7}, sum -7.
  // Codes q + 8 at every column, 8 (a weight of 0) at outlier column 1:
  // row 0 {C, 8, A, F}, row 1 {6, 8, A, 1}, first column lowest.
  OutlierColumnsParams p = oneColumn(4);
  ASSERT_EQ(validateOutlierColumns(p, 2, 4), "");
  OutlierColumnsQuantized q = quantizeOutlierColumns(kW, 2, 4, p);
  EXPECT_EQ(q.outlierCols, (std::vector<int32_t>{1}));
  EXPECT_EQ(q.outlierWeights, (std::vector<uint16_t>{0xC800, 0x4400}));
  EXPECT_EQ(q.codes, (std::vector<uint32_t>{0xFA8Cu, 0x1A86u}));
  EXPECT_EQ(q.scales, (std::vector<uint16_t>{0x3492, 0x3800}));
  EXPECT_EQ(q.rowSums, (std::vector<int32_t>{13, -7}));
  EXPECT_EQ(outlierColumnsCodes(q, 2, 4, p),
            (std::vector<int8_t>{4, 2, 7, -2, 2, -7}));
  const float s = 1170.0f / 4096.0f;
  EXPECT_EQ(dequantizeOutlierColumns(q, 2, 4, p),
            (std::vector<float>{4 * s, -8, 2 * s, 7 * s, -1, 4, 1, -3.5f}));
  // Bytes: 4 (cols) + 4 (fp16 weights) + 8 (codes) + 4 (scales) + 8 (sums).
  EXPECT_DOUBLE_EQ(bitsPerWeight(q, 2, 4), 8.0 * 28 / 8);
}

TEST(OutlierColumnsTest, ColumnsFromStatistics) {
  Sensitivity s;
  s.meanSquare = {9, 0, 0, 1};
  s.maxAbs = {1, 0, 0, 9};
  OutlierColumnsParams p = oneColumn(8);
  EXPECT_EQ(chooseOutlierColumns(kW, 2, 4, p, &s), (std::vector<int32_t>{3}));
  p.rule = OutlierColumnRule::MeanSquare;
  EXPECT_EQ(chooseOutlierColumns(kW, 2, 4, p, &s), (std::vector<int32_t>{0}));
  // Ties go to the lower column; the result is sorted.
  s.maxAbs = {5, 5, 5, 1};
  p.rule = OutlierColumnRule::MaxAbs;
  p.outlierColumns = 2;
  EXPECT_EQ(chooseOutlierColumns(kW, 2, 4, p, &s),
            (std::vector<int32_t>{0, 1}));
}

TEST(OutlierColumnsTest, ActivationsByHand) {
  // Token {-1, 0, 2, 3}, 4 bits: lo -1, hi 3, scale fp16(4 / 15) =
  // 1092/4096, zero round(3.7509) = 4; q = round(x / s) + 4 =
  // {-4 + 4, 4, 8 + 4, 11 + 4} = {0, 4, 12, 15}.
  // Token {0.5, 1, 1, 1}: lo 0 (0 is always representable), hi 1, scale
  // fp16(1 / 15) = 1092/16384, zero 0; q = {round(7.5018), 15, 15, 15}.
  const float x[8] = {-1, 0, 2, 3, 0.5f, 1, 1, 1};
  ActivationQuantized a = quantizeActivationsPerToken(x, 2, 4, 4);
  EXPECT_EQ(a.codes, (std::vector<uint8_t>{0, 4, 12, 15, 8, 15, 15, 15}));
  EXPECT_EQ(a.scales, (std::vector<float>{1092.0f / 4096, 1092.0f / 16384}));
  EXPECT_EQ(a.zeros, (std::vector<int32_t>{4, 0}));
  EXPECT_NE(validateActivationBits(3).find("activation bits"),
            std::string::npos);
}

// The quantizer is a step function of its input: two inputs a few ulps
// apart can get codes one apart, and their dequantized values then differ
// by a whole step s. The row below has the scale s = fp16(3.87153625 / 255)
// = 0x1.f18p-7 exactly and the zero point round(1.5 / s) = round(98.80) =
// 99. 0x3f1d6980 is exactly 40.5 s, a tie, rounded away from zero to 41
// (std::round; libdevice's copysign/add.rz/cvt.rzi on the GPU and llvm.round
// on x86 do the same); two ulps below it rounds to 40. These two values are
// one element of stories260K (block 1's FFN input at position 17, greedy
// from BOS with quik:cols=8,bits=4,act-bits=8) as the CPU compiled for
// x86-64-v2 and for x86-64-v3 computed it: their rms_norm sums differ in the
// last bits, and from that position on the two runs' logits differ by up to
// 0.47 (docs/cuda.md, "Numerics").
TEST(OutlierColumnsTest, ActivationCodesFlipAtATie) {
  auto fromBits = [](uint32_t bits) {
    float value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
  };
  const float above = fromBits(0x3f1d6980u), below = fromBits(0x3f1d697eu);
  ASSERT_EQ(std::nextafter(std::nextafter(above, 0.0f), 0.0f), below);
  const float hi = 2.3715362548828125f, s = 0x1.f18p-7f;
  const float x[6] = {-1.5f, hi, above, -1.5f, hi, below};
  ActivationQuantized a = quantizeActivationsPerToken(x, 2, 3, 8);
  EXPECT_EQ(a.scales, (std::vector<float>{s, s}));
  EXPECT_EQ(a.zeros, (std::vector<int32_t>{99, 99}));
  EXPECT_EQ(above / s, 40.5f);
  EXPECT_EQ(a.codes, (std::vector<uint8_t>{0, 255, 140, 0, 255, 139}));
  float yAbove = s * float(int32_t{a.codes[2]} - a.zeros[0]);
  float yBelow = s * float(int32_t{a.codes[5]} - a.zeros[1]);
  EXPECT_EQ(yAbove - yBelow, s); // 2 ulps (1.2e-7) in, 0.0152 out
}

// The bound behind that: while a row's range (so its scale and zero point)
// is unchanged, inputs that move by a few ulps move each code by at most
// one, so each dequantized value by at most one step s. Every input but the
// row's extremes is first put on a rounding boundary ((k + 1/2) s, the
// worst case), then moved by up to 4 ulps either way (where both stay
// inside the range).
TEST(OutlierColumnsTest, AFewUlpsMoveACodeByAtMostOne) {
  const int64_t tokens = 64, cols = 172;
  for (unsigned bits : {4u, 8u}) {
    std::vector<float> x = heavyTailedMatrix(tokens, cols, 53);
    ActivationQuantized ranges =
        quantizeActivationsPerToken(x.data(), tokens, cols, bits);
    std::vector<float> nudged = x;
    std::mt19937 rng(7);
    for (int64_t t = 0; t < tokens; ++t) {
      float *row = &x[t * cols];
      auto [lo, hi] = std::minmax_element(row, row + cols);
      float s = ranges.scales[t];
      for (int64_t k = 0; k < cols; ++k) {
        float boundary = (std::floor(row[k] / s) + 0.5f) * s, v = boundary;
        for (int steps = int(rng() % 9) - 4; steps != 0;
             steps += steps > 0 ? -1 : 1)
          v = std::nextafter(v, steps > 0 ? INFINITY : -INFINITY);
        // Keep the row's range.
        if (row + k == lo || row + k == hi ||
            std::min(boundary, v) <= std::min(*lo, 0.0f) ||
            std::max(boundary, v) >= std::max(*hi, 0.0f))
          continue;
        row[k] = boundary;
        nudged[t * cols + k] = v;
      }
    }
    ActivationQuantized a =
        quantizeActivationsPerToken(x.data(), tokens, cols, bits);
    ActivationQuantized b =
        quantizeActivationsPerToken(nudged.data(), tokens, cols, bits);
    ASSERT_EQ(a.scales, ranges.scales);
    ASSERT_EQ(a.scales, b.scales);
    ASSERT_EQ(a.zeros, b.zeros);
    int64_t flipped = 0;
    for (size_t i = 0; i < a.codes.size(); ++i) {
      int step = std::abs(int(a.codes[i]) - int(b.codes[i]));
      EXPECT_LE(step, 1) << "element " << i;
      flipped += step != 0;
    }
    // The bound is exercised: many codes do flip.
    EXPECT_GT(flipped, int64_t(a.codes.size()) / 10) << bits << " bits";
  }
}

TEST(OutlierColumnsTest, IntegerMatmulMatchesTheDequantizedProduct) {
  const int64_t tokens = 3, rows = 16, cols = 128;
  std::vector<float> w = heavyTailedMatrix(rows, cols, 37);
  std::vector<float> x = heavyTailedMatrix(tokens, cols, 41);
  for (unsigned bits : {4u, 8u}) {
    OutlierColumnsParams p;
    p.outlierColumns = 8;
    p.bits = bits;
    OutlierColumnsQuantized q = quantizeOutlierColumns(w.data(), rows, cols, p);
    std::vector<float> y =
        outlierColumnsMatmul(x.data(), tokens, q, rows, cols, p, bits);
    // Reference: dequantized activations (quantized columns only) times
    // the dequantized weights, in double.
    std::vector<float> wq = dequantizeOutlierColumns(q, rows, cols, p);
    std::vector<char> isOutlier(cols, 0);
    for (int32_t c : q.outlierCols)
      isOutlier[c] = 1;
    for (int64_t t = 0; t < tokens; ++t) {
      std::vector<float> kept;
      for (int64_t c = 0; c < cols; ++c)
        if (!isOutlier[c])
          kept.push_back(x[t * cols + c]);
      ActivationQuantized a = quantizeActivationsPerToken(
          kept.data(), 1, static_cast<int64_t>(kept.size()), bits);
      for (int64_t r = 0; r < rows; ++r) {
        double ref = 0.0, exact = 0.0, norm = 0.0;
        for (int64_t c = 0, j = 0; c < cols; ++c) {
          double xv = x[t * cols + c];
          if (!isOutlier[c])
            xv = a.scales[0] * (double(a.codes[j++]) - a.zeros[0]);
          ref += xv * wq[r * cols + c];
          exact += double(x[t * cols + c]) * w[r * cols + c];
          norm += std::fabs(x[t * cols + c] * w[r * cols + c]);
        }
        EXPECT_NEAR(y[t * rows + r], ref, 1e-5 * norm);
        EXPECT_NEAR(y[t * rows + r], exact, (bits == 8 ? 0.05 : 0.5) * norm);
      }
    }
    // Codes of the kept columns sum to the stored row sums.
    std::vector<int8_t> codes = outlierColumnsCodes(q, rows, cols, p);
    for (int64_t r = 0; r < rows; ++r) {
      int32_t sum = 0;
      for (int64_t j = 0; j < cols - 8; ++j)
        sum += codes[r * (cols - 8) + j];
      EXPECT_EQ(sum, q.rowSums[r]);
    }
  }
}

TEST(OutlierColumnsTest, Validate) {
  OutlierColumnsParams p = oneColumn(3);
  EXPECT_NE(validateOutlierColumns(p, 2, 4).find("bits must be 4 or 8"),
            std::string::npos);
  p = oneColumn(4);
  p.outlierColumns = 5;
  EXPECT_NE(validateOutlierColumns(p, 2, 4).find("column count"),
            std::string::npos);
}

} // namespace
