//===- SchemeUtils.cpp - helpers for writing quantization schemes ---------===//
#include "dialect/MixQ/SchemeUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

#include <cstring>

using namespace mlir;
using namespace mlir::mixq;

::mixq::quant::ScalarFormat mlir::mixq::getScalarFormat(FloatType type) {
  if (type.isF32())
    return ::mixq::quant::ScalarFormat::F32;
  if (type.isBF16())
    return ::mixq::quant::ScalarFormat::BF16;
  return ::mixq::quant::ScalarFormat::F16;
}

bool mlir::mixq::isScalarStorageType(Type type) {
  return type.isF16() || type.isBF16() || type.isF32();
}

PackedBuffer mlir::mixq::wordsToBytes(const std::vector<uint32_t> &words) {
  // Components are little-endian; so is every host mixq supports.
  PackedBuffer bytes(words.size() * sizeof(uint32_t));
  std::memcpy(bytes.data(), words.data(), bytes.size());
  return bytes;
}

std::vector<uint32_t> mlir::mixq::bytesToWords(const PackedBuffer &bytes) {
  std::vector<uint32_t> words(bytes.size() / sizeof(uint32_t));
  std::memcpy(words.data(), bytes.data(), words.size() * sizeof(uint32_t));
  return words;
}

llvm::Expected<std::optional<::mixq::quant::Sensitivity>>
mlir::mixq::sensitivityOf(const QuantizeOptions &options, int64_t cols,
                          llvm::StringRef scheme) {
  if (options.inputSensitivity.empty())
    return std::optional<::mixq::quant::Sensitivity>();
  ::mixq::quant::Sensitivity sensitivity;
  sensitivity.meanSquare.assign(options.inputSensitivity.begin(),
                                options.inputSensitivity.end());
  std::string problem = ::mixq::quant::validateSensitivity(sensitivity, cols);
  if (!problem.empty())
    return llvm::createStringError(scheme.str() + ": " + problem);
  return std::optional<::mixq::quant::Sensitivity>(std::move(sensitivity));
}

Value mlir::mixq::buildIndexConstant(OpBuilder &b, Location loc,
                                     int64_t value) {
  return arith::ConstantIndexOp::create(b, loc, value);
}

static Value i32Const(OpBuilder &b, Location loc, int64_t value) {
  return arith::ConstantIntOp::create(b, loc, b.getI32Type(), value);
}

Value mlir::mixq::buildExtendToF32(OpBuilder &b, Location loc, Value value) {
  if (value.getType().isF32())
    return value;
  return arith::ExtFOp::create(b, loc, b.getF32Type(), value);
}

Value mlir::mixq::buildTruncateFromF32(OpBuilder &b, Location loc, Value value,
                                       FloatType type) {
  if (type.isF32())
    return value;
  return arith::TruncFOp::create(b, loc, type, value);
}

/// Emits the load of the `bits`-bit code at column `col` of `row` from a
/// row-padded LSB-first word stream (see Quant/BitPacking.h), as an i32.
Value mlir::mixq::buildPackedCodeLoad(OpBuilder &b, Location loc,
                                      const ComponentReader &reader,
                                      unsigned codesIndex, Value row, Value col,
                                      unsigned bits, int64_t wordsPerRow) {
  Value bitPos =
      arith::MulIOp::create(b, loc, col, buildIndexConstant(b, loc, bits));
  Value c32 = buildIndexConstant(b, loc, 32);
  Value word = arith::DivUIOp::create(b, loc, bitPos, c32);
  Value shift = arith::RemUIOp::create(b, loc, bitPos, c32);
  Value shift32 = arith::IndexCastOp::create(b, loc, b.getI32Type(), shift);
  Value low = arith::ShRUIOp::create(
      b, loc, reader.load(b, loc, codesIndex, {row, word}), shift32);
  Value code = low;
  if (32 % bits != 0) {
    // The code may straddle into the next word. Clamp the index so the last
    // word of a row never reads past it (its high part is unused then), and
    // keep the shift amount below 32 so the shl is always defined.
    Value next = arith::MinUIOp::create(
        b, loc,
        arith::AddIOp::create(b, loc, word, buildIndexConstant(b, loc, 1)),
        buildIndexConstant(b, loc, wordsPerRow - 1));
    Value inverse = arith::AndIOp::create(
        b, loc, arith::SubIOp::create(b, loc, i32Const(b, loc, 32), shift32),
        i32Const(b, loc, 31));
    Value high = arith::ShLIOp::create(
        b, loc, reader.load(b, loc, codesIndex, {row, next}), inverse);
    Value aligned = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                          shift32, i32Const(b, loc, 0));
    high = arith::SelectOp::create(b, loc, aligned, i32Const(b, loc, 0), high);
    code = arith::OrIOp::create(b, loc, low, high);
  }
  return arith::AndIOp::create(b, loc, code,
                               i32Const(b, loc, (1LL << bits) - 1));
}
