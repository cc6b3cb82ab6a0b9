//===- FloatFormats.h - fp16 / bf16 conversion ------------------*- C++ -*-===//
//
// Exact, dependency-free conversions between float and the 16-bit storage
// formats. Rounding is IEEE round-to-nearest-even; NaN stays NaN, overflow
// goes to infinity, and fp16 subnormals are produced and read exactly.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_QUANT_FLOATFORMATS_H
#define MIXQ_QUANT_FLOATFORMATS_H

#include <cstdint>

namespace mixq::quant {

uint16_t floatToHalfBits(float value);
float halfBitsToFloat(uint16_t bits);
uint16_t floatToBFloat16Bits(float value);
float bfloat16BitsToFloat(uint16_t bits);

/// halfBitsToFloat of `count` fp16 values (2-byte little-endian, any
/// alignment) into `out`, branch-free so that it vectorizes: reading a 7B
/// checkpoint converts billions of them.
void halfBitsToFloatArray(const uint8_t *in, int64_t count, float *out);

/// Storage format of scales/zeros/centroids.
enum class ScalarFormat { F16, BF16, F32 };

/// Size in bytes of one element of `format`.
unsigned scalarFormatBytes(ScalarFormat format);
/// Rounds `value` to the nearest value representable in `format`.
float roundToFormat(float value, ScalarFormat format);
/// Writes `value` (rounded) little-endian at `out`.
void storeScalar(float value, ScalarFormat format, uint8_t *out);
/// Reads a little-endian scalar of `format` from `in`.
float loadScalar(const uint8_t *in, ScalarFormat format);

} // namespace mixq::quant

#endif // MIXQ_QUANT_FLOATFORMATS_H
