//===- FloatFormats.cpp - fp16 / bf16 conversion --------------------------===//
//
// Bit-level conversions, so the results do not depend on the host's _Float16
// support or on the current floating-point rounding mode.
//===----------------------------------------------------------------------===//
#include "quant/FloatFormats.h"
#include "quant/Vectorize.h"

#include <cassert>
#include <cmath>
#include <cstring>

using namespace mixq::quant;

static uint32_t floatBits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

static float bitsToFloat(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

/// Drops the low `shift` bits of `value`, rounding to nearest, ties to even.
static uint32_t shiftRightRoundEven(uint32_t value, unsigned shift) {
  uint32_t kept = value >> shift;
  uint32_t rest = value & ((1u << shift) - 1u);
  uint32_t half = 1u << (shift - 1);
  if (rest > half || (rest == half && (kept & 1u)))
    ++kept;
  return kept;
}

uint16_t mixq::quant::floatToHalfBits(float value) {
  uint32_t f = floatBits(value);
  uint32_t sign = (f >> 16) & 0x8000u;
  uint32_t magnitude = f & 0x7FFFFFFFu;
  uint32_t mantissa = magnitude & 0x7FFFFFu;
  // Keep the top payload bits and force the quiet bit, so that a NaN whose
  // payload lives only in the dropped low bits does not become infinity.
  if (magnitude > 0x7F800000u)
    return static_cast<uint16_t>(sign | 0x7E00u | (mantissa >> 13));
  int halfExponent = static_cast<int>(magnitude >> 23) - 127 + 15;
  if (halfExponent >= 31) // also catches float infinity
    return static_cast<uint16_t>(sign | 0x7C00u);
  if (halfExponent <= 0) {
    // Subnormal result: units of 2^-24. The value is (mantissa | 2^23) *
    // 2^(halfExponent - 14) such units; below half a unit it rounds to zero
    // (float subnormals land here too, their exponent field being 0).
    unsigned shift = static_cast<unsigned>(14 - halfExponent);
    if (shift > 24)
      return static_cast<uint16_t>(sign);
    // A carry out of the subnormal range yields 0x0400, the smallest normal.
    return static_cast<uint16_t>(
        sign | shiftRightRoundEven(mantissa | 0x800000u, shift));
  }
  // A rounding carry out of the mantissa bumps the exponent, and from the
  // largest finite value it correctly produces infinity (0x7C00).
  uint32_t half =
      (static_cast<uint32_t>(halfExponent) << 10) + (mantissa >> 13);
  uint32_t rest = mantissa & 0x1FFFu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u)))
    ++half;
  return static_cast<uint16_t>(sign | half);
}

float mixq::quant::halfBitsToFloat(uint16_t bits) {
  uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  uint32_t exponent = (bits >> 10) & 0x1Fu;
  uint32_t mantissa = bits & 0x3FFu;
  if (exponent == 0) {
    // Subnormal (or zero): mantissa * 2^-24 is exact in float.
    float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return bitsToFloat(sign | floatBits(magnitude));
  }
  if (exponent == 31)
    return bitsToFloat(sign | 0x7F800000u | (mantissa << 13));
  return bitsToFloat(sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
}

MIXQ_VECTOR_CLONES
void mixq::quant::halfBitsToFloatArray(const uint8_t *in, int64_t count,
                                       float *out) {
  // Selects are written as masks: with ?: GCC 12 does not if-convert the
  // loop and leaves it scalar.
  for (int64_t i = 0; i < count; ++i) {
    uint32_t bits = static_cast<uint32_t>(in[2 * i]) |
                    static_cast<uint32_t>(in[2 * i + 1]) << 8;
    uint32_t sign = (bits & 0x8000u) << 16;
    uint32_t magnitude = bits & 0x7FFFu;
    // Normal: the exponent is rebiased by 127 - 15 = 112; infinity and NaN
    // (exponent 31) by 112 more, to 255. Subnormals and zero are
    // magnitude * 2^-24, exact in float.
    uint32_t special = 0u - static_cast<uint32_t>(magnitude >= 0x7C00u);
    uint32_t small = 0u - static_cast<uint32_t>(magnitude < 0x400u);
    uint32_t rebiased =
        (magnitude << 13) + (112u << 23) + (special & (112u << 23));
    uint32_t subnormal =
        floatBits(static_cast<float>(static_cast<int32_t>(magnitude)) *
                  5.9604644775390625e-8f); // 2^-24
    uint32_t value = (small & subnormal) | (~small & rebiased);
    out[i] = bitsToFloat(sign | value);
  }
}

uint16_t mixq::quant::floatToBFloat16Bits(float value) {
  uint32_t f = floatBits(value);
  // Truncating could clear every remaining mantissa bit; the quiet bit keeps
  // the result a NaN.
  if ((f & 0x7FFFFFFFu) > 0x7F800000u)
    return static_cast<uint16_t>((f >> 16) | 0x0040u);
  // Adding just under half, plus the lowest kept bit, rounds ties to even;
  // the carry propagates into the exponent and up to infinity.
  uint32_t bias = 0x7FFFu + ((f >> 16) & 1u);
  return static_cast<uint16_t>((f + bias) >> 16);
}

float mixq::quant::bfloat16BitsToFloat(uint16_t bits) {
  return bitsToFloat(static_cast<uint32_t>(bits) << 16);
}

unsigned mixq::quant::scalarFormatBytes(ScalarFormat format) {
  return format == ScalarFormat::F32 ? 4 : 2;
}

float mixq::quant::roundToFormat(float value, ScalarFormat format) {
  switch (format) {
  case ScalarFormat::F16:
    return halfBitsToFloat(floatToHalfBits(value));
  case ScalarFormat::BF16:
    return bfloat16BitsToFloat(floatToBFloat16Bits(value));
  case ScalarFormat::F32:
    return value;
  }
  assert(false && "unknown scalar format");
  return value;
}

/// The storage bits of `value` in `format`, in the low bytes.
static uint32_t encodeScalar(float value, ScalarFormat format) {
  switch (format) {
  case ScalarFormat::F16:
    return floatToHalfBits(value);
  case ScalarFormat::BF16:
    return floatToBFloat16Bits(value);
  case ScalarFormat::F32:
    return floatBits(value);
  }
  assert(false && "unknown scalar format");
  return floatBits(value);
}

void mixq::quant::storeScalar(float value, ScalarFormat format, uint8_t *out) {
  uint32_t bits = encodeScalar(value, format);
  // Byte by byte, so the stored layout is little-endian on any host.
  for (unsigned i = 0, e = scalarFormatBytes(format); i < e; ++i)
    out[i] = static_cast<uint8_t>(bits >> (8 * i));
}

float mixq::quant::loadScalar(const uint8_t *in, ScalarFormat format) {
  uint32_t bits = 0;
  for (unsigned i = 0, e = scalarFormatBytes(format); i < e; ++i)
    bits |= static_cast<uint32_t>(in[i]) << (8 * i);
  switch (format) {
  case ScalarFormat::F16:
    return halfBitsToFloat(static_cast<uint16_t>(bits));
  case ScalarFormat::BF16:
    return bfloat16BitsToFloat(static_cast<uint16_t>(bits));
  case ScalarFormat::F32:
    return bitsToFloat(bits);
  }
  assert(false && "unknown scalar format");
  return bitsToFloat(bits);
}
