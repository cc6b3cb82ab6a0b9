//===- SchemeUtils.cpp - helpers for writing quantization schemes ---------===//
#include "dialect/MixQ/SchemeUtils.h"
#include "quant/BitPacking.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/TypeUtilities.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
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

namespace {
/// `element` in the shape of `like` (a scalar or a vector).
Type getTypeLike(Type like, Type element) {
  if (auto vector = dyn_cast<VectorType>(like))
    return VectorType::get(vector.getShape(), element);
  return element;
}

/// The width * bits / 32 words of a word-aligned tile of `width` codes
/// from column `col`, one ComponentReader::loadVector.
Value loadTileWords(OpBuilder &b, Location loc, const ComponentReader &reader,
                    unsigned codesIndex, Value row, Value col, unsigned bits,
                    int64_t width) {
  Value firstWord = arith::DivUIOp::create(
      b, loc,
      arith::MulIOp::create(b, loc, col, buildIndexConstant(b, loc, bits)),
      buildIndexConstant(b, loc, 32));
  return reader.loadVector(b, loc, codesIndex, {row, firstWord},
                           width * bits / 32);
}
} // namespace

Value mlir::mixq::buildExtendToF32(OpBuilder &b, Location loc, Value value) {
  if (getElementTypeOrSelf(value.getType()).isF32())
    return value;
  return arith::ExtFOp::create(
      b, loc, getTypeLike(value.getType(), b.getF32Type()), value);
}

Value mlir::mixq::buildTruncateFromF32(OpBuilder &b, Location loc, Value value,
                                       FloatType type) {
  if (type.isF32())
    return value;
  return arith::TruncFOp::create(b, loc, getTypeLike(value.getType(), type),
                                 value);
}

/// Emits the load of the `bits`-bit code at column `col` of `row` from a
/// row-padded LSB-first word stream (see quant/BitPacking.h), as an i32.
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
        b, loc,
        arith::SubIOp::create(b, loc, buildI32Constant(b, loc, 32), shift32),
        buildI32Constant(b, loc, 31));
    Value high = arith::ShLIOp::create(
        b, loc, reader.load(b, loc, codesIndex, {row, next}), inverse);
    Value aligned = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                          shift32, buildI32Constant(b, loc, 0));
    high = arith::SelectOp::create(b, loc, aligned, buildI32Constant(b, loc, 0),
                                   high);
    code = arith::OrIOp::create(b, loc, low, high);
  }
  return arith::AndIOp::create(b, loc, code,
                               buildI32Constant(b, loc, (1LL << bits) - 1));
}

bool mlir::mixq::isWholeWordTile(unsigned bits, int64_t width) {
  return bits > 0 && 32 % bits == 0 && (width * bits) % 32 == 0;
}

Value mlir::mixq::buildSplat(OpBuilder &b, Location loc, Value scalar,
                             int64_t width) {
  return vector::BroadcastOp::create(
      b, loc, VectorType::get({width}, scalar.getType()), scalar);
}

Value mlir::mixq::buildI32Vector(OpBuilder &b, Location loc, int64_t n,
                                 llvm::function_ref<int32_t(int64_t)> f) {
  SmallVector<int32_t> values;
  for (int64_t i = 0; i < n; ++i)
    values.push_back(f(i));
  auto type = VectorType::get({n}, b.getI32Type());
  return arith::ConstantOp::create(b, loc, type,
                                   DenseIntElementsAttr::get(type, values));
}

bool mlir::mixq::isWordAlignedTile(unsigned bits, int64_t width) {
  return bits > 0 && bits <= 16 && (width * bits) % 32 == 0;
}

namespace {
/// Whether some of the `width` fields of `bits` bits straddle two words.
bool hasStraddlingFields(unsigned bits, int64_t width) {
  for (int64_t i = 0; i < width; ++i)
    if (i * bits % 32 + bits > 32)
      return true;
  return false;
}

/// The `width` fields of `bits` bits of a tile's `words` packed words
/// (LSB first, fields straddling words), as vector<count x i32>: one shift
/// and mask per field, one more shift and or where it straddles.
Value extractPackedFields(OpBuilder &b, Location loc, Value packed,
                          int64_t words, unsigned bits, int64_t width) {
  // Code i sits at bit 32 * word(i) + shift(i) of the tile.
  auto wordOf = [&](int64_t i) { return i * bits / 32; };
  auto shiftOf = [&](int64_t i) { return static_cast<int32_t>(i * bits % 32); };
  SmallVector<int64_t> lowWord;
  for (int64_t i = 0; i < width; ++i)
    lowWord.push_back(wordOf(i));
  Value low = arith::ShRUIOp::create(
      b, loc, vector::ShuffleOp::create(b, loc, packed, packed, lowWord),
      buildI32Vector(b, loc, width, shiftOf));
  Value mask = buildI32Vector(b, loc, width, [&](int64_t) {
    return static_cast<int32_t>((1u << bits) - 1);
  });
  if (!hasStraddlingFields(bits, width))
    return arith::AndIOp::create(b, loc, low, mask);
  auto straddles = [&](int64_t i) { return shiftOf(i) + bits > 32; };
  // The next word's low bits, shifted up into place; a zero word (from
  // `zeros`, so every shift stays below 32) where a code does not straddle.
  Value zeros = buildI32Vector(b, loc, words, [](int64_t) { return 0; });
  SmallVector<int64_t> highWord;
  for (int64_t i = 0; i < width; ++i)
    highWord.push_back(straddles(i) ? wordOf(i) + 1 : words);
  Value high = arith::ShLIOp::create(
      b, loc, vector::ShuffleOp::create(b, loc, packed, zeros, highWord),
      buildI32Vector(b, loc, width, [&](int64_t i) {
        return straddles(i) ? 32 - shiftOf(i) : 0;
      }));
  return arith::AndIOp::create(b, loc, arith::OrIOp::create(b, loc, low, high),
                               mask);
}
} // namespace

