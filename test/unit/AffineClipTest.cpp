//===- AffineClipTest.cpp - MSE clipping of the affine quantizer ----------===//
//
// Expected values are worked out by hand from AffineQuantizer.h.
//===----------------------------------------------------------------------===//
#include "quant/AffineQuantizer.h"
#include "quant/Parallel.h"
#include "test/unit/QuantTestUtil.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace mixq::quant;
using namespace mixq::quant::testing;

namespace {

std::vector<uint16_t> halves(const std::vector<uint8_t> &bytes) {
  std::vector<uint16_t> result;
  for (size_t i = 0; i + 1 < bytes.size(); i += 2)
    result.push_back(static_cast<uint16_t>(bytes[i] | bytes[i + 1] << 8));
  return result;
}

// One group of 16: {0, fourteen 1s, 6}, 2-bit asymmetric, ratios {1, 0.5}.
//   r = 1:   lo 0, hi 6, scale 2, zero 0; q = round(w / 2): 0 -> 0,
//            1 -> round(0.5) = 1, 6 -> 3; w' = {0, 2 x14, 6}; error 14.
//   r = 0.5: lo 0, hi 3, scale 1, zero 0; q = {0, 1 x14, clamp(6) = 3};
//            w' = {0, 1 x14, 3}; error (6 - 3)^2 = 9.  -> r = 0.5 wins.
std::vector<float> clipMatrix() {
  std::vector<float> w(16, 1.0f);
  w[0] = 0.0f;
  w[15] = 6.0f;
  return w;
}

AffineParams clipParams(unsigned grid) {
  AffineParams p;
  p.bits = 2;
  p.groupSize = 16;
  p.clipGridSize = grid;
  p.clipMin = 0.5f;
  return p;
}

TEST(AffineClipTest, ClippingWinsOnAnOutlierGroup) {
  std::vector<float> w = clipMatrix();
  AffineParams p = clipParams(2);
  ASSERT_EQ(validateAffine(p, 1, 16), "");
  AffineQuantized q = quantizeAffine(w.data(), 1, 16, p);
  EXPECT_EQ(halves(q.scales), (std::vector<uint16_t>{0x3C00})); // 1.0
  EXPECT_EQ(halves(q.zeros), (std::vector<uint16_t>{0x0000}));
  // Codes {0, 1 x14, 3}: 0b01 per code except 0 and 3 -> 0xD5555554.
  EXPECT_EQ(q.codes, (std::vector<uint32_t>{0xD5555554u}));
  std::vector<float> expected(16, 1.0f);
  expected[0] = 0.0f;
  expected[15] = 3.0f;
  EXPECT_EQ(dequantizeAffine(q, 1, 16, p), expected);
}

TEST(AffineClipTest, NoGridIsPlainRTN) {
  std::vector<float> w = clipMatrix();
  AffineQuantized q = quantizeAffine(w.data(), 1, 16, clipParams(1));
  EXPECT_EQ(halves(q.scales), (std::vector<uint16_t>{0x4000})); // 2.0
  // Codes {0, 1 x14, 3} again, but w' = {0, 2 x14, 6}.
  EXPECT_EQ(q.codes, (std::vector<uint32_t>{0xD5555554u}));
  std::vector<float> expected(16, 2.0f);
  expected[0] = 0.0f;
  expected[15] = 6.0f;
  EXPECT_EQ(dequantizeAffine(q, 1, 16, clipParams(1)), expected);
}

TEST(AffineClipTest, SensitivityWeightsTheError) {
  // With h = 100 on the outlier column: r = 1 costs 14, r = 0.5 costs
  // 14 * 0 + 100 * 9 = 900 (the 1s are exact at scale 1) -> r = 1.
  std::vector<float> w = clipMatrix();
  Sensitivity s;
  s.meanSquare.assign(16, 1.0f);
  s.meanSquare[15] = 100.0f;
  AffineQuantized q = quantizeAffine(w.data(), 1, 16, clipParams(2), &s);
  EXPECT_EQ(halves(q.scales), (std::vector<uint16_t>{0x4000}));
}

TEST(AffineClipTest, Ratios) {
  EXPECT_EQ(clipRatios(1, 0.5f), (std::vector<float>{1.0f}));
  std::vector<float> r = clipRatios(11, 0.5f);
  ASSERT_EQ(r.size(), 11u);
  EXPECT_EQ(r.front(), 1.0f);
  EXPECT_EQ(r.back(), 0.5f);
  EXPECT_NEAR(r[1], 0.95f, 1e-6f);
}

TEST(AffineClipTest, ValidateClip) {
  AffineParams p = clipParams(0);
  EXPECT_NE(validateAffine(p, 1, 16).find("clip grid size"), std::string::npos);
  p = clipParams(11);
  p.clipMin = 0.0f;
  EXPECT_NE(validateAffine(p, 1, 16).find("clip minimum ratio"),
            std::string::npos);
  p.clipMin = 1.5f;
  EXPECT_NE(validateAffine(p, 1, 16).find("clip minimum ratio"),
            std::string::npos);
}

/// Inside the representable range [(0 - zero) scale, (maxq - zero) scale]
/// extended by half a step, |w - w'| <= scale / 2; outside, w' is the end.
void checkClippedErrorBound(unsigned bits, bool symmetric) {
  const int64_t rows = 16, cols = 256;
  std::vector<float> w = heavyTailedMatrix(rows, cols, 7 + bits);
  AffineParams p;
  p.bits = bits;
  p.groupSize = 64;
  p.symmetric = symmetric;
  p.clipGridSize = 11;
  AffineQuantized q = quantizeAffine(w.data(), rows, cols, p);
  std::vector<float> r = dequantizeAffine(q, rows, cols, p);
  std::vector<uint16_t> scales = halves(q.scales), zeros = halves(q.zeros);
  float maxq = float((1u << bits) - 1u), mid = float(1u << (bits - 1));
  for (int64_t i = 0; i < rows * cols; ++i) {
    int64_t g = i / 64;
    float scale = halfBitsToFloat(scales[g]);
    float zero = symmetric ? mid : halfBitsToFloat(zeros[g]);
    float lo = -zero * scale, hi = (maxq - zero) * scale;
    float err = std::fabs(w[i] - r[i]);
    if (w[i] >= lo - scale / 2 && w[i] <= hi + scale / 2)
      EXPECT_LE(err, scale / 2 * (1 + 1e-5f)) << "bits " << bits << " i " << i;
    else
      EXPECT_EQ(r[i], w[i] < lo ? lo : hi) << "bits " << bits << " i " << i;
  }
}

TEST(AffineClipTest, ErrorBoundPerWidth) {
  for (unsigned bits : {2u, 3u, 4u, 8u})
    for (bool symmetric : {false, true})
      checkClippedErrorBound(bits, symmetric);
}

TEST(AffineClipTest, ClippingNeverHurtsAndThreadsDoNotMatter) {
  const int64_t rows = 64, cols = 512;
  std::vector<float> w = heavyTailedMatrix(rows, cols, 3);
  AffineParams rtn;
  rtn.bits = 3;
  rtn.groupSize = 64;
  AffineParams clip = rtn;
  clip.clipGridSize = 11;
  double rtnError = relativeError(
      w, dequantizeAffine(quantizeAffine(w.data(), rows, cols, rtn), rows, cols,
                          rtn));
  setQuantThreadCount(1);
  AffineQuantized one = quantizeAffine(w.data(), rows, cols, clip);
  setQuantThreadCount(3);
  AffineQuantized three = quantizeAffine(w.data(), rows, cols, clip);
  setQuantThreadCount(0);
  EXPECT_EQ(one.codes, three.codes);
  EXPECT_EQ(one.scales, three.scales);
  EXPECT_EQ(one.zeros, three.zeros);
  double clipError = relativeError(w, dequantizeAffine(one, rows, cols, clip));
  EXPECT_LT(clipError, rtnError);
  EXPECT_DOUBLE_EQ(bitsPerWeight(one, rows, cols), 3.5); // 3 + 2 * 16 / 64
}

} // namespace
