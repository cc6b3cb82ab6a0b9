//===- AffineQuantizerTest.cpp - tests of the affine quantizer ------------===//
//
// Expected scales, zeros, codes and reconstructions are worked out by hand
// from the formulas in AffineQuantizer.h; fp16 values are written as
// fractions with a power-of-two denominator, which are exact in fp32.
// round() is half away from zero.
//===----------------------------------------------------------------------===//
#include "quant/AffineQuantizer.h"
#include "quant/BitPacking.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

using namespace mixq::quant;

namespace {

/// Decodes little-endian 16-bit storage words, so expectations can be
/// written as fp16 bit patterns.
std::vector<uint16_t> halves(const std::vector<uint8_t> &bytes) {
  std::vector<uint16_t> result;
  for (size_t i = 0; i + 1 < bytes.size(); i += 2)
    result.push_back(static_cast<uint16_t>(bytes[i] | bytes[i + 1] << 8));
  return result;
}

AffineParams makeParams(unsigned bits, int64_t groupSize, bool symmetric,
                        ScalarFormat format = ScalarFormat::F16) {
  AffineParams params;
  params.bits = bits;
  params.groupSize = groupSize;
  params.symmetric = symmetric;
  params.scaleFormat = format;
  return params;
}

// The 2 x 8 matrix of the hand-worked tests, groups of 4:
//   row 0: g0 = {-1, -0.25, 0.25, 0.5}   g1 = {0, 1, 2, 3}
//   row 1: g0 = {-0.5, 0, 0.25, 0.5}     g1 = {-1, 0, 1, 2}
const float kMatrix[16] = {-1.0f, -0.25f, 0.25f, 0.5f, 0.0f,  1.0f, 2.0f, 3.0f,
                           -0.5f, 0.0f,   0.25f, 0.5f, -1.0f, 0.0f, 1.0f, 2.0f};

TEST(AffineQuantizerTest, TwoBitAsymmetric) {
  // maxq = 3.
  // r0g0: lo -1, hi 0.5: scale 1.5/3 = 0.5 (0x3800); zero round(1/0.5) = 2.
  //   q = round(w/0.5) + 2: -1 -> -2+2 = 0; -0.25 -> round(-0.5) = -1 -> 1;
  //   0.25 -> round(0.5) = 1 -> 3; 0.5 -> 1 -> 3.   w' = (q-2)*0.5.
  // r0g1: lo 0, hi 3: scale 1 (0x3C00); zero 0; q = w.
  // r1g0: lo -0.5, hi 0.5: scale 1/3 -> fp16 0x3555 = 1365/4096; zero =
  //   round(0.5 * 4096/1365 = 1.5004) = 2. q: -0.5 -> round(-1.5004) = -2
  //   -> 0; 0 -> 2; 0.25 -> round(0.7503) = 1 -> 3; 0.5 -> round(1.5004) =
  //   2 -> 4, clamped to 3.   w' = {-2, 0, 1, 1} * 1365/4096.
  // r1g1: lo -1, hi 2: scale 1; zero 1; q = w + 1.
  AffineParams params = makeParams(2, 4, false);
  ASSERT_EQ(validateAffine(params, 2, 8), "");
  AffineQuantized q = quantizeAffine(kMatrix, 2, 8, params);

  // Row 0 codes {0,1,3,3, 0,1,2,3}; hex digit = c[2k] | c[2k+1] << 2:
  //   (0,1) = 4, (3,3) = F, (0,1) = 4, (2,3) = E -> 0xE4F4.
  // Row 1 codes {0,2,3,3, 0,1,2,3}: (0,2) = 8, F, 4, E -> 0xE4F8.
  EXPECT_EQ(q.codes, (std::vector<uint32_t>{0x0000E4F4u, 0x0000E4F8u}));
  EXPECT_EQ(halves(q.scales),
            (std::vector<uint16_t>{0x3800, 0x3C00, 0x3555, 0x3C00}));
  // Zeros 2, 0, 2, 1 in fp16.
  EXPECT_EQ(halves(q.zeros),
            (std::vector<uint16_t>{0x4000, 0x0000, 0x4000, 0x3C00}));

  const float s = 1365.0f / 4096.0f;
  // clang-format off
  // One group per line: r0g0, r0g1, r1g0, r1g1.
  std::vector<float> expected = {-1.0f,  -0.5f, 0.5f, 0.5f,
                                  0.0f,   1.0f, 2.0f, 3.0f,
                                 -2 * s,  0.0f, s,    s,
                                 -1.0f,   0.0f, 1.0f, 2.0f};
  // clang-format on
  EXPECT_EQ(dequantizeAffine(q, 2, 8, params), expected);
}

TEST(AffineQuantizerTest, FourBitAsymmetric) {
  // maxq = 15.
  // r0g0: scale 1.5/15 = 0.1 -> fp16 0x2E66 = 1638/16384; zero =
  //   round(1 * 16384/1638 = 10.0024) = 10. w/scale: -1 -> -10.0024 -> -10;
  //   -0.25 -> -2.5006 -> -3; 0.25 -> 3; 0.5 -> 5.0012 -> 5.
  //   q = {0, 7, 13, 15}; w' = {-10, -3, 3, 5} * 1638/16384.
  // r0g1: scale 3/15 = 0.2 -> fp16 0x3266 = 1638/8192; zero 0.
  //   w/scale: 0, 5.0012, 10.0024, 15.0037 -> q = {0, 5, 10, 15};
  //   w' = {0, 5, 10, 15} * 1638/8192.
  // r1g0: scale 1/15 -> fp16: 1.0667 * 2^-4, mantissa round(68.27) = 68 =
  //   0x44 -> 0x2C44 = 1092/16384; zero = round(0.5 * 16384/1092 = 7.5018)
  //   = 8. w/scale: -7.5018 -> -8; 0; 3.7509 -> 4; 7.5018 -> 8.
  //   q = {0, 8, 12, 16 -> 15}; w' = {-8, 0, 4, 7} * 1092/16384.
  // r1g1: scale 0.2 -> 1638/8192; zero = round(5.0012) = 5.
  //   w/scale: -5.0012, 0, 5.0012, 10.0024 -> q = {0, 5, 10, 15};
  //   w' = {-5, 0, 5, 10} * 1638/8192.
  AffineParams params = makeParams(4, 4, false);
  AffineQuantized q = quantizeAffine(kMatrix, 2, 8, params);

  // Nibbles from the low end: row 0 {0,7,D,F,0,5,A,F}, row 1
  // {0,8,C,F,0,5,A,F}.
  EXPECT_EQ(q.codes, (std::vector<uint32_t>{0xFA50FD70u, 0xFA50FC80u}));
  EXPECT_EQ(halves(q.scales),
            (std::vector<uint16_t>{0x2E66, 0x3266, 0x2C44, 0x3266}));
  // Zeros 10 = 1.25 * 2^3 (0x4900), 0, 8 = 2^3 (0x4800), 5 = 1.25 * 2^2
  // (0x4500).
  EXPECT_EQ(halves(q.zeros),
            (std::vector<uint16_t>{0x4900, 0x0000, 0x4800, 0x4500}));

  const float a = 1638.0f / 16384.0f, b = 1638.0f / 8192.0f,
              c = 1092.0f / 16384.0f;
  // clang-format off
  // One group per line: r0g0, r0g1, r1g0, r1g1.
  std::vector<float> expected = {-10 * a, -3 * a,  3 * a,  5 * a,
                                   0.0f,   5 * b, 10 * b, 15 * b,
                                  -8 * c,   0.0f,  4 * c,  7 * c,
                                  -5 * b,   0.0f,  5 * b, 10 * b};
  // clang-format on
  EXPECT_EQ(dequantizeAffine(q, 2, 8, params), expected);
  // The same values spelled out in decimal, as a cross-check of the above.
  std::vector<float> w = dequantizeAffine(q, 2, 8, params);
  EXPECT_EQ(w[0], -0.999755859375f);
  EXPECT_EQ(w[8], -0.533203125f);
  EXPECT_EQ(w[11], 0.466552734375f);
  EXPECT_EQ(w[7], 2.999267578125f);
}

TEST(AffineQuantizerTest, TwoBitSymmetric) {
  // mid = 2, scale = amax / (mid - 1) = amax; q = clamp(round(w/s), -2, 1)
  // + 2; no zeros.
  // r0g0: amax 1, s 1: round {-1, -0.25, 0.25, 0.5} = {-1, -0, 0, 1}
  //   -> q {1, 2, 2, 3}; w' {-1, 0, 0, 1}.
  // r0g1: amax 3, s 3: round {0, 0.33, 0.67, 1} = {0, 0, 1, 1}
  //   -> q {2, 2, 3, 3}; w' {0, 0, 3, 3}.
  // r1g0: amax 0.5, s 0.5: round {-1, 0, 0.5, 1} = {-1, 0, 1, 1}
  //   -> q {1, 2, 3, 3}; w' {-0.5, 0, 0.5, 0.5}.
  // r1g1: amax 2, s 2: round {-0.5, 0, 0.5, 1} = {-1, 0, 1, 1}
  //   -> q {1, 2, 3, 3}; w' {-2, 0, 2, 2}.
  AffineParams params = makeParams(2, 4, true);
  AffineQuantized q = quantizeAffine(kMatrix, 2, 8, params);

  // Row 0 {1,2,2,3, 2,2,3,3}: (1,2) = 9, (2,3) = E, (2,2) = A, (3,3) = F
  //   -> 0xFAE9. Row 1 {1,2,3,3, 1,2,3,3}: 9, F, 9, F -> 0xF9F9.
  EXPECT_EQ(q.codes, (std::vector<uint32_t>{0x0000FAE9u, 0x0000F9F9u}));
  // 1 (0x3C00), 3 = 1.5 * 2 (0x4200), 0.5 (0x3800), 2 (0x4000).
  EXPECT_EQ(halves(q.scales),
            (std::vector<uint16_t>{0x3C00, 0x4200, 0x3800, 0x4000}));
  EXPECT_TRUE(q.zeros.empty());
  // clang-format off
  std::vector<float> expected = {-1,    0, 0,    1,     0, 0, 3, 3,
                                 -0.5f, 0, 0.5f, 0.5f, -2, 0, 2, 2};
  // clang-format on
  EXPECT_EQ(dequantizeAffine(q, 2, 8, params), expected);
}

TEST(AffineQuantizerTest, FourBitSymmetric) {
  // mid = 8, scale = amax / 7; q = clamp(round(w/s), -8, 7) + 8.
  // r0g0: 1/7 = 1.1429 * 2^-3 -> mantissa round(146.29) = 146 = 0x92 ->
  //   0x3092 = 1170/8192. w/s: -7.0017, -1.7504, 1.7504, 3.5009
  //   -> {-7, -2, 2, 4} -> q {1, 6, 10, 12}.
  // r0g1: 3/7 = 1.7143 * 2^-2 -> round(731.43) = 731 = 0x2DB -> 0x36DB =
  //   1755/4096. w/s: 0, 2.3339, 4.6678, 7.0017 -> {0, 2, 5, 7}
  //   -> q {8, 10, 13, 15}.
  // r1g0: 0.5/7 = 1.1429 * 2^-4 -> 0x2C92 = 1170/16384. w/s: -7.0017, 0,
  //   3.5009, 7.0017 -> {-7, 0, 4, 7} -> q {1, 8, 12, 15}.
  // r1g1: 2/7 = 1.1429 * 2^-2 -> 0x3492 = 1170/4096. w/s: -3.5009, 0,
  //   3.5009, 7.0017 -> {-4, 0, 4, 7} -> q {4, 8, 12, 15}.
  AffineParams params = makeParams(4, 4, true);
  AffineQuantized q = quantizeAffine(kMatrix, 2, 8, params);

  // Nibbles: row 0 {1,6,A,C,8,A,D,F}, row 1 {1,8,C,F,4,8,C,F}.
  EXPECT_EQ(q.codes, (std::vector<uint32_t>{0xFDA8CA61u, 0xFC84FC81u}));
  EXPECT_EQ(halves(q.scales),
            (std::vector<uint16_t>{0x3092, 0x36DB, 0x2C92, 0x3492}));
  EXPECT_TRUE(q.zeros.empty());

  const float a = 1170.0f / 8192.0f, b = 1755.0f / 4096.0f,
              c = 1170.0f / 16384.0f, d = 1170.0f / 4096.0f;
  // clang-format off
  // One group per line: r0g0, r0g1, r1g0, r1g1.
  std::vector<float> expected = {-7 * a, -2 * a, 2 * a, 4 * a,
                                   0.0f,  2 * b, 5 * b, 7 * b,
                                 -7 * c,   0.0f, 4 * c, 7 * c,
                                 -4 * d,   0.0f, 4 * d, 7 * d};
  // clang-format on
  EXPECT_EQ(dequantizeAffine(q, 2, 8, params), expected);
}

TEST(AffineQuantizerTest, CodesUseTheRoundedScale) {
  // One group {-0.5, 0, 0.25, 0.5}, 2 bits asymmetric: the raw scale 1/3
  // is stored differently by each format, and the zero point follows the
  // stored scale, not the raw one.
  const float w[4] = {-0.5f, 0.0f, 0.25f, 0.5f};

  // fp16: 0x3555 = 1365/4096 (< 1/3): zero round(1.5004) = 2, codes
  // {0, 2, 3, 3} (see TwoBitAsymmetric, row 1 group 0): digits (0,2) = 8,
  // (3,3) = F -> 0xF8.
  AffineParams f16 = makeParams(2, 4, false, ScalarFormat::F16);
  AffineQuantized q16 = quantizeAffine(w, 1, 4, f16);
  EXPECT_EQ(q16.scales, (std::vector<uint8_t>{0x55, 0x35}));
  EXPECT_EQ(q16.zeros, (std::vector<uint8_t>{0x00, 0x40})); // 2.0
  EXPECT_EQ(q16.codes, std::vector<uint32_t>{0x000000F8u});

  // bf16: 1/3 = 0x3EAAAAAB, dropped half 0xAAAB rounds up -> 0x3EAB =
  // (1 + 43/128) * 2^-2 = 171/512 (> 1/3). zero = round(0.5 * 512/171 =
  // 1.4971) = 1. w/s: -1.4971 -> -1, 0, 0.7485 -> 1, 1.4971 -> 1;
  // q = {0, 1, 2, 2}: digits (0,1) = 4, (2,2) = A -> 0xA4.
  AffineParams bf16 = makeParams(2, 4, false, ScalarFormat::BF16);
  AffineQuantized qbf = quantizeAffine(w, 1, 4, bf16);
  EXPECT_EQ(qbf.scales, (std::vector<uint8_t>{0xAB, 0x3E}));
  EXPECT_EQ(qbf.zeros, (std::vector<uint8_t>{0x80, 0x3F})); // 1.0 = 0x3F80
  EXPECT_EQ(qbf.codes, std::vector<uint32_t>{0x000000A4u});
  const float s = 171.0f / 512.0f;
  EXPECT_EQ(dequantizeAffine(qbf, 1, 4, bf16),
            (std::vector<float>{-s, 0.0f, s, s}));

  // f32 stores 1/3f itself, 0x3EAAAAAB, little-endian.
  AffineParams f32 = makeParams(2, 4, false, ScalarFormat::F32);
  AffineQuantized q32 = quantizeAffine(w, 1, 4, f32);
  EXPECT_EQ(q32.scales, (std::vector<uint8_t>{0xAB, 0xAA, 0xAA, 0x3E}));
}

TEST(AffineQuantizerTest, AllZeroGroup) {
  // Asymmetric: scale 1, zero round(-0 / 1) = 0 stored as +0 (0x0000, not
  // 0x8000), codes 0. Symmetric: scale 1, codes mid = 8.
  const float w[4] = {0.0f, 0.0f, -0.0f, 0.0f};
  AffineParams asym = makeParams(4, 4, false);
  AffineQuantized qa = quantizeAffine(w, 1, 4, asym);
  EXPECT_EQ(halves(qa.scales), std::vector<uint16_t>{0x3C00});
  EXPECT_EQ(halves(qa.zeros), std::vector<uint16_t>{0x0000});
  EXPECT_EQ(qa.codes, std::vector<uint32_t>{0x00000000u});
  EXPECT_EQ(dequantizeAffine(qa, 1, 4, asym), std::vector<float>(4, 0.0f));

  AffineParams sym = makeParams(4, 4, true);
  AffineQuantized qs = quantizeAffine(w, 1, 4, sym);
  EXPECT_EQ(halves(qs.scales), std::vector<uint16_t>{0x3C00});
  EXPECT_EQ(qs.codes, std::vector<uint32_t>{0x00008888u});
  EXPECT_EQ(dequantizeAffine(qs, 1, 4, sym), std::vector<float>(4, 0.0f));
  EXPECT_EQ(symmetricScale(0.0f, 4), 1.0f);
}

TEST(AffineQuantizerTest, ConstantGroups) {
  // 3 x 4, 4 bits asymmetric, one group per row.
  // Row 0 = 0.75: scale |0.75| (1.5 * 2^-1 = 0x3A00); zero = clamp(
  //   round(-1), 0, 15) = 0; q = round(1) + 0 = 1; w' = 1 * 0.75.
  // Row 1 = -0.75: scale 0.75; zero = round(1) = 1 (0x3C00); q = round(-1)
  //   + 1 = 0; w' = (0 - 1) * 0.75 = -0.75.
  // Row 2 = 0.1: scale = fp16(0.1) = 0x2E66 = 1638/16384; zero 0; q 1; the
  //   value comes back as its fp16 rounding.
  const float w[12] = {0.75f,  0.75f,  0.75f, 0.75f, -0.75f, -0.75f,
                       -0.75f, -0.75f, 0.1f,  0.1f,  0.1f,   0.1f};
  AffineParams params = makeParams(4, 4, false);
  AffineQuantized q = quantizeAffine(w, 3, 4, params);
  EXPECT_EQ(halves(q.scales), (std::vector<uint16_t>{0x3A00, 0x3A00, 0x2E66}));
  EXPECT_EQ(halves(q.zeros), (std::vector<uint16_t>{0x0000, 0x3C00, 0x0000}));
  // One word per row: four nibbles of 1, of 0, of 1.
  EXPECT_EQ(q.codes,
            (std::vector<uint32_t>{0x00001111u, 0x00000000u, 0x00001111u}));
  const float tenth = 1638.0f / 16384.0f;
  EXPECT_EQ(dequantizeAffine(q, 3, 4, params),
            (std::vector<float>{0.75f, 0.75f, 0.75f, 0.75f, -0.75f, -0.75f,
                                -0.75f, -0.75f, tenth, tenth, tenth, tenth}));
}

TEST(AffineQuantizerTest, ScaleSaturatesInTheStorageFormat) {
  // The formulas divide by the stored scale, so a scale that would round to
  // 0 or to infinity in fp16 is stored as the nearest positive finite value.
  // Row 0 {0, 1e-9, 2e-9, 3e-9}: raw scale 3e-9/15 = 2e-10 is below half of
  // the smallest fp16 subnormal 2^-24 (0x0001); zero round(-0) = 0; w *
  // 2^24 <= 0.05 rounds to code 0; w' = 0.
  // Row 1 {-1e6, 0, 0, 1e6}: raw scale 2e6/15 = 133333 overflows fp16 ->
  // 65504 (0x7BFF); zero = round(1e6/65504 = 15.27) = 15 (0x4B80 = 1.875 *
  // 2^3); q = {-15 + 15, 15, 15, 15 + 15 -> 15} = {0, 15, 15, 15};
  // w' = {-15 * 65504 = -982560, 0, 0, 0}.
  const float w[8] = {0.0f, 1e-9f, 2e-9f, 3e-9f, -1e6f, 0.0f, 0.0f, 1e6f};
  AffineParams params = makeParams(4, 4, false);
  AffineQuantized q = quantizeAffine(w, 2, 4, params);
  EXPECT_EQ(halves(q.scales), (std::vector<uint16_t>{0x0001, 0x7BFF}));
  EXPECT_EQ(halves(q.zeros), (std::vector<uint16_t>{0x0000, 0x4B80}));
  EXPECT_EQ(q.codes, (std::vector<uint32_t>{0x00000000u, 0x0000FFF0u}));
  EXPECT_EQ(dequantizeAffine(q, 2, 4, params),
            (std::vector<float>{0, 0, 0, 0, -982560.0f, 0, 0, 0}));
}

TEST(AffineQuantizerTest, NonFiniteWeightsStayDefined) {
  // Weights must be finite, but a NaN must not make the quantizer convert
  // NaN to an integer (undefined behavior): every code stays in range and
  // the finite values of other groups are unaffected.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float w[8] = {nan, 1.0f, 2.0f, 3.0f, 0.0f, 1.0f, 2.0f, 3.0f};
  for (bool symmetric : {false, true}) {
    AffineParams params = makeParams(4, 4, symmetric);
    AffineQuantized q = quantizeAffine(w, 1, 8, params);
    std::vector<uint8_t> codes = unpackMatrix(q.codes.data(), 1, 8, 4);
    for (uint8_t code : codes)
      EXPECT_LE(code, 15);
    std::vector<float> back = dequantizeAffine(q, 1, 8, params);
    // Group 1 = {0, 1, 2, 3}: asymmetric scale 3/15 = 0.2 -> 1638/8192 with
    // w' = {0, 5, 10, 15} * s (see FourBitAsymmetric, row 0 group 1);
    // symmetric 3/7 -> 1755/4096 with w' = {0, 2, 5, 7} * s.
    float s = symmetric ? 1755.0f / 4096.0f : 1638.0f / 8192.0f;
    std::vector<float> expected =
        symmetric ? std::vector<float>{0, 2 * s, 5 * s, 7 * s}
                  : std::vector<float>{0, 5 * s, 10 * s, 15 * s};
    EXPECT_EQ(std::vector<float>(back.begin() + 4, back.end()), expected);
  }
}

TEST(AffineQuantizerTest, SymmetricScale) {
  // amax / (2^(bits-1) - 1): 1, 3, 7, 127.
  EXPECT_EQ(symmetricScale(6.0f, 2), 6.0f);
  EXPECT_EQ(symmetricScale(6.0f, 3), 2.0f);
  EXPECT_EQ(symmetricScale(7.0f, 4), 1.0f);
  EXPECT_EQ(symmetricScale(254.0f, 8), 2.0f);
  EXPECT_EQ(symmetricScale(0.0f, 8), 1.0f);
}

TEST(AffineQuantizerTest, ValidateAffine) {
  EXPECT_EQ(validateAffine(makeParams(4, 128, false), 4096, 4096), "");
  for (unsigned bits : {2u, 3u, 4u, 8u})
    EXPECT_EQ(validateAffine(makeParams(bits, 32, true), 2, 64), "") << bits;
  EXPECT_EQ(validateAffine(makeParams(4, 32, false, ScalarFormat::BF16), 2, 64),
            "");
  EXPECT_EQ(validateAffine(makeParams(4, 32, false, ScalarFormat::F32), 2, 64),
            "");

  EXPECT_EQ(validateAffine(makeParams(5, 4, false), 2, 8),
            "bits must be 2, 3, 4 or 8, got 5");
  EXPECT_EQ(validateAffine(makeParams(1, 4, false), 2, 8),
            "bits must be 2, 3, 4 or 8, got 1");
  EXPECT_EQ(validateAffine(makeParams(16, 4, false), 2, 8),
            "bits must be 2, 3, 4 or 8, got 16");
  EXPECT_EQ(validateAffine(makeParams(4, 48, false), 2, 100),
            "group size 48 does not divide the number of columns 100");
  EXPECT_EQ(validateAffine(makeParams(4, 256, false), 2, 128),
            "group size 256 does not divide the number of columns 128");
  EXPECT_EQ(validateAffine(makeParams(4, 0, false), 2, 8),
            "group size must be positive, got 0");
  EXPECT_EQ(validateAffine(makeParams(4, -4, false), 2, 8),
            "group size must be positive, got -4");
  EXPECT_EQ(validateAffine(makeParams(4, 4, false), -1, 8),
            "rows must be non-negative, got -1");
  EXPECT_EQ(validateAffine(makeParams(4, 4, false), 2, -8),
            "columns must be non-negative, got -8");
  EXPECT_EQ(validateAffine(
                makeParams(4, 4, false, static_cast<ScalarFormat>(7)), 2, 8),
            "scale format 7 is not f16, bf16 or f32");
}

TEST(AffineQuantizerTest, EmptyMatrix) {
  AffineParams params = makeParams(4, 4, false);
  ASSERT_EQ(validateAffine(params, 0, 8), "");
  AffineQuantized q = quantizeAffine(nullptr, 0, 8, params);
  EXPECT_TRUE(q.codes.empty());
  EXPECT_TRUE(q.scales.empty());
  EXPECT_TRUE(q.zeros.empty());
  EXPECT_TRUE(dequantizeAffine(q, 0, 8, params).empty());
}

TEST(AffineQuantizerTest, ThreeBitCodesStraddleInPackedOutput) {
  // 1 x 16, 3 bits symmetric, one group: mid 4, scale = amax / 3. With
  // amax 3 the scale is 1 and an integer value k gets q = k + 4. Put -3
  // (q 1) everywhere except column 10, which holds 2 (q 6 = 110b, at bits
  // 30-32 of the row).
  //   codes 0-9 = 001b each: bits 0, 3, ..., 27 -> 0x09249249
  //   code 10 = 110b: bit 31 of word 0 and bit 0 of word 1
  //   codes 11-15 = 001b: bits 33, 36, 39, 42, 45 = word 1 bits 1, 4, 7, 10,
  //   13 -> 0x2492; plus bit 0 -> 0x2493.
  //   word 0 = 0x09249249 | 0x80000000 = 0x89249249.
  float w[16];
  for (float &v : w)
    v = -3.0f;
  w[10] = 2.0f;
  AffineParams params = makeParams(3, 16, true);
  AffineQuantized q = quantizeAffine(w, 1, 16, params);
  EXPECT_EQ(halves(q.scales), std::vector<uint16_t>{0x3C00});
  EXPECT_EQ(q.codes, (std::vector<uint32_t>{0x89249249u, 0x00002493u}));
  std::vector<float> expected(w, w + 16);
  EXPECT_EQ(dequantizeAffine(q, 1, 16, params), expected);
}

/// How far scale rounding can push a group's extreme value past the last
/// reachable code: the gap between the range the raw scale was computed
/// for and the range the stored scale spans.
float scaleRoundingSlack(const float *w, int64_t n, unsigned bits,
                         bool symmetric, float scale) {
  float lo = w[0], hi = w[0], amax = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    lo = std::min(lo, w[i]);
    hi = std::max(hi, w[i]);
    amax = std::max(amax, std::fabs(w[i]));
  }
  if (symmetric)
    return std::fabs(amax - static_cast<float>((1 << (bits - 1)) - 1) * scale);
  return std::fabs((hi - lo) - static_cast<float>((1 << bits) - 1) * scale);
}