namespace {
/// The `width` fields of `bits` (at most 9) bits of a tile's `words` packed
/// words, as extractPackedFields gives them, through the bytes: each
/// field's lane takes the two bytes that hold it (one byte shuffle of the
/// tile), then one shift and mask. Where fields straddle words, the word
/// shuffles of extractPackedFields took x86 a chain of inserts, blends and
/// cross-lane permutes (lut3's 32 codes: about 30 instructions, against 4
/// byte shuffles, 4 shifts and 4 masks here).
Value extractPackedFieldsByBytes(OpBuilder &b, Location loc, Value packed,
                                 int64_t words, unsigned bits, int64_t width) {
  int64_t bytes = 4 * words;
  auto byteType = VectorType::get({bytes}, b.getI8Type());
  Value tile = vector::BitCastOp::create(b, loc, byteType, packed);
  Value zeros = arith::ConstantOp::create(
      b, loc, byteType,
      DenseElementsAttr::get(byteType, b.getI8IntegerAttr(0)));
  // Lane i: bytes first(i) and first(i) + 1 of the tile (a zero past its
  // end), then two zero bytes; little-endian, so the lane's i32 is the
  // 16 bits from byte first(i) up.
  SmallVector<int64_t> mask;
  for (int64_t i = 0; i < width; ++i) {
    int64_t first = i * bits / 8;
    mask.append({first, first + 1 < bytes ? first + 1 : bytes, bytes, bytes});
  }
  Value lanes = vector::BitCastOp::create(
      b, loc, VectorType::get({width}, b.getI32Type()),
      vector::ShuffleOp::create(b, loc, tile, zeros, mask));
  Value shifted = arith::ShRUIOp::create(
      b, loc, lanes, buildI32Vector(b, loc, width, [&](int64_t i) {
        return static_cast<int32_t>(i * bits % 8);
      }));
  return arith::AndIOp::create(b, loc, shifted,
                               buildI32Vector(b, loc, width, [&](int64_t) {
                                 return static_cast<int32_t>((1u << bits) - 1);
                               }));
}

/// The codes of a tile, `codesPerField` to a field (buildPackedCodeVector,
/// buildPackedCodePairVector). Single codes that straddle words come
/// through the bytes; pairs keep the word shifts, whose straddling pairs
/// the tensor-core GEMV's table offsets recognize (gatherResidentBytes).
Value buildPackedFieldVector(OpBuilder &b, Location loc,
                             const ComponentReader &reader, unsigned codesIndex,
                             Value row, Value col, unsigned bits, int64_t width,
                             unsigned codesPerField) {
  Value packed =
      loadTileWords(b, loc, reader, codesIndex, row, col, bits, width);
  int64_t words = width * bits / 32;
  if (codesPerField == 1 && bits <= 9 && hasStraddlingFields(bits, width))
    return extractPackedFieldsByBytes(b, loc, packed, words, bits, width);
  return extractPackedFields(b, loc, packed, words, codesPerField * bits,
                             width / codesPerField);
}
} // namespace

Value mlir::mixq::buildWordFieldVectorByBytes(
    OpBuilder &b, Location loc, Value words, unsigned bits,
    SmallVectorImpl<int64_t> &fields) {
  int64_t bytes = 4 * cast<VectorType>(words.getType()).getDimSize(0);
  int64_t perByte = 8 / bits;
  Value wide = arith::ExtUIOp::create(
      b, loc, VectorType::get({bytes}, b.getI32Type()),
      vector::BitCastOp::create(b, loc, VectorType::get({bytes}, b.getI8Type()),
                                words));
  Value result;
  fields.clear();
  for (int64_t f = 0; f < perByte; ++f) {
    Value part = wide;
    if (f > 0)
      part = arith::ShRUIOp::create(
          b, loc, part,
          buildI32Vector(b, loc, bytes, [&](int64_t) { return f * bits; }));
    if (f + 1 < perByte)
      part = arith::AndIOp::create(
          b, loc, part, buildI32Vector(b, loc, bytes, [&](int64_t) {
            return static_cast<int32_t>((1u << bits) - 1);
          }));
    for (int64_t y = 0; y < bytes; ++y)
      fields.push_back(y * perByte + f);
    if (!result) {
      result = part;
      continue;
    }
    int64_t sofar = cast<VectorType>(result.getType()).getDimSize(0);
    result = vector::ShuffleOp::create(
        b, loc, result, part,
        llvm::to_vector(llvm::seq<int64_t>(0, sofar + bytes)));
  }
  return result;
}

Value mlir::mixq::buildPackedCodeVector(OpBuilder &b, Location loc,
                                        const ComponentReader &reader,
                                        unsigned codesIndex, Value row,
                                        Value col, unsigned bits,
                                        int64_t width) {
  return buildPackedFieldVector(b, loc, reader, codesIndex, row, col, bits,
                                width, /*codesPerField=*/1);
}

// The stream of `bits`-bit codes is, read two at a time, a stream of
// 2 * bits-bit fields with the first code in the low bits.
Value mlir::mixq::buildPackedCodePairVector(OpBuilder &b, Location loc,
                                            const ComponentReader &reader,
                                            unsigned codesIndex, Value row,
                                            Value col, unsigned bits,
                                            int64_t width) {
  return buildPackedFieldVector(b, loc, reader, codesIndex, row, col, bits,
                                width, /*codesPerField=*/2);
}

