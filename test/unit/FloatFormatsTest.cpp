//===- FloatFormatsTest.cpp - tests of fp16 / bf16 conversion -------------===//
//
// fp16: 1 sign, 5 exponent (bias 15), 10 mantissa bits; subnormals are
// mantissa * 2^-24. bf16: the top 16 bits of an fp32 (8 exponent bits, bias
// 127, 7 mantissa bits). Expected bit patterns are worked out by hand.
//===----------------------------------------------------------------------===//
#include "quant/FloatFormats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

using namespace mixq::quant;

namespace {

float fromBits(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

/// fp16 decoding written out from the format definition, independently of
/// halfBitsToFloat: finite patterns only.
float halfValue(uint16_t bits) {
  int exponent = (bits >> 10) & 0x1F;
  int mantissa = bits & 0x3FF;
  float magnitude =
      exponent == 0
          ? std::ldexp(static_cast<float>(mantissa), -24)
          : std::ldexp(static_cast<float>(1024 + mantissa), exponent - 25);
  return (bits & 0x8000) ? -magnitude : magnitude;
}

bool isHalfNaN(uint16_t bits) {
  return (bits & 0x7C00u) == 0x7C00u && (bits & 0x03FFu) != 0;
}

bool isBFloat16NaN(uint16_t bits) {
  return (bits & 0x7F80u) == 0x7F80u && (bits & 0x007Fu) != 0;
}

TEST(FloatFormatsTest, HalfKnownPatterns) {
  EXPECT_EQ(floatToHalfBits(1.0f), 0x3C00);  // exponent 15 = 01111b
  EXPECT_EQ(floatToHalfBits(-2.0f), 0xC000); // sign | exponent 16
  EXPECT_EQ(floatToHalfBits(0.5f), 0x3800);  // exponent 14
  // 3 = 1.5 * 2^1: exponent 16 (0x4000) | mantissa 0.5 * 1024 = 0x200.
  EXPECT_EQ(floatToHalfBits(3.0f), 0x4200);
  EXPECT_EQ(floatToHalfBits(0.0f), 0x0000);
  EXPECT_EQ(floatToHalfBits(-0.0f), 0x8000);
  // 65504 = (2 - 2^-10) * 2^15, the largest finite value.
  EXPECT_EQ(floatToHalfBits(65504.0f), 0x7BFF);
  // 2^-14 is the smallest normal; 1023 * 2^-24 the largest subnormal.
  EXPECT_EQ(floatToHalfBits(std::ldexp(1.0f, -14)), 0x0400);
  EXPECT_EQ(floatToHalfBits(1023.0f * std::ldexp(1.0f, -24)), 0x03FF);
  // 0.1 = 1.6 * 2^-4: exponent 11 (0x2C00) | round(0.6 * 1024 = 614.4) =
  // 614 = 0x266 -> 0x2E66.
  EXPECT_EQ(floatToHalfBits(0.1f), 0x2E66);
  // 1/3 = 1.0101...b * 2^-2: exponent 13 (0x3400) | 0101010101b = 0x155,
  // the next bits 01... round down -> 0x3555.
  EXPECT_EQ(floatToHalfBits(1.0f / 3.0f), 0x3555);
}

TEST(FloatFormatsTest, HalfToFloatKnownValues) {
  EXPECT_EQ(halfBitsToFloat(0x3C00), 1.0f);
  EXPECT_EQ(halfBitsToFloat(0xC000), -2.0f);
  EXPECT_EQ(halfBitsToFloat(0x7BFF), 65504.0f);
  // 0x3C01 = 1 + 2^-10.
  EXPECT_EQ(halfBitsToFloat(0x3C01), 1.0f + std::ldexp(1.0f, -10));
  // 0x3555 = (1 + 341/1024) * 2^-2 = 1365/4096.
  EXPECT_EQ(halfBitsToFloat(0x3555), 1365.0f / 4096.0f);
  EXPECT_EQ(halfBitsToFloat(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(halfBitsToFloat(0x03FF), 1023.0f * std::ldexp(1.0f, -24));
  EXPECT_EQ(halfBitsToFloat(0x8001), -std::ldexp(1.0f, -24));
  EXPECT_TRUE(std::signbit(halfBitsToFloat(0x8000)));
  EXPECT_EQ(halfBitsToFloat(0x7C00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(halfBitsToFloat(0xFC00), -std::numeric_limits<float>::infinity());
}

TEST(FloatFormatsTest, HalfExactValue) {
  // 1 + 2^-10 is the fp16 value right after 1.
  float value = 1.0f + std::ldexp(1.0f, -10);
  EXPECT_EQ(floatToHalfBits(value), 0x3C01);
  EXPECT_EQ(halfBitsToFloat(0x3C01), value);
}

TEST(FloatFormatsTest, HalfOverflow) {
  // 65520 is halfway between 65504 (0x7BFF, odd mantissa) and 65536, which
  // would be the next value; the tie goes to the even side: infinity.
  EXPECT_EQ(floatToHalfBits(65520.0f), 0x7C00);
  EXPECT_EQ(floatToHalfBits(-65520.0f), 0xFC00);
  // Just below the tie rounds down to the largest finite value.
  EXPECT_EQ(floatToHalfBits(65519.0f), 0x7BFF);
  EXPECT_EQ(floatToHalfBits(1.0e6f), 0x7C00);
  EXPECT_EQ(floatToHalfBits(std::numeric_limits<float>::max()), 0x7C00);
  EXPECT_EQ(floatToHalfBits(std::numeric_limits<float>::infinity()), 0x7C00);
  EXPECT_EQ(floatToHalfBits(-std::numeric_limits<float>::infinity()), 0xFC00);
}

TEST(FloatFormatsTest, HalfSubnormals) {
  // 2^-24 is the smallest subnormal, mantissa 1.
  EXPECT_EQ(floatToHalfBits(std::ldexp(1.0f, -24)), 0x0001);
  // 2^-25 is half of it: a tie between 0 and 0x0001 -> even -> 0.
  EXPECT_EQ(floatToHalfBits(std::ldexp(1.0f, -25)), 0x0000);
  EXPECT_EQ(floatToHalfBits(-std::ldexp(1.0f, -25)), 0x8000);
  // 1.5 * 2^-25 = 0.75 units is above the tie -> 0x0001.
  EXPECT_EQ(floatToHalfBits(1.5f * std::ldexp(1.0f, -25)), 0x0001);
  // 3 * 2^-25 = 1.5 units: tie between 1 and 2 -> even -> 0x0002.
  EXPECT_EQ(floatToHalfBits(3.0f * std::ldexp(1.0f, -25)), 0x0002);
  // 5 * 2^-25 = 2.5 units: tie between 2 and 3 -> 0x0002.
  EXPECT_EQ(floatToHalfBits(5.0f * std::ldexp(1.0f, -25)), 0x0002);
  // 1023.5 units: tie between 0x03FF and 0x0400 -> 0x0400, the carry
  // crossing into the smallest normal.
  EXPECT_EQ(floatToHalfBits(1023.5f * std::ldexp(1.0f, -24)), 0x0400);
  // Far below: zero; float subnormals too.
  EXPECT_EQ(floatToHalfBits(1.0e-10f), 0x0000);
  EXPECT_EQ(floatToHalfBits(std::numeric_limits<float>::denorm_min()), 0x0000);
}

TEST(FloatFormatsTest, HalfTiesToEven) {
  // The fp16 spacing at 1 is 2^-10. 1 + 2^-11 lies halfway between 0x3C00
  // and 0x3C01 and goes to the even mantissa 0x3C00; 1 + 3 * 2^-11 lies
  // halfway between 0x3C01 and 0x3C02 and goes to 0x3C02.
  EXPECT_EQ(floatToHalfBits(1.0f + std::ldexp(1.0f, -11)), 0x3C00);
  EXPECT_EQ(floatToHalfBits(1.0f + 3.0f * std::ldexp(1.0f, -11)), 0x3C02);
  // Slightly above the first tie rounds up.
  EXPECT_EQ(
      floatToHalfBits(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)),
      0x3C01);
  // Carry out of the mantissa: 2 - 2^-11 is halfway between 0x3BFF and 2.0;
  // 0x3BFF is odd, so it rounds up into the next exponent: 0x4000.
  EXPECT_EQ(floatToHalfBits(2.0f - std::ldexp(1.0f, -11)), 0x4000);
}

TEST(FloatFormatsTest, HalfNaN) {
  float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(isHalfNaN(floatToHalfBits(nan)));
  EXPECT_TRUE(isHalfNaN(floatToHalfBits(-nan)));
  // A NaN whose payload lives only in the low 13 mantissa bits would become
  // infinity if those bits were simply dropped.
  EXPECT_TRUE(isHalfNaN(floatToHalfBits(fromBits(0x7F800001u))));
  EXPECT_TRUE(std::isnan(halfBitsToFloat(0x7E00)));
  EXPECT_TRUE(std::isnan(halfBitsToFloat(0x7C01)));
  EXPECT_TRUE(std::isnan(halfBitsToFloat(0xFFFF)));
}

TEST(FloatFormatsTest, HalfExhaustiveRoundTrip) {
  // Every non-NaN fp16 value is exact in fp32 and must convert back to the
  // same bits (signed zeros, subnormals and infinities included).
  int checked = 0;
  for (uint32_t bits = 0; bits <= 0xFFFF; ++bits) {
    uint16_t half = static_cast<uint16_t>(bits);
    if (isHalfNaN(half))
      continue;
    float value = halfBitsToFloat(half);
    if ((half & 0x7C00u) != 0x7C00u) {
      ASSERT_EQ(value, halfValue(half)) << std::hex << bits;
    }
    ASSERT_EQ(floatToHalfBits(value), half) << std::hex << bits;
    ++checked;
  }
  // 65536 patterns minus 2 signs * 1023 NaN mantissas.
  EXPECT_EQ(checked, 65536 - 2 * 1023);
}

TEST(FloatFormatsTest, HalfArrayMatchesScalarOnEveryPattern) {
  // The vectorized conversion must give the scalar one's exact bits for all
  // 65536 patterns (NaN payloads and signs included), from an unaligned
  // little-endian buffer.
  std::vector<uint8_t> bytes(1 + 2 * 65536);
  for (uint32_t bits = 0; bits <= 0xFFFF; ++bits) {
    bytes[1 + 2 * bits] = static_cast<uint8_t>(bits);
    bytes[2 + 2 * bits] = static_cast<uint8_t>(bits >> 8);
  }
  std::vector<float> values(65536);
  halfBitsToFloatArray(bytes.data() + 1, 65536, values.data());
  for (uint32_t bits = 0; bits <= 0xFFFF; ++bits) {
    uint32_t got, want;
    float scalar = halfBitsToFloat(static_cast<uint16_t>(bits));
    std::memcpy(&got, &values[bits], 4);
    std::memcpy(&want, &scalar, 4);
    ASSERT_EQ(got, want) << std::hex << bits;
  }
}

TEST(FloatFormatsTest, HalfMidpointsRoundToEven) {
  // Between consecutive finite fp16 values a and b, the midpoint (exact in
  // fp32) must go to whichever of the two has an even mantissa; a quarter of
  // the gap above a goes to a, three quarters to b.
  for (uint16_t a = 0x0000; a < 0x7BFF; ++a) {
    uint16_t b = a + 1;
    float lo = halfValue(a), hi = halfValue(b);
    float mid = (lo + hi) / 2.0f;
    ASSERT_EQ(floatToHalfBits(mid), (a & 1u) ? b : a) << std::hex << a;
    ASSERT_EQ(floatToHalfBits(-mid), ((a & 1u) ? b : a) | 0x8000)
        << std::hex << a;
    ASSERT_EQ(floatToHalfBits(lo + (hi - lo) / 4.0f), a) << std::hex << a;
    ASSERT_EQ(floatToHalfBits(lo + 3.0f * (hi - lo) / 4.0f), b)
        << std::hex << a;
  }
}

TEST(FloatFormatsTest, BFloat16KnownPatterns) {
  // bf16 keeps the top half of the fp32 bits: 1.0f = 0x3F800000.
  EXPECT_EQ(floatToBFloat16Bits(1.0f), 0x3F80);
  EXPECT_EQ(floatToBFloat16Bits(-2.0f), 0xC000); // 0xC0000000
  EXPECT_EQ(floatToBFloat16Bits(0.0f), 0x0000);
  EXPECT_EQ(floatToBFloat16Bits(-0.0f), 0x8000);
  EXPECT_EQ(bfloat16BitsToFloat(0x3F80), 1.0f);
  EXPECT_EQ(bfloat16BitsToFloat(0xC000), -2.0f);
  // 0.1f = 0x3DCCCCCD: the dropped half 0xCCCD > 0x8000 rounds up: 0x3DCD
  // = (1 + 77/128) * 2^-4 = 205/2048.
  EXPECT_EQ(floatToBFloat16Bits(0.1f), 0x3DCD);
  EXPECT_EQ(bfloat16BitsToFloat(0x3DCD), 205.0f / 2048.0f);
  // 1/3 = 0x3EAAAAAB: the dropped half 0xAAAB rounds up -> 0x3EAB.
  EXPECT_EQ(floatToBFloat16Bits(1.0f / 3.0f), 0x3EAB);
}

TEST(FloatFormatsTest, BFloat16TiesToEven) {
  // The bf16 spacing at 1 is 2^-7. 1 + 2^-8 (0x3F808000) is halfway between
  // 0x3F80 and 0x3F81 -> even 0x3F80; 1 + 3 * 2^-8 (0x3F818000) is halfway
  // between 0x3F81 and 0x3F82 -> 0x3F82.
  EXPECT_EQ(floatToBFloat16Bits(1.0f + std::ldexp(1.0f, -8)), 0x3F80);
  EXPECT_EQ(floatToBFloat16Bits(1.0f + 3.0f * std::ldexp(1.0f, -8)), 0x3F82);
  // 0x3F808001 is just above the first tie -> 0x3F81.
  EXPECT_EQ(floatToBFloat16Bits(fromBits(0x3F808001u)), 0x3F81);
  // 0x3F807FFF is just below it -> 0x3F80.
  EXPECT_EQ(floatToBFloat16Bits(fromBits(0x3F807FFFu)), 0x3F80);
}

TEST(FloatFormatsTest, BFloat16OverflowAndNaN) {
  // FLT_MAX = 0x7F7FFFFF rounds up past 0x7F7F into infinity 0x7F80.
  EXPECT_EQ(floatToBFloat16Bits(std::numeric_limits<float>::max()), 0x7F80);
  EXPECT_EQ(floatToBFloat16Bits(std::numeric_limits<float>::infinity()),
            0x7F80);
  EXPECT_EQ(floatToBFloat16Bits(-std::numeric_limits<float>::infinity()),
            0xFF80);
  // 0x7F7F7FFF rounds down to the largest finite bf16 0x7F7F.
  EXPECT_EQ(floatToBFloat16Bits(fromBits(0x7F7F7FFFu)), 0x7F7F);
  EXPECT_TRUE(isBFloat16NaN(
      floatToBFloat16Bits(std::numeric_limits<float>::quiet_NaN())));
  // Payload only in the dropped low bits: must not turn into infinity.
  EXPECT_TRUE(isBFloat16NaN(floatToBFloat16Bits(fromBits(0x7F800001u))));
  EXPECT_TRUE(isBFloat16NaN(floatToBFloat16Bits(fromBits(0xFFFFFFFFu))));
  EXPECT_TRUE(std::isnan(bfloat16BitsToFloat(0x7FC0)));
}

TEST(FloatFormatsTest, BFloat16ExhaustiveRoundTrip) {
  for (uint32_t bits = 0; bits <= 0xFFFF; ++bits) {
    uint16_t b = static_cast<uint16_t>(bits);
    if (isBFloat16NaN(b))
      continue;
    ASSERT_EQ(floatToBFloat16Bits(bfloat16BitsToFloat(b)), b)
        << std::hex << bits;
  }
}

TEST(FloatFormatsTest, ScalarFormatSizes) {
  EXPECT_EQ(scalarFormatBytes(ScalarFormat::F16), 2u);
  EXPECT_EQ(scalarFormatBytes(ScalarFormat::BF16), 2u);
  EXPECT_EQ(scalarFormatBytes(ScalarFormat::F32), 4u);
}

TEST(FloatFormatsTest, RoundToFormat) {
  // fp16 0x2E66 = (1024 + 614) / 1024 * 2^-4 = 1638/16384.
  EXPECT_EQ(roundToFormat(0.1f, ScalarFormat::F16), 1638.0f / 16384.0f);
  // bf16 0x3DCD = 205/2048 (see above).
  EXPECT_EQ(roundToFormat(0.1f, ScalarFormat::BF16), 205.0f / 2048.0f);
  EXPECT_EQ(roundToFormat(0.1f, ScalarFormat::F32), 0.1f);
  EXPECT_EQ(roundToFormat(65520.0f, ScalarFormat::F16),
            std::numeric_limits<float>::infinity());
}

TEST(FloatFormatsTest, StoreAndLoadLittleEndian) {
  uint8_t half[2];
  storeScalar(1.0f, ScalarFormat::F16, half); // 0x3C00
  EXPECT_EQ(half[0], 0x00);
  EXPECT_EQ(half[1], 0x3C);
  EXPECT_EQ(loadScalar(half, ScalarFormat::F16), 1.0f);

  storeScalar(0.1f, ScalarFormat::F16, half); // rounds to 0x2E66
  EXPECT_EQ(half[0], 0x66);
  EXPECT_EQ(half[1], 0x2E);
  EXPECT_EQ(loadScalar(half, ScalarFormat::F16), 1638.0f / 16384.0f);

  uint8_t bf[2];
  storeScalar(-2.0f, ScalarFormat::BF16, bf); // 0xC000
  EXPECT_EQ(bf[0], 0x00);
  EXPECT_EQ(bf[1], 0xC0);
  EXPECT_EQ(loadScalar(bf, ScalarFormat::BF16), -2.0f);

  uint8_t word[4];
  storeScalar(1.0f, ScalarFormat::F32, word); // 0x3F800000
  EXPECT_EQ(word[0], 0x00);
  EXPECT_EQ(word[1], 0x00);
  EXPECT_EQ(word[2], 0x80);
  EXPECT_EQ(word[3], 0x3F);
  EXPECT_EQ(loadScalar(word, ScalarFormat::F32), 1.0f);

  storeScalar(1.0f / 3.0f, ScalarFormat::F32, word); // 0x3EAAAAAB
  EXPECT_EQ(word[0], 0xAB);
  EXPECT_EQ(word[1], 0xAA);
  EXPECT_EQ(word[2], 0xAA);
  EXPECT_EQ(word[3], 0x3E);
  EXPECT_EQ(loadScalar(word, ScalarFormat::F32), 1.0f / 3.0f);
}

} // namespace