/// Quantizes random data and checks |w - w'| <= scale / 2 for every value
/// the group's codes can reach without clamping; every other value (a
/// group extreme just past the reachable range) is off by at most the
/// scale-rounding slack more.
void checkErrorBound(unsigned bits, bool symmetric, ScalarFormat format) {
  const int64_t rows = 8, cols = 256, groupSize = 32;
  std::mt19937 rng(42 + bits);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> w(rows * cols);
  for (float &v : w)
    v = dist(rng);
  AffineParams params = makeParams(bits, groupSize, symmetric, format);
  ASSERT_EQ(validateAffine(params, rows, cols), "");
  AffineQuantized q = quantizeAffine(w.data(), rows, cols, params);
  std::vector<float> back = dequantizeAffine(q, rows, cols, params);
  ASSERT_EQ(back.size(), w.size());

  unsigned bytes = scalarFormatBytes(format);
  float maxq = static_cast<float>((1 << bits) - 1);
  float mid = static_cast<float>(1 << (bits - 1));
  int64_t inside = 0;
  for (int64_t i = 0; i < rows * cols; ++i) {
    int64_t g = i / groupSize;
    float scale = loadScalar(&q.scales[g * bytes], format);
    float zero = symmetric ? mid : loadScalar(&q.zeros[g * bytes], format);
    ASSERT_GT(scale, 0.0f);
    float err = std::fabs(w[i] - back[i]);
    // Slack for the two fp32 roundings in w / s and (q - z) * s.
    float bound = scale / 2 + 1e-6f * std::fabs(w[i]);
    // Reachable range: codes 0..maxq, i.e. (0 - zero) * s .. (maxq - zero) * s.
    if (w[i] >= -zero * scale && w[i] <= (maxq - zero) * scale) {
      ++inside;
      ASSERT_LE(err, bound)
          << "bits " << bits << " symmetric " << symmetric << " index " << i;
      continue;
    }
    float slack = scaleRoundingSlack(&w[g * groupSize], groupSize, bits,
                                     symmetric, scale);
    ASSERT_LE(err, bound + slack)
        << "bits " << bits << " symmetric " << symmetric << " index " << i;
  }
  // The reachable range covers the group's [lo, hi] up to half a step at
  // each end (the zero point is rounded), so most values are checked
  // against the exact bound.
  EXPECT_GE(inside, rows * cols * 3 / 4);
}