namespace {
/// Where pair i of a word sits: the shift by whole bytes that brings it
/// into the low byte of each half, and its offset k within that byte.
struct PairPlace {
  int32_t shift;
  int32_t offset;
};
PairPlace getPairPlace(int64_t i, unsigned bits) {
  int32_t position = static_cast<int32_t>(i * bits);
  return {position / 8 * 8, position % 8};
}

Value f16Const(OpBuilder &b, Location loc, double value) {
  APFloat half(value);
  bool losesInfo = false;
  half.convert(APFloat::IEEEhalf(), APFloat::rmNearestTiesToEven, &losesInfo);
  return arith::ConstantFloatOp::create(b, loc, b.getF16Type(), half);
}

/// q - z from `biased`, vector<width / 2 x i32> of f16x2 pairs whose
/// element i (little-endian: the low half of pair p is element 2p) holds
/// 0x6400 | q << offsetOf(i): v * 2^-k - (1024 * 2^-k + z) for k the
/// element's offset, one addend per offset. `zero` and `symmetricZero` as
/// for buildCenteredHalfCodePairs.
Value buildCenteredFromBiasedHalves(OpBuilder &b, Location loc, Value biased,
                                    function_ref<int32_t(int64_t)> offsetOf,
                                    Value zero, int64_t symmetricZero) {
  int64_t width = 2 * cast<VectorType>(biased.getType()).getDimSize(0);
  auto halves = VectorType::get({width}, b.getF16Type());
  Value codes = vector::BitCastOp::create(b, loc, halves, biased);
  Value zeroHalf = zero ? zero : f16Const(b, loc, double(symmetricZero));
  llvm::SmallDenseMap<int32_t, Value> addendOf;
  SmallVector<Value> addends, scales;
  for (int64_t i = 0; i < width; ++i) {
    int32_t offset = offsetOf(i);
    Value &addend = addendOf[offset];
    if (!addend)
      addend = arith::NegFOp::create(
          b, loc,
          arith::AddFOp::create(b, loc, zeroHalf,
                                f16Const(b, loc, std::ldexp(1024.0, -offset))));
    addends.push_back(addend);
    scales.push_back(f16Const(b, loc, std::ldexp(1.0, -offset)));
  }
  // Both steps are exact, so contracting them into one fma (which the
  // flags allow, and the NVPTX backend does: HFMA2) changes nothing. Not
  // math.fma: the GPU lowering would widen an f16 fma to f32.
  auto contract = arith::FastMathFlags::contract;
  Value scaled = arith::MulFOp::create(
      b, loc, codes, buildVectorFromScalars(b, loc, scales), contract);
  return arith::AddFOp::create(
      b, loc, scaled, buildVectorFromScalars(b, loc, addends), contract);
}

} // namespace

namespace {
/// The width * bits / 32 words of a whole-word tile (isWholeWordTile) of
/// `width` codes from column `col`, one ComponentReader::loadVector.
Value loadWholeWordTile(OpBuilder &b, Location loc,
                        const ComponentReader &reader, unsigned codesIndex,
                        Value row, Value col, unsigned bits, int64_t width) {
  Value firstWord = arith::DivUIOp::create(
      b, loc, col, buildIndexConstant(b, loc, 32 / bits));
  return reader.loadVector(b, loc, codesIndex, {row, firstWord},
                           width * bits / 32);
}
} // namespace

Value mlir::mixq::buildCenteredHalfCodePairs(OpBuilder &b, Location loc,
                                             const ComponentReader &reader,
                                             unsigned codesIndex, Value row,
                                             Value col, unsigned bits,
                                             int64_t width, Value zero,
                                             int64_t symmetricZero) {
  return buildCenteredHalfCodePairs(
      b, loc,
      loadWholeWordTile(b, loc, reader, codesIndex, row, col, bits, width),
      bits, zero, symmetricZero);
}

namespace {
/// `packed`'s (vector<n x i32> of whole words of `bits`-bit codes) codes
/// as vector<n * 16 / bits x i32> of f16x2 pairs: pair i of each word,
/// (code i, code i + 16 / bits), masked where it lies within its byte,
/// k bits in, into the mantissas of both halves of 0x6400'6400 (1024.0:
/// each half then reads 1024 + q * 2^k) or, with `perOffsetMagic`, of
/// 2^(10 - k) (each half reads 2^(10 - k) + q). One and-or per pair, one
/// shift per word.
Value buildMaskedHalfCodePairs(OpBuilder &b, Location loc, Value packed,
                               unsigned bits, bool perOffsetMagic) {
  // A word holds `perWord` codes; pair i of it is (code i, code i + half),
  // at bits [bits * i, ...) and [16 + bits * i, ...).
  int64_t perWord = 32 / bits, half = perWord / 2;
  int64_t width = cast<VectorType>(packed.getType()).getDimSize(0) * perWord;
  int64_t pairs = width / 2;
  SmallVector<int64_t> repeat;
  for (int64_t i = 0; i < pairs; ++i)
    repeat.push_back(i / half);
  Value words = vector::ShuffleOp::create(b, loc, packed, packed, repeat);
  uint32_t codeMask = (1u << bits) - 1;
  Value shifts = buildI32Vector(b, loc, pairs, [&](int64_t p) {
    return getPairPlace(p % half, bits).shift;
  });
  Value masks = buildI32Vector(b, loc, pairs, [&](int64_t p) {
    uint32_t mask = codeMask << getPairPlace(p % half, bits).offset;
    return static_cast<int32_t>(mask | mask << 16);
  });
  Value magic = buildI32Vector(b, loc, pairs, [&](int64_t p) {
    // 2^(10 - k) has the biased exponent 25 - k.
    uint32_t one =
        perOffsetMagic
            ? 0x6400u -
                  (static_cast<uint32_t>(getPairPlace(p % half, bits).offset)
                   << 10)
            : 0x6400u;
    return static_cast<int32_t>(one | one << 16);
  });
  return arith::OrIOp::create(
      b, loc,
      arith::AndIOp::create(
          b, loc, arith::ShRUIOp::create(b, loc, words, shifts), masks),
      magic);
}
} // namespace

Value mlir::mixq::buildCenteredHalfCodePairs(OpBuilder &b, Location loc,
                                             Value packed, unsigned bits,
                                             Value zero,
                                             int64_t symmetricZero) {
  int64_t half = 16 / bits;
  return buildCenteredFromBiasedHalves(
      b, loc,
      buildMaskedHalfCodePairs(b, loc, packed, bits, /*perOffsetMagic=*/false),
      [&](int64_t i) { return getPairPlace((i / 2) % half, bits).offset; },
      zero, symmetricZero);
}

