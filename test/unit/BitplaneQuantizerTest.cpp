//===- BitplaneQuantizerTest.cpp - nested any-precision codes -------------===//
#include "quant/BitplaneQuantizer.h"
#include "quant/FloatFormats.h"
#include "quant/LUTQuantizer.h"
#include "test/unit/QuantTestUtil.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

using namespace mixq::quant;
using namespace mixq::quant::testing;

namespace {

std::vector<float> halfValues(const uint16_t *h, size_t n) {
  std::vector<float> values;
  for (size_t i = 0; i < n; ++i)
    values.push_back(halfBitsToFloat(h[i]));
  return values;
}

TEST(BitplaneQuantizerTest, UpscalingByHand) {
  // Row {31, 0, 20, 11, 1, 30, 10, 21}, sorted {0, 1, 10, 11, 20, 21, 30,
  // 31}; seed 1, parent 3.
  // Seed (k = 2): init sorted[2] = 10, sorted[6] = 30; midpoint 20 puts 20
  //   low: means 42/5 = 8.4 and 82/3; midpoint 17.87: {0, 1, 10, 11} mean
  //   5.5 and {20, 21, 30, 31} mean 25.5; midpoint 15.5 keeps them.
  // Width 2: {0, 1, 10, 11} splits (init sorted[1] = 1, sorted[3] = 11,
  //   midpoint 6) into {0, 1} 0.5 and {10, 11} 10.5; likewise 20.5, 30.5.
  // Width 3: {0, 1} splits (init 0 and 1, midpoint 0.5) into {0}, {1}; so
  //   the LUT is the sorted row and the code of w is its rank.
  const float w[8] = {31, 0, 20, 11, 1, 30, 10, 21};
  BitplaneParams p;
  p.seedBits = 1;
  p.parentBits = 3;
  ASSERT_EQ(validateBitplane(p, 1, 8), "");
  BitplaneQuantized q = quantizeBitplane(w, 1, 8, p);
  ASSERT_EQ(q.luts.size(), 2u + 4u + 8u);
  EXPECT_EQ(halfValues(q.luts.data(), 2), (std::vector<float>{5.5f, 25.5f}));
  EXPECT_EQ(halfValues(q.luts.data() + 2, 4),
            (std::vector<float>{0.5f, 10.5f, 20.5f, 30.5f}));
  EXPECT_EQ(halfValues(q.luts.data() + 6, 8),
            (std::vector<float>{0, 1, 10, 11, 20, 21, 30, 31}));
  // Codes (ranks) {7, 0, 4, 3, 1, 6, 2, 5}.
  //   plane 0 (bit 2): {1,0,1,0,0,1,0,1} -> bits 0,2,5,7 = 0xA5
  //   plane 1 (bit 1): {1,0,0,1,0,1,1,0} -> bits 0,3,5,6 = 0x69
  //   plane 2 (bit 0): {1,0,0,1,1,0,0,1} -> bits 0,3,4,7 = 0x99
  EXPECT_EQ(q.planes, (std::vector<uint32_t>{0xA5u, 0x69u, 0x99u}));
  EXPECT_EQ(bitplaneCodes(q, 1, 8, p, 1),
            (std::vector<uint8_t>{1, 0, 1, 0, 0, 1, 0, 1}));
  EXPECT_EQ(dequantizeBitplane(q, 1, 8, p, 2),
            (std::vector<float>{30.5f, 0.5f, 20.5f, 10.5f, 0.5f, 30.5f, 10.5f,
                                20.5f}));
  EXPECT_EQ(dequantizeBitplane(q, 1, 8, p, 3), std::vector<float>(w, w + 8));
  // 3 planes of one word + 14 fp16 entries = 12 + 28 bytes over 8 weights.
  EXPECT_DOUBLE_EQ(bitsPerWeight(q, 1, 8), 8.0 * 40 / 8);
  // Width 2 reads 2 words and 4 entries: (64 + 64) / 8.
  EXPECT_DOUBLE_EQ(bitplaneBitsAtWidth(p, 1, 8, 2), 16.0);
}

TEST(BitplaneQuantizerTest, NestedCodesAndMonotoneError) {
  const int64_t rows = 24, cols = 320;
  std::vector<float> w = heavyTailedMatrix(rows, cols, 29);
  BitplaneParams p;
  p.seedBits = 2;
  p.parentBits = 5;
  BitplaneQuantized q = quantizeBitplane(w.data(), rows, cols, p);
  std::vector<uint8_t> parent = bitplaneCodes(q, rows, cols, p, 5);
  double previous = 1.0;
  for (unsigned width = 2; width <= 5; ++width) {
    // Top-k bits of the parent code are the width-k code, and each
    // width-k LUT entry is the mean of the weights that share the code.
    std::vector<uint8_t> codes = bitplaneCodes(q, rows, cols, p, width);
    const uint16_t *lut = q.luts.data() + bitplaneLUTOffset(p, rows, width);
    std::map<std::pair<int64_t, int>, std::pair<double, int>> sums;
    for (int64_t i = 0; i < rows * cols; ++i) {
      ASSERT_EQ(codes[i], parent[i] >> (5 - width));
      auto &s = sums[{i / cols, codes[i]}];
      s.first += w[i];
      s.second += 1;
    }
    for (const auto &[key, s] : sums) {
      float mean = static_cast<float>(s.first / s.second);
      EXPECT_EQ(lut[(key.first << width) + key.second], floatToHalfBits(mean))
          << "width " << width;
    }
    double error =
        relativeError(w, dequantizeBitplane(q, rows, cols, p, width));
    EXPECT_LT(error, previous) << "width " << width;
    previous = error;
  }
}

TEST(BitplaneQuantizerTest, SeedIsTheLUTKMeans) {
  const int64_t rows = 8, cols = 256;
  std::vector<float> w = heavyTailedMatrix(rows, cols, 31);
  BitplaneParams p;
  p.seedBits = 3;
  p.parentBits = 4;
  BitplaneQuantized q = quantizeBitplane(w.data(), rows, cols, p);
  LUTParams lp;
  lp.bits = 3;
  LUTQuantized lut = quantizeLUT(w.data(), rows, cols, lp);
  EXPECT_EQ(std::vector<uint16_t>(q.luts.begin(), q.luts.begin() + rows * 8),
            lut.lut);
  EXPECT_DOUBLE_EQ(bitsPerWeight(q, rows, cols),
                   (4.0 * 32 * 8 + 16.0 * (8 + 16)) / cols);
}

TEST(BitplaneQuantizerTest, Validate) {
  BitplaneParams p;
  p.seedBits = 4;
  p.parentBits = 3;
  EXPECT_NE(validateBitplane(p, 1, 1).find("seed bits"), std::string::npos);
  p.parentBits = 9;
  EXPECT_NE(validateBitplane(p, 1, 1).find("parent bits"), std::string::npos);
}

} // namespace