TEST(AffineQuantizerTest, ErrorBoundRandomData) {
  for (unsigned bits : {2u, 3u, 4u, 8u})
    for (bool symmetric : {false, true})
      for (ScalarFormat format :
           {ScalarFormat::F16, ScalarFormat::BF16, ScalarFormat::F32})
        checkErrorBound(bits, symmetric, format);
}

} // namespace

TEST(AffineQuantizerTest, OneSignedGroupsDoNotSaturate) {
  // Regression: a group of one sign, e.g. {0.50, 0.51, 0.52, 0.53}, used to
  // get zero = clamp(round(-0.50 / scale), 0, 15) = 0 with scale 0.03/15, so
  // every code saturated at 15 (w' = 0.03). The range is now widened to
  // [0, 0.53]: scale = 0.53 / 15 ~ 0.0353, zero 0, and every weight comes
  // back within half a step.
  const float w[8] = {0.50f,  0.51f,  0.52f,  0.53f,
                      -0.53f, -0.52f, -0.51f, -0.50f};
  AffineParams params = makeParams(4, 4, false);
  AffineQuantized q = quantizeAffine(w, 2, 4, params);
  std::vector<float> back = dequantizeAffine(q, 2, 4, params);
  const float halfStep = 0.5f * 0.53f / 15.0f;
  for (int i = 0; i < 8; ++i)
    EXPECT_NEAR(back[i], w[i], halfStep * 1.01f) << "weight " << i;
}