Value mlir::mixq::buildBiasedHalfCodePairs(
    OpBuilder &b, Location loc, const ComponentReader &reader,
    unsigned codesIndex, Value row, Value col, unsigned bits, int64_t width,
    SmallVectorImpl<int64_t> &order, SmallVectorImpl<double> &bias) {
  Value packed =
      loadWholeWordTile(b, loc, reader, codesIndex, row, col, bits, width);
  order.assign(getPairOrderColumns(bits, width));
  int64_t half = 16 / bits;
  bias.clear();
  for (int64_t i = 0; i < width; ++i)
    bias.push_back(
        std::ldexp(1024.0, -getPairPlace((i / 2) % half, bits).offset));
  return vector::BitCastOp::create(
      b, loc, VectorType::get({width}, b.getF16Type()),
      buildMaskedHalfCodePairs(b, loc, packed, bits, /*perOffsetMagic=*/true));
}

int64_t mlir::mixq::getStreamPairDistance(unsigned bits) {
  // Codes 12 bits apart: the low one 4 bits into its half, 1024 + q * 16
  // exact (q * 16 < 1024 while bits <= 6; 3 is the width that needs it).
  return bits == 3 ? 4 : 0;
}

bool mlir::mixq::isStreamPairTile(unsigned bits, int64_t width) {
  int64_t distance = getStreamPairDistance(bits);
  return distance != 0 && width % (2 * distance) == 0 &&
         isWordAlignedTile(bits, width);
}

SmallVector<int64_t> mlir::mixq::getStreamPairOrderColumns(unsigned bits,
                                                           int64_t width) {
  int64_t distance = getStreamPairDistance(bits);
  SmallVector<int64_t> columns;
  for (int64_t block = 0; block < width; block += 2 * distance)
    for (int64_t i = block; i < block + distance; ++i) {
      columns.push_back(i);
      columns.push_back(i + distance);
    }
  return columns;
}

Value mlir::mixq::buildCenteredStreamCodePairs(OpBuilder &b, Location loc,
                                               const ComponentReader &reader,
                                               unsigned codesIndex, Value row,
                                               Value col, unsigned bits,
                                               int64_t width, Value zero,
                                               int64_t symmetricZero) {
  int64_t distance = getStreamPairDistance(bits);
  int64_t gap = distance * bits;
  // The low code's place in its half: the high code then starts the high
  // half.
  int64_t lowOffset = 16 - gap;
  int64_t words = width * bits / 32;
  Value packed =
      loadTileWords(b, loc, reader, codesIndex, row, col, bits, width);
  // The tile's words with a zero word before and after: the window of the
  // first pair starts before the tile's first bit.
  Value zeros = buildI32Vector(b, loc, 1, [](int64_t) { return 0; });
  SmallVector<int64_t> extended = {words};
  for (int64_t w = 0; w < words; ++w)
    extended.push_back(w);
  extended.push_back(words);
  Value padded = vector::ShuffleOp::create(b, loc, packed, zeros, extended);
  int64_t padBits = 32;
  // Pair p's 32-bit window starts lowOffset bits before its low code: the
  // bits [start, start + 32) of the padded words, a funnel shift of words
  // q = start / 32 and q + 1 by r = start % 32 (r = 0: word q alone, the
  // second word then a zero word and its shift 0).
  SmallVector<int64_t> columns = getStreamPairOrderColumns(bits, width);
  int64_t pairs = width / 2;
  SmallVector<int64_t> lowWords, highWords;
  SmallVector<int32_t> lowShifts, highShifts;
  for (int64_t p = 0; p < pairs; ++p) {
    int64_t start = columns[2 * p] * bits - lowOffset + padBits;
    int64_t q = start / 32, r = start % 32;
    lowWords.push_back(q);
    highWords.push_back(r == 0 ? 0 : q + 1);
    lowShifts.push_back(static_cast<int32_t>(r));
    highShifts.push_back(static_cast<int32_t>(r == 0 ? 0 : 32 - r));
  }
  auto shiftVector = [&](ArrayRef<int32_t> shifts) {
    return buildI32Vector(b, loc, pairs, [&](int64_t p) { return shifts[p]; });
  };
  Value window = arith::OrIOp::create(
      b, loc,
      arith::ShRUIOp::create(
          b, loc, vector::ShuffleOp::create(b, loc, padded, padded, lowWords),
          shiftVector(lowShifts)),
      arith::ShLIOp::create(
          b, loc, vector::ShuffleOp::create(b, loc, padded, padded, highWords),
          shiftVector(highShifts)));
  uint32_t codeMask = (1u << bits) - 1;
  Value masks = buildI32Vector(b, loc, pairs, [&](int64_t) {
    return static_cast<int32_t>(codeMask << lowOffset | codeMask << 16);
  });
  Value magic = buildI32Vector(b, loc, pairs,
                               [](int64_t) { return int32_t(0x64006400); });
  Value biased = arith::OrIOp::create(
      b, loc, arith::AndIOp::create(b, loc, window, masks), magic);
  // Code i + d at the bottom of the high half, code i lowOffset bits into
  // the low one.
  return buildCenteredFromBiasedHalves(
      b, loc, biased,
      [&](int64_t i) { return int32_t(i % 2 == 0 ? lowOffset : 0); }, zero,
      symmetricZero);
}

Value mlir::mixq::buildCSRDot(OpBuilder &b, Location loc,
                              const ComponentReader &reader, unsigned colIndex,
                              unsigned valuesIndex, Value begin, Value end,
                              Value step, InputLoader loadInput,
                              Value valuesRow) {
  Value zero =
      arith::ConstantFloatOp::create(b, loc, b.getF32Type(), APFloat(0.0f));
  auto loop = scf::ForOp::create(
      b, loc, begin, end, step, ValueRange{zero},
      [&](OpBuilder &lb, Location ll, Value entry, ValueRange sum) {
        Value col = arith::IndexCastUIOp::create(
            lb, ll, lb.getIndexType(), reader.load(lb, ll, colIndex, {entry}));
        SmallVector<Value, 2> at;
        if (valuesRow)
          at.push_back(valuesRow);
        at.push_back(entry);
        Value value =
            buildExtendToF32(lb, ll, reader.load(lb, ll, valuesIndex, at));
        Value term =
            arith::MulFOp::create(lb, ll, value, loadInput(lb, ll, col));
        scf::YieldOp::create(
            lb, ll, arith::AddFOp::create(lb, ll, sum[0], term).getResult());
      });
  return loop.getResult(0);
}

