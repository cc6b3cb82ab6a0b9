//===- SchemeUtils.h - helpers for writing quantization schemes -*- C++ -*-===//
//
// Building blocks shared by QuantSchemeAttrInterface implementations, in
// dialect/ and in out-of-tree or test-only schemes: IR emission of packed
// code loads and float conversions, and host byte packing.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_DIALECT_MIXQ_SCHEMEUTILS_H
#define MIXQ_DIALECT_MIXQ_SCHEMEUTILS_H

#include "dialect/MixQ/MixQInterfaces.h"
#include "dialect/MixQ/Quant/CalibrationStats.h"
#include "dialect/MixQ/Quant/FloatFormats.h"

#include <optional>

namespace mlir::mixq {

/// Emits `arith.constant <value> : index`.
Value buildIndexConstant(OpBuilder &b, Location loc, int64_t value);

/// Emits the load of the `bits`-bit code (row, col) from component
/// `codesIndex`, a rows x wordsPerRow i32 matrix in the row-padded LSB-first
/// stream layout of Quant/BitPacking.h. Returns the code as an i32. Codes
/// that straddle two words (3-bit) are handled.
Value buildPackedCodeLoad(OpBuilder &b, Location loc,
                          const ComponentReader &reader, unsigned codesIndex,
                          Value row, Value col, unsigned bits,
                          int64_t wordsPerRow);

/// Widens a float scalar to f32 (no-op for f32).
Value buildExtendToF32(OpBuilder &b, Location loc, Value value);
/// Rounds an f32 scalar to `type` (no-op for f32).
Value buildTruncateFromF32(OpBuilder &b, Location loc, Value value,
                           FloatType type);

/// The storage format of a scale/zero/centroid float type (f16, bf16, f32).
::mixq::quant::ScalarFormat getScalarFormat(FloatType type);
/// True for the float types a scheme may store scalars in.
bool isScalarStorageType(Type type);

/// The calibration sensitivity of `options` as the host quantizers take it
/// (none when absent), checked against the `cols` inputs; errors start with
/// the scheme name.
llvm::Expected<std::optional<::mixq::quant::Sensitivity>>
sensitivityOf(const QuantizeOptions &options, int64_t cols,
              llvm::StringRef scheme);

/// Host byte views of packed 32-bit code words (little-endian).
PackedBuffer wordsToBytes(const std::vector<uint32_t> &words);
std::vector<uint32_t> bytesToWords(const PackedBuffer &bytes);

} // namespace mlir::mixq

#endif // MIXQ_DIALECT_MIXQ_SCHEMEUTILS_H