SmallVector<int64_t> mlir::mixq::getPairOrderColumns(unsigned bits,
                                                     int64_t width) {
  int64_t perWord = 32 / bits, half = perWord / 2;
  // Code j of word w is pair j % half of the word, half j / half.
  SmallVector<int64_t> columns(width);
  for (int64_t i = 0; i < width; ++i) {
    int64_t word = i / perWord, j = i % perWord;
    columns[2 * (word * half + j % half) + j / half] = i;
  }
  return columns;
}

Value mlir::mixq::buildInColumnOrder(OpBuilder &b, Location loc, Value vector,
                                     ArrayRef<int64_t> order) {
  SmallVector<int64_t> positions(order.size());
  for (auto [position, column] : llvm::enumerate(order))
    positions[column] = position;
  if (llvm::equal(positions, llvm::seq<int64_t>(0, order.size())))
    return vector;
  return vector::ShuffleOp::create(b, loc, vector, vector, positions);
}

void mlir::mixq::setColumnOrder(SmallVectorImpl<int64_t> &order,
                                int64_t width) {
  order.assign(llvm::seq<int64_t>(0, width).begin(),
               llvm::seq<int64_t>(0, width).end());
}

Value mlir::mixq::buildDequantVectorInColumnOrder(
    QuantSchemeAttrInterface scheme, OpBuilder &b, Location loc,
    const ComponentReader &reader, ArrayRef<int64_t> shape, Value row,
    Value col, int64_t width, FloatType resultType) {
  SmallVector<int64_t> order;
  Value vector = scheme.buildDequantVectorInAnyOrder(
      b, loc, reader, shape, row, col, width, resultType, order);
  return buildInColumnOrder(b, loc, vector, order);
}

Value mlir::mixq::buildPackedCodeTile(OpBuilder &b, Location loc,
                                      const ComponentReader &reader,
                                      unsigned codesIndex, Value row, Value col,
                                      unsigned bits, int64_t width,
                                      int64_t cols) {
  if (isWordAlignedTile(bits, width))
    return buildPackedCodeVector(b, loc, reader, codesIndex, row, col, bits,
                                 width);
  int64_t wordsPerRow = ::mixq::quant::packedWordCount(cols, bits);
  SmallVector<Value> codes;
  for (int64_t i = 0; i < width; ++i)
    codes.push_back(buildPackedCodeLoad(
        b, loc, reader, codesIndex, row,
        arith::AddIOp::create(b, loc, col, buildIndexConstant(b, loc, i)), bits,
        wordsPerRow));
  return buildVectorFromScalars(b, loc, codes);
}

Value mlir::mixq::buildCenteredCodeTile(OpBuilder &b, Location loc,
                                        const ComponentReader &reader,
                                        unsigned codesIndex, Value row,
                                        Value col, unsigned bits, int64_t width,
                                        int64_t cols, bool halfPairs,
                                        Value zero, int64_t symmetricZero,
                                        SmallVectorImpl<int64_t> &order) {
  if (halfPairs && isWholeWordTile(bits, width)) {
    order.assign(getPairOrderColumns(bits, width));
    return buildCenteredHalfCodePairs(b, loc, reader, codesIndex, row, col,
                                      bits, width, zero, symmetricZero);
  }
  if (halfPairs && isStreamPairTile(bits, width)) {
    order.assign(getStreamPairOrderColumns(bits, width));
    return buildCenteredStreamCodePairs(b, loc, reader, codesIndex, row, col,
                                        bits, width, zero, symmetricZero);
  }
  setColumnOrder(order, width);
  Value q =
      arith::UIToFPOp::create(b, loc, VectorType::get({width}, b.getF32Type()),
                              buildPackedCodeTile(b, loc, reader, codesIndex,
                                                  row, col, bits, width, cols));
  Value zero32 = zero ? buildExtendToF32(b, loc, zero)
                      : buildF32Constant(b, loc, float(symmetricZero));
  return arith::SubFOp::create(b, loc, q, buildSplat(b, loc, zero32, width));
}

Value mlir::mixq::buildScaledCodeTile(OpBuilder &b, Location loc,
                                      Value centered, Value scale,
                                      FloatType resultType) {
  int64_t width = cast<VectorType>(centered.getType()).getDimSize(0);
  if (getElementTypeOrSelf(centered.getType()).isF16())
    return arith::MulFOp::create(b, loc, centered,
                                 buildSplat(b, loc, scale, width));
  Value w = arith::MulFOp::create(
      b, loc, centered,
      buildSplat(b, loc, buildExtendToF32(b, loc, scale), width));
  return buildTruncateFromF32(b, loc, w, resultType);
}

Value mlir::mixq::buildCodeTileAs(OpBuilder &b, Location loc, Value centered,
                                  FloatType resultType) {
  if (getElementTypeOrSelf(centered.getType()) == resultType)
    return centered;
  return buildTruncateFromF32(b, loc, centered, resultType);
}

Value mlir::mixq::buildColumnOrder(OpBuilder &b, Location loc, Value pairOrder,
                                   unsigned bits) {
  int64_t width = cast<VectorType>(pairOrder.getType()).getDimSize(0);
  return buildInColumnOrder(b, loc, pairOrder,
                            getPairOrderColumns(bits, width));
}

std::string mlir::mixq::getShapeMismatch(QuantSchemeAttrInterface scheme,
                                         ArrayRef<int64_t> shape) {
  MLIRContext *ctx = scheme.getContext();
  std::string reason;
  ScopedDiagnosticHandler capture(ctx, [&](Diagnostic &diagnostic) {
    reason = diagnostic.str();
    return success();
  });
  if (succeeded(scheme.verifyShape(
          shape, [&] { return mlir::emitError(UnknownLoc::get(ctx)); })))
    return "";
  return reason.empty() ? "it does not fit the shape" : reason;
}

namespace {
/// A block outside any region for building a scheme's IR to look at, its
/// arguments standing for the scheme's components, the builder at its
/// start and an index 0 for rows and columns; thrown away when it goes.
class ScratchBlock {
public:
  ScratchBlock(QuantSchemeAttrInterface scheme, ArrayRef<int64_t> shape,
               MLIRContext *ctx)
      : block(std::make_unique<Block>()), loc(UnknownLoc::get(ctx)),
        b(ctx) { // the block has no region to take the context from
    for (const ComponentSpec &component : scheme.getComponents(shape))
      components.push_back(block->addArgument(component.getTensorType(), loc));
    b.setInsertionPointToStart(block.get());
    zero = arith::ConstantIndexOp::create(b, loc, 0);
  }
  ~ScratchBlock() { block->dropAllReferences(); }

  std::unique_ptr<Block> block;
  Location loc;
  OpBuilder b;
  SmallVector<Value> components;
  Value zero;
};

/// Builds a buildDequantVector tile into a scratch block (reading through
/// `reader`, or the block's placeholder components without one) and calls
/// `inspect` on its ops.
void inspectDequantVector(QuantSchemeAttrInterface scheme,
                          ArrayRef<int64_t> shape, int64_t width,
                          FloatType resultType, const ComponentReader *reader,
                          function_ref<void(Operation *)> inspect) {
  ScratchBlock scratch(scheme, shape, resultType.getContext());
  ComponentReader placeholderReader(scratch.components);
  (void)scheme.buildDequantVector(
      scratch.b, scratch.loc, reader ? *reader : placeholderReader, shape,
      scratch.zero, scratch.zero, width, resultType);
  scratch.block->walk(inspect);
}
} // namespace

bool mlir::mixq::buildsScaleFactors(QuantSchemeAttrInterface scheme,
                                    ArrayRef<int64_t> shape, int64_t width,
                                    FloatType resultType) {
  if (scheme.getScaleFactorColumns(shape) <= 0)
    return false;
  ScratchBlock scratch(scheme, shape, resultType.getContext());
  ComponentReader reader(scratch.components);
  SmallVector<int64_t> order;
  Value factor = scheme.buildScaleFactor(scratch.b, scratch.loc, reader, shape,
                                         scratch.zero, scratch.zero);
  Value unscaled = scheme.buildUnscaledDequantVectorInAnyOrder(
      scratch.b, scratch.loc, reader, shape, scratch.zero, scratch.zero, width,
      resultType, order);
  return factor && factor.getType().isF32() && unscaled &&
         unscaled.getType() == VectorType::get({width}, resultType) &&
         static_cast<int64_t>(order.size()) == width;
}

SmallVector<double> mlir::mixq::getDequantVectorBias(
    QuantSchemeAttrInterface scheme, ArrayRef<int64_t> shape, int64_t width,
    FloatType resultType, std::optional<double> *constantZero) {
  if (!buildsScaleFactors(scheme, shape, width, resultType))
    return {};
  ScratchBlock scratch(scheme, shape, resultType.getContext());
  ComponentReader reader(scratch.components);
  SmallVector<int64_t> order, unscaledOrder;
  SmallVector<double> bias;
  Value zero;
  Value biased = scheme.buildBiasedDequantVectorInAnyOrder(
      scratch.b, scratch.loc, reader, shape, scratch.zero, scratch.zero, width,
      resultType, order, bias, zero);
  (void)scheme.buildUnscaledDequantVectorInAnyOrder(
      scratch.b, scratch.loc, reader, shape, scratch.zero, scratch.zero, width,
      resultType, unscaledOrder);
  if (!biased || biased.getType() != VectorType::get({width}, resultType) ||
      order != unscaledOrder || static_cast<int64_t>(bias.size()) != width ||
      !zero || !zero.getType().isF32())
    return {};
  if (constantZero) {
    FloatAttr value;
    *constantZero = matchPattern(zero, m_Constant(&value))
                        ? std::optional(value.getValueAsDouble())
                        : std::nullopt;
  }
  return bias;
}

std::optional<LaneOffsetTile> mlir::mixq::matchLaneOffsetTile(Value tile) {
  auto sub = tile.getDefiningOp<arith::SubFOp>();
  if (!sub)
    return std::nullopt;
  auto broadcast = sub.getRhs().getDefiningOp<vector::BroadcastOp>();
  if (!broadcast || isa<VectorType>(broadcast.getSource().getType()))
    return std::nullopt;
  return LaneOffsetTile{sub.getLhs(), broadcast.getSource()};
}

bool mlir::mixq::buildsLaneOffsetTiles(QuantSchemeAttrInterface scheme,
                                       ArrayRef<int64_t> shape, int64_t width,
                                       FloatType resultType) {
  if (!buildsScaleFactors(scheme, shape, width, resultType))
    return false;
  ScratchBlock scratch(scheme, shape, resultType.getContext());
  ComponentReader reader(scratch.components);
  SmallVector<int64_t> order;
  Value unscaled = scheme.buildUnscaledDequantVectorInAnyOrder(
      scratch.b, scratch.loc, reader, shape, scratch.zero, scratch.zero, width,
      resultType, order);
  return matchLaneOffsetTile(unscaled).has_value();
}

namespace {
/// A reader that has the given row tables of its scheme and records which ones
/// a tile looks up (each lookup an all-zero vector of the table's type).
class TableRecordingReader : public ComponentReader {
public:
  /// Has the tables of `tables` listed in `available`.
  TableRecordingReader(ValueRange components, ArrayRef<RowTableSpec> tables,
                       ArrayRef<unsigned> available)
      : ComponentReader(components), tables(tables),
        available(available.begin(), available.end()) {}
  bool hasRowTable(unsigned table) const override {
    return available.contains(table);
  }
  Value gatherRowTable(OpBuilder &builder, Location loc, unsigned table,
                       Value row, Value entries) const override {
    read.insert(table);
    auto type = VectorType::get(cast<VectorType>(entries.getType()).getShape(),
                                tables[table].elementType);
    return arith::ConstantOp::create(builder, loc, builder.getZeroAttr(type));
  }
  ArrayRef<RowTableSpec> tables;
  llvm::SmallDenseSet<unsigned> available;
  mutable llvm::SmallDenseSet<unsigned> read;
};

/// Whether a code generator can build `table` (index `index`): entries of
/// an integer or float type of 8 to 64 bits (it addresses the table in
/// bytes), and buildRowTableEntry returns one of that type.
bool isBuildableRowTable(QuantSchemeAttrInterface scheme,
                         ArrayRef<int64_t> shape, ScratchBlock &scratch,
                         unsigned index, const RowTableSpec &table) {
  Type type = table.elementType;
  if (!type || !type.isIntOrFloat() || table.entries <= 0 ||
      !llvm::is_contained({8u, 16u, 32u, 64u}, type.getIntOrFloatBitWidth()))
    return false;
  ComponentReader reader(scratch.components);
  Value entry = scheme.buildRowTableEntry(scratch.b, scratch.loc, reader, shape,
                                          index, scratch.zero, scratch.zero);
  return entry && entry.getType() == type;
}
} // namespace

SmallVector<unsigned>
mlir::mixq::getRowTablesToBuild(QuantSchemeAttrInterface scheme,
                                ArrayRef<int64_t> shape, int64_t width,
                                FloatType resultType) {
  SmallVector<RowTableSpec> tables = scheme.getRowTables(shape);
  if (tables.empty())
    return {};
  ScratchBlock scratch(scheme, shape, resultType.getContext());
  SmallVector<unsigned> all = llvm::to_vector(
      llvm::seq<unsigned>(0, static_cast<unsigned>(tables.size())));
  TableRecordingReader reader(scratch.components, tables, all);
  SmallVector<int64_t> order;
  (void)scheme.buildDequantVector(scratch.b, scratch.loc, reader, shape,
                                  scratch.zero, scratch.zero, width,
                                  resultType);
  (void)scheme.buildDequantVectorInAnyOrder(scratch.b, scratch.loc, reader,
                                            shape, scratch.zero, scratch.zero,
                                            width, resultType, order);
  (void)scheme.buildUnscaledDequantVectorInAnyOrder(
      scratch.b, scratch.loc, reader, shape, scratch.zero, scratch.zero, width,
      resultType, order);
  SmallVector<unsigned> build;
  for (auto [index, table] : llvm::enumerate(tables))
    if (reader.read.contains(index) &&
        isBuildableRowTable(scheme, shape, scratch, index, table))
      build.push_back(index);
  return build;
}

SmallVector<int64_t>
mlir::mixq::getDequantVectorOrder(QuantSchemeAttrInterface scheme,
                                  ArrayRef<int64_t> shape, int64_t width,
                                  FloatType resultType, bool unscaled) {
  ScratchBlock scratch(scheme, shape, resultType.getContext());
  ComponentReader reader(scratch.components);
  SmallVector<int64_t> order;
  if (unscaled)
    (void)scheme.buildUnscaledDequantVectorInAnyOrder(
        scratch.b, scratch.loc, reader, shape, scratch.zero, scratch.zero,
        width, resultType, order);
  else
    (void)scheme.buildDequantVectorInAnyOrder(scratch.b, scratch.loc, reader,
                                              shape, scratch.zero, scratch.zero,
                                              width, resultType, order);
  return order;
}

bool mlir::mixq::dequantVectorGathers(QuantSchemeAttrInterface scheme,
                                      ArrayRef<int64_t> shape, int64_t width,
                                      FloatType resultType,
                                      bool withRowTables) {
  // Without tables, a reader that has none.
  SmallVector<unsigned> built;
  if (withRowTables)
    built = getRowTablesToBuild(scheme, shape, width, resultType);
  SmallVector<RowTableSpec> tables = scheme.getRowTables(shape);
  ScratchBlock scratch(scheme, shape, resultType.getContext());
  TableRecordingReader reader(scratch.components, tables, built);
  bool gathers = false;
  inspectDequantVector(
      scheme, shape, width, resultType, &reader,
      [&](Operation *op) { gathers |= isa<vector::GatherOp>(op); });
  return gathers;
}

double mlir::mixq::getDequantScalarOpsPerWeight(QuantSchemeAttrInterface scheme,
                                                ArrayRef<int64_t> shape,
                                                int64_t width,
                                                FloatType resultType,
                                                const ComponentReader *reader) {
  int64_t scalarOps = 0;
  inspectDequantVector(
      scheme, shape, width, resultType, reader, [&](Operation *op) {
        // A gather is a load per lane (GPUs and most CPUs have no table
        // lookup instruction): it costs its lanes, not one vector op.
        if (auto gather = dyn_cast<vector::GatherOp>(op)) {
          scalarOps += gather.getVectorType().getNumElements();
          return;
        }
        bool scalar = llvm::none_of(op->getResultTypes(), [](Type type) {
          return isa<VectorType>(type);
        });
        if (scalar && !isa<arith::ConstantOp>(op))
          ++scalarOps;
      });
  return double(scalarOps) / double(width);
}

namespace {
/// A reader that records which components a scheme's IR loads.
class RecordingReader : public ComponentReader {
public:
  using ComponentReader::ComponentReader;
  Value load(OpBuilder &builder, Location loc, unsigned index,
             ValueRange indices) const override {
    read.insert(index);
    return ComponentReader::load(builder, loc, index, indices);
  }
  Value loadVector(OpBuilder &builder, Location loc, unsigned index,
                   ValueRange indices, int64_t count) const override {
    read.insert(index);
    return ComponentReader::loadVector(builder, loc, index, indices, count);
  }
  Value gather(OpBuilder &builder, Location loc, unsigned index,
               ValueRange leading, Value lastIndices) const override {
    read.insert(index);
    return ComponentReader::gather(builder, loc, index, leading, lastIndices);
  }
  mutable llvm::SmallDenseSet<unsigned> read;
};
} // namespace

llvm::SmallDenseSet<unsigned>
mlir::mixq::getReadComponentIndices(QuantSchemeAttrInterface scheme,
                                    ArrayRef<int64_t> shape,
                                    FloatType resultType) {
  ScratchBlock scratch(scheme, shape, resultType.getContext());
  RecordingReader reader(scratch.components);
  OpBuilder &b = scratch.b;
  Value one = arith::ConstantIndexOp::create(b, scratch.loc, 1);
  (void)scheme.buildDequantVector(b, scratch.loc, reader, shape, scratch.zero,
                                  scratch.zero, 1, resultType);
  (void)scheme.buildSparseDot(
      b, scratch.loc, reader, shape, scratch.zero, scratch.zero, one,
      [](OpBuilder &builder, Location where, Value) -> Value {
        return arith::ConstantOp::create(builder, where,
                                         builder.getF32FloatAttr(0.0f));
      });
  return reader.read;
}

bool mlir::mixq::isWordLevelTile(QuantSchemeAttrInterface scheme,
                                 ArrayRef<int64_t> shape, int64_t width,
                                 FloatType resultType, double maxOpsPerWeight) {
  return getDequantScalarOpsPerWeight(scheme, shape, width, resultType) <=
         maxOpsPerWeight;
}

llvm::Error mlir::mixq::makeSpecValueError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message.str());
}

llvm::Expected<std::string> mlir::mixq::rewriteSpecBool(StringRef value) {
  if (value == "1" || value == "true" || value == "yes")
    return std::string("true");
  if (value == "0" || value == "false" || value == "no")
    return std::string("false");
  return makeSpecValueError("must be true or false, got '" + value + "'");
}

Value mlir::mixq::buildBoolConstant(OpBuilder &b, Location loc, bool value) {
  return arith::ConstantIntOp::create(b, loc, value ? 1 : 0, 1);
}

namespace {
/// clamp(value, lo, hi) as std::clamp on finite values.
Value clampF32(OpBuilder &b, Location loc, Value value, float lo, float hi) {
  Value low =
      arith::MaximumFOp::create(b, loc, value, buildF32Constant(b, loc, lo));
  return arith::MinimumFOp::create(b, loc, low, buildF32Constant(b, loc, hi));
}
} // namespace

Value mlir::mixq::buildAsymmetricActivation(OpBuilder &b, Location l,
                                            Value passThrough, Value value,
                                            Value lo, Value hi, unsigned bits) {
  // Every op here is IEEE-exact on both backends, and must stay so: no
  // fast-math flags (an `afn` divf becomes div.approx.f32 on NVPTX), no
  // fma. math.round is half away from zero on both (llvm.round on the CPU,
  // libdevice's add.rz/cvt.rzi sequence on the GPU), the fp16 rounding of
  // the scale is round-to-nearest-even on both. So equal inputs give equal
  // codes; inputs that differ by ulps (other summation orders upstream) can
  // still give codes one apart, see docs/cuda.md "Numerics" and
  // test/lit/codegen/quantize-act-*.test.
  float maxq = static_cast<float>((1u << bits) - 1u);
  // s = fp16((hi - lo) / maxq), 1 when hi == lo, clamped to fp16's
  // positive range.
  Value flat = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OEQ, hi, lo);
  Value span = arith::DivFOp::create(b, l, arith::SubFOp::create(b, l, hi, lo),
                                     buildF32Constant(b, l, maxq));
  Value scale =
      arith::SelectOp::create(b, l, flat, buildF32Constant(b, l, 1.0f), span);
  scale = buildExtendToF32(
      b, l, arith::TruncFOp::create(b, l, b.getF16Type(), scale));
  scale = clampF32(b, l, scale, std::ldexp(1.0f, -24), 65504.0f);
  // z = clamp(round(-lo / s), 0, maxq)
  Value zeroPoint = clampF32(
      b, l,
      math::RoundOp::create(
          b, l,
          arith::DivFOp::create(b, l, arith::NegFOp::create(b, l, lo), scale)),
      0.0f, maxq);
  // q = clamp(round(x / s) + z, 0, maxq)
  Value code =
      clampF32(b, l,
               arith::AddFOp::create(
                   b, l,
                   math::RoundOp::create(
                       b, l, arith::DivFOp::create(b, l, value, scale)),
                   zeroPoint),
               0.0f, maxq);
  Value dequantized = arith::MulFOp::create(
      b, l, arith::SubFOp::create(b, l, code, zeroPoint), scale);
  return arith::SelectOp::create(b, l, passThrough, value, dequantized);
}

std::string mlir::mixq::formatDouble(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", value);
  return text;
}

llvm::Expected<std::optional<::mixq::quant::Sensitivity>>
mlir::mixq::checkQuantizeInputs(llvm::StringRef scheme, llvm::StringRef problem,
                                ArrayRef<float> weights,
                                ArrayRef<int64_t> shape,
                                const QuantizeOptions &options) {
  if (!problem.empty())
    return llvm::createStringError(scheme + ": " + problem);
  if (static_cast<int64_t>(weights.size()) != shape[0] * shape[1])
    return llvm::createStringError(
        scheme + ": the weight buffer holds " + llvm::Twine(weights.size()) +
        " values, not " + llvm::Twine(shape[0] * shape[1]) + " (" +
        llvm::Twine(shape[0]) + " x " + llvm::Twine(shape[1]) + ")");
  return sensitivityOf(options, shape[1], scheme);
}

Value mlir::mixq::buildF32Constant(OpBuilder &b, Location loc, float value) {
  return arith::ConstantFloatOp::create(b, loc, b.getF32Type(), APFloat(value));
}

Value mlir::mixq::buildI32Constant(OpBuilder &b, Location loc, int64_t value) {
  return arith::ConstantIntOp::create(b, loc, b.getI32Type(), value);
}

bool mlir::mixq::isUnpaddedCodeStream(int64_t cols, unsigned bits) {
  return (cols * int64_t(bits)) % 32 == 0;
}

int64_t mlir::mixq::getLargestPowerOfTwoDivisor(int64_t most, int64_t k) {
  int64_t group = int64_t(1) << llvm::Log2_64(std::max<int64_t>(most, 1));
  while (group > 1 && k % group != 0)
    group /= 2;
  return group;
}

std::string mlir::mixq::formatFloatLiteral(double value) {
  char text[64];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(text, sizeof(text), "%.*g", precision, value);
    if (std::strtod(text, nullptr) == value)
      break;
  }
  std::string result(text);
  if (std::isfinite(value) && result.find('.') == std::string::npos) {
    size_t exponent = result.find('e');
    result.insert(exponent == std::string::npos ? result.size() : exponent,
                  ".0");
  }
  return result;
}
