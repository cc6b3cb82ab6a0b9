//===- BitplaneScheme.cpp - #mixq.bitplane: nested codes
//--------------------===//
//
// Adapts the host quantizer of quant/BitplaneQuantizer.h to
// QuantSchemeAttrInterface and emits the dequantization IR.
//===----------------------------------------------------------------------===//
#include "dialect/MixQ/MixQAttrs.h"
#include "dialect/MixQ/SchemeUtils.h"
#include "quant/BitPacking.h"
#include "quant/BitplaneQuantizer.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

using namespace mlir;
using namespace mlir::mixq;

namespace {
::mixq::quant::BitplaneParams getBitplaneParams(BitplaneSchemeAttr attr) {
  ::mixq::quant::BitplaneParams params;
  params.seedBits = attr.getSeed();
  params.parentBits = attr.getParent();
  return params;
}
} // namespace

namespace {
/// Decoding at the parent width is the default: left implicit.
Attribute canonicalizeBitplane(Attribute attr) {
  auto bitplane = cast<BitplaneSchemeAttr>(attr);
  if (bitplane.getWidth() != bitplane.getParent())
    return attr;
  return BitplaneSchemeAttr::get(attr.getContext(), bitplane.getSeed(),
                                 bitplane.getParent(), std::nullopt);
}
} // namespace

SchemeSpecSyntax BitplaneSchemeAttr::getSpecSyntax() {
  SchemeSpecSyntax syntax;
  syntax.name = "bitplane";
  syntax.attrName = "#mixq.bitplane";
  syntax.summary = "nested codes readable at every width seed..parent";
  syntax.example = "bitplane:seed=3,parent=4";
  using Kind = SpecValueKind;
  syntax.keys = {{"seed", "smallest width, 1..parent", Kind::Unsigned, {}, "3"},
                 {"parent",
                  "largest width (number of planes), 1..8",
                  Kind::Unsigned,
                  {},
                  "4"},
                 {"width", "width decoded, seed..parent (default parent)",
                  Kind::Unsigned}};
  syntax.canonicalize = canonicalizeBitplane;
  return syntax;
}

LogicalResult
BitplaneSchemeAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                           unsigned seed, unsigned parent,
                           std::optional<unsigned> width) {
  if (parent < 1 || parent > 8)
    return emitError() << "bitplane 'parent' must be in 1..8, got " << parent;
  if (seed < 1 || seed > parent)
    return emitError() << "bitplane 'seed' must be in 1.." << parent
                       << " (parent), got " << seed;
  if (width && (*width < seed || *width > parent))
    return emitError() << "bitplane 'width' must be in " << seed << ".."
                       << parent << " (seed..parent), got " << *width;
  return success();
}

LogicalResult BitplaneSchemeAttr::verifyShape(
    ArrayRef<int64_t> shape,
    function_ref<InFlightDiagnostic()> emitError) const {
  if (shape.size() != 2)
    return emitError() << "bitplane scheme expects an N x K matrix";
  if (shape[1] > std::numeric_limits<int32_t>::max())
    return emitError() << "bitplane scheme: " << shape[1]
                       << " inputs exceed int32 positions";
  return success();
}

std::optional<NestedWidths> BitplaneSchemeAttr::getNestedWidths() const {
  return NestedWidths{getSeed(), getParent(), getDecodeWidth()};
}

Attribute BitplaneSchemeAttr::withNestedDecodeWidth(unsigned width) const {
  // The parent width is the default: spelled out only when it differs.
  std::optional<unsigned> explicitWidth;
  if (width != getParent())
    explicitWidth = width;
  return BitplaneSchemeAttr::get(getContext(), getSeed(), getParent(),
                                 explicitWidth);
}

double BitplaneSchemeAttr::getReadBitsPerWeight(ArrayRef<int64_t> shape) const {
  return ::mixq::quant::bitplaneBitsAtWidth(getBitplaneParams(*this), shape[0],
                                            shape[1], getDecodeWidth());
}

SmallVector<ComponentSpec>
BitplaneSchemeAttr::getComponents(ArrayRef<int64_t> shape) const {
  MLIRContext *ctx = getContext();
  int64_t rows = shape[0];
  int64_t words = ::mixq::quant::packedWordCount(shape[1], 1);
  SmallVector<ComponentSpec> components;
  for (unsigned j = 0; j < getParent(); ++j)
    components.push_back({"plane" + std::to_string(j),
                          IntegerType::get(ctx, 32),
                          {rows, words},
                          isUnpaddedCodeStream(shape[1], 1)});
  for (unsigned b = getSeed(); b <= getParent(); ++b)
    components.push_back({"lut" + std::to_string(b),
                          Float16Type::get(ctx),
                          {rows, int64_t(1) << b}});
  return components;
}

llvm::Expected<PackedWeights>
BitplaneSchemeAttr::quantize(ArrayRef<float> weights, ArrayRef<int64_t> shape,
                             const QuantizeOptions &options) const {
  ::mixq::quant::BitplaneParams params = getBitplaneParams(*this);
  int64_t rows = shape[0], cols = shape[1];
  auto sensitivity = checkQuantizeInputs(
      "bitplane", ::mixq::quant::validateBitplane(params, rows, cols), weights,
      shape, options);
  if (!sensitivity)
    return sensitivity.takeError();
  ::mixq::quant::BitplaneQuantized q = ::mixq::quant::quantizeBitplane(
      weights.data(), rows, cols, params, getSensitivityOrNull(*sensitivity));
  // The host stores the planes, and the LUTs, back to back: split them.
  int64_t planeWords = rows * ::mixq::quant::packedWordCount(cols, 1);
  PackedWeights packed;
  for (unsigned j = 0; j < getParent(); ++j)
    packed.push_back(toBytes(
        std::vector<uint32_t>(q.planes.begin() + j * planeWords,
                              q.planes.begin() + (j + 1) * planeWords)));
  for (unsigned b = getSeed(); b <= getParent(); ++b) {
    int64_t offset = ::mixq::quant::bitplaneLUTOffset(params, rows, b);
    packed.push_back(toBytes(std::vector<uint16_t>(
        q.luts.begin() + offset, q.luts.begin() + offset + (rows << b))));
  }
  return packed;
}

llvm::Expected<std::vector<float>>
BitplaneSchemeAttr::dequantize(const PackedWeights &packed,
                               ArrayRef<int64_t> shape) const {
  if (llvm::Error err = checkPackedSizes(getComponents(shape), packed))
    return std::move(err);
  ::mixq::quant::BitplaneParams params = getBitplaneParams(*this);
  std::string problem =
      ::mixq::quant::validateBitplane(params, shape[0], shape[1]);
  if (!problem.empty())
    return llvm::createStringError(problem);
  ::mixq::quant::BitplaneQuantized q;
  unsigned numPlanes = getParent();
  for (unsigned j = 0; j < numPlanes; ++j) {
    std::vector<uint32_t> plane = fromBytes<uint32_t>(packed[j]);
    q.planes.insert(q.planes.end(), plane.begin(), plane.end());
  }
  for (unsigned b = getSeed(); b <= getParent(); ++b) {
    std::vector<uint16_t> lut =
        fromBytes<uint16_t>(packed[numPlanes + b - getSeed()]);
    q.luts.insert(q.luts.end(), lut.begin(), lut.end());
  }
  return ::mixq::quant::dequantizeBitplane(q, shape[0], shape[1], params,
                                           getDecodeWidth());
}

namespace {

/// vector<n x i32> with every lane `value`.
Value i32Splat(OpBuilder &b, Location loc, int64_t n, int32_t value) {
  return buildI32Vector(b, loc, n, [&](int64_t) { return value; });
}

/// The vector of `a` followed by `b` (same type).
Value concatVectors(OpBuilder &b, Location loc, Value lhs, Value rhs) {
  int64_t n = cast<VectorType>(lhs.getType()).getNumElements();
  return vector::ShuffleOp::create(
      b, loc, lhs, rhs, llvm::to_vector(llvm::seq<int64_t>(0, 2 * n)));
}

/// `parts` concatenated in order (a power-of-two count).
Value concatAll(OpBuilder &b, Location loc, SmallVector<Value> parts) {
  while (parts.size() > 1) {
    SmallVector<Value> next;
    for (size_t i = 0; i < parts.size(); i += 2)
      next.push_back(concatVectors(b, loc, parts[i], parts[i + 1]));
    parts = std::move(next);
  }
  return parts.front();
}

/// The `width`-bit codes of the `count` (<= 32) consecutive weights whose
/// bits are bit 0 .. count-1 of the plane words `planes` (most significant
/// plane first), as vector<count x i32> in column order, built a word at a
/// time: bit i of every plane goes to field i / fieldBits of lane
/// i % fieldBits of a vector<fieldBits x i32>, so that one vector shift,
/// mask and or per plane places `count / fieldBits` codes per lane; the
/// fields then come out with one shift and mask each.
Value buildBitplaneCodes(OpBuilder &b, Location loc, ArrayRef<Value> planes,
                         int64_t count, unsigned width) {
  // Fields per lane: up to 4, each at least `width` bits wide.
  int64_t fields = 4;
  while (fields > 1 && count / fields < int64_t(width))
    fields /= 2;
  int64_t lanes = count / fields; // also the field's bit width
  int32_t fieldMask = 0;
  for (int64_t f = 0; f < fields; ++f)
    fieldMask |= int32_t(1) << (f * lanes);
  Value laneShifts =
      buildI32Vector(b, loc, lanes, [](int64_t i) { return int32_t(i); });
  Value mask = i32Splat(b, loc, lanes, fieldMask);
  auto laneType = VectorType::get({lanes}, b.getI32Type());
  Value packed;
  for (auto [j, plane] : llvm::enumerate(planes)) {
    Value bits = vector::BroadcastOp::create(b, loc, laneType, plane);
    bits = arith::ShRUIOp::create(b, loc, bits, laneShifts);
    bits = arith::AndIOp::create(b, loc, bits, mask);
    if (unsigned up = width - 1 - unsigned(j))
      bits = arith::ShLIOp::create(b, loc, bits, i32Splat(b, loc, lanes, up));
    packed =
        packed ? arith::OrIOp::create(b, loc, packed, bits).getResult() : bits;
  }
  Value codeMask = i32Splat(b, loc, lanes, (int32_t(1) << width) - 1);
  SmallVector<Value> fieldCodes;
  for (int64_t f = 0; f < fields; ++f) {
    Value field = f == 0 ? packed
                         : arith::ShRUIOp::create(
                               b, loc, packed,
                               i32Splat(b, loc, lanes, int32_t(f * lanes)))
                               .getResult();
    fieldCodes.push_back(arith::AndIOp::create(b, loc, field, codeMask));
  }
  return concatAll(b, loc, fieldCodes);
}

/// getRowTables' only table: the f16x2 codebook values of pairs of codes.
constexpr unsigned kCodePairTable = 0;

/// The widest decode with a pair table: two 3-bit codes index 64 entries
/// (256 bytes a row, as lut's); 4-bit pairs would take 1 KiB a row, more
/// than a tensor-core GEMV's 16 rows leave it of shared memory.
constexpr unsigned kMaxPairTableWidth = 3;

/// The bit of its byte at which a pair's table index starts: 2 while the
/// index, scaled to a byte offset in the table (times 4), stays inside the
/// byte, so that a lookup takes the byte as it is (gatherResidentBytes).
unsigned getPairFieldOffset(unsigned width) {
  return 2 * width + 2 <= 8 ? 2 : 0;
}

/// `x` rotated left by `amount` (0..31) bits: one funnel shift on a GPU.
Value rotateLeft(OpBuilder &b, Location loc, Value x, unsigned amount) {
  if (amount == 0)
    return x;
  return arith::OrIOp::create(
      b, loc,
      arith::ShLIOp::create(b, loc, x, buildI32Constant(b, loc, amount)),
      arith::ShRUIOp::create(b, loc, x, buildI32Constant(b, loc, 32 - amount)));
}

/// The pair-table indices of the 32 weights whose bits are the plane words
/// `planes` (most significant plane first), as four i32 registers: register
/// t holds the pairs of columns (2t + 8m, 2t + 8m + 1), m = 0..3, pair m in
/// byte m from bit getPairFieldOffset, code bit k of the pair's weight e at
/// index bit 2k + e. Every plane reaches every register by one rotation and
/// one mask (bits 2t + 8m + e all move by the same amount), so a register
/// costs two instructions a plane, four pairs at once, where a code a weight
/// took a shift and a mask per plane and weight.
SmallVector<Value, 4> buildPairIndexWords(OpBuilder &b, Location loc,
                                          ArrayRef<Value> planes) {
  unsigned width = planes.size();
  unsigned offset = getPairFieldOffset(width);
  SmallVector<Value, 4> words;
  for (unsigned t = 0; t < 4; ++t) {
    Value word;
    for (auto [j, plane] : llvm::enumerate(planes)) {
      unsigned k = width - 1 - unsigned(j); // the code bit plane j holds
      unsigned amount = (offset + 2 * k + 32 - 2 * t) % 32;
      Value bits = arith::AndIOp::create(
          b, loc, rotateLeft(b, loc, plane, amount),
          buildI32Constant(b, loc, int32_t(0x03030303u << (offset + 2 * k))));
      word = word ? arith::OrIOp::create(b, loc, word, bits).getResult() : bits;
    }
    words.push_back(word);
  }
  return words;
}

/// The pair-table lookups of a tile of `width` (a multiple of 32) columns
/// from `col` (word-aligned), in column order: lane p is the pair of
/// columns 2p and 2p + 1, i.e. register p % 4 of word p / 16, byte p / 4 %
/// 4, as (word >> shift) & mask, the form table lookups fold into one
/// lop3 (gatherResidentBytes).
Value buildPairTableIndices(OpBuilder &b, Location loc,
                            const ComponentReader &reader, Value row, Value col,
                            int64_t width, unsigned bits) {
  unsigned offset = getPairFieldOffset(bits);
  int64_t words = width / 32;
  // Each plane's words of the tile in one aligned vector load.
  Value firstWord =
      arith::DivUIOp::create(b, loc, col, buildIndexConstant(b, loc, 32));
  SmallVector<Value> planeWords;
  for (unsigned j = 0; j < bits; ++j)
    planeWords.push_back(reader.loadVector(b, loc, j, {row, firstWord}, words));
  SmallVector<Value> sources;
  SmallVector<int32_t> shifts;
  for (int64_t c = 0; c < words; ++c) {
    SmallVector<Value> planes;
    for (Value plane : planeWords)
      planes.push_back(vector::ExtractOp::create(b, loc, plane, c));
    SmallVector<Value, 4> registers = buildPairIndexWords(b, loc, planes);
    for (int64_t m = 0; m < 4; ++m)
      for (int64_t t = 0; t < 4; ++t) {
        sources.push_back(registers[t]);
        shifts.push_back(int32_t(8 * m + offset));
      }
  }
  int64_t pairs = int64_t(sources.size());
  Value registers = vector::FromElementsOp::create(
      b, loc, VectorType::get({pairs}, b.getI32Type()), sources);
  Value shifted = arith::ShRUIOp::create(
      b, loc, registers,
      buildI32Vector(b, loc, pairs, [&](int64_t p) { return shifts[p]; }));
  return arith::AndIOp::create(b, loc, shifted,
                               i32Splat(b, loc, pairs, (1 << (2 * bits)) - 1));
}

} // namespace

// 4^width entries, at least 64 (256 bytes a row): rows a multiple of 256
// bytes apart let a lookup put its index byte under the row's offset with
// one byte permute (gatherResidentBytes); the entries past 4^width are
// never looked up.
SmallVector<RowTableSpec>
BitplaneSchemeAttr::getRowTables(ArrayRef<int64_t> shape) const {
  if (getDecodeWidth() > kMaxPairTableWidth)
    return {};
  int64_t pairs = int64_t(1) << (2 * getDecodeWidth());
  return {{"code_pairs", IntegerType::get(getContext(), 32),
           std::max<int64_t>(pairs, 64)}};
}

// Entry i: the bits of lut[row][c0] | lut[row][c1] << 16, where bit k of
// code c_e is bit 2k + e of i (buildPairIndexWords' interleaving); the
// padding entries past 4^width repeat the pairs of their low bits.
Value BitplaneSchemeAttr::buildRowTableEntry(OpBuilder &b, Location loc,
                                             const ComponentReader &reader,
                                             ArrayRef<int64_t> shape,
                                             unsigned table, Value row,
                                             Value entry) const {
  unsigned bits = getDecodeWidth();
  if (table != kCodePairTable || bits > kMaxPairTableWidth)
    return Value();
  unsigned lutComponent = getParent() + (bits - getSeed());
  Value one = buildIndexConstant(b, loc, 1);
  auto centroidBits = [&](unsigned e) -> Value {
    Value code;
    for (unsigned k = 0; k < bits; ++k) {
      Value bit = arith::AndIOp::create(
          b, loc,
          arith::ShRUIOp::create(b, loc, entry,
                                 buildIndexConstant(b, loc, 2 * k + e)),
          one);
      if (k > 0)
        bit = arith::ShLIOp::create(b, loc, bit, buildIndexConstant(b, loc, k));
      code = code ? arith::OrIOp::create(b, loc, code, bit).getResult() : bit;
    }
    Value centroid = reader.load(b, loc, lutComponent, {row, code});
    Value raw = arith::BitcastOp::create(b, loc, b.getI16Type(), centroid);
    return arith::ExtUIOp::create(b, loc, b.getI32Type(), raw);
  };
  Value high = arith::ShLIOp::create(b, loc, centroidBits(1),
                                     buildI32Constant(b, loc, 16));
  return arith::OrIOp::create(b, loc, centroidBits(0), high);
}

// A word of every plane per 32 weights, the codes assembled with vector
// shifts and masks (no per-weight bit extraction), then one gather from
// the row's LUT: the LUT lookup is the only per-weight work. With the
// consumer's pair table, the table indices of four pairs a register
// (buildPairIndexWords) and one f16x2 lookup per pair.
Value BitplaneSchemeAttr::buildDequantVector(OpBuilder &b, Location loc,
                                             const ComponentReader &reader,
                                             ArrayRef<int64_t> shape, Value row,
                                             Value col, int64_t width,
                                             FloatType resultType) const {
  // The interface promises a power of two dividing K; anything else (a
  // tile crossing a word at an offset) takes the scalars.
  if (!llvm::isPowerOf2_64(uint64_t(width)))
    return buildVectorFromScalars(
        b, loc,
        buildDequantTile(b, loc, reader, shape, row, col, width, resultType));
  unsigned bits = getDecodeWidth();
  if (reader.hasRowTable(kCodePairTable) && resultType.isF16() &&
      width % 32 == 0 && bits <= kMaxPairTableWidth) {
    Value entries =
        buildPairTableIndices(b, loc, reader, row, col, width, bits);
    Value words = reader.gatherRowTable(b, loc, kCodePairTable, row, entries);
    return vector::BitCastOp::create(
        b, loc, VectorType::get({width}, resultType), words);
  }
  unsigned lutComponent = getParent() + (bits - getSeed());
  int64_t chunk = std::min<int64_t>(width, 32);
  // A tile narrower than a word starts at a dynamic bit of it.
  Value bitOffset;
  if (width < 32)
    bitOffset = arith::IndexCastUIOp::create(
        b, loc, b.getI32Type(),
        arith::RemUIOp::create(b, loc, col, buildIndexConstant(b, loc, 32)));
  SmallVector<Value> chunks;
  for (int64_t c = 0; c < width / chunk; ++c) {
    Value first = c == 0 ? col
                         : arith::AddIOp::create(
                               b, loc, col, buildIndexConstant(b, loc, c * 32))
                               .getResult();
    Value word =
        arith::DivUIOp::create(b, loc, first, buildIndexConstant(b, loc, 32));
    SmallVector<Value> planes;
    for (unsigned j = 0; j < bits; ++j) {
      Value plane = reader.load(b, loc, j, {row, word});
      if (bitOffset)
        plane = arith::ShRUIOp::create(b, loc, plane, bitOffset);
      planes.push_back(plane);
    }
    chunks.push_back(buildBitplaneCodes(b, loc, planes, chunk, bits));
  }
  // i32 lane indices: 32-bit address arithmetic on a GPU (shared memory
  // addresses are 32 bits), vpgatherdd's on x86.
  Value codes = concatAll(b, loc, chunks);
  return reader.gatherAs(b, loc, lutComponent, {row}, codes, resultType);
}

SmallVector<Value> BitplaneSchemeAttr::buildDequantTile(
    OpBuilder &b, Location loc, const ComponentReader &reader,
    ArrayRef<int64_t> shape, Value row, Value col, int64_t tileCols,
    FloatType resultType) const {
  unsigned width = getDecodeWidth();
  int64_t wordsPerRow = ::mixq::quant::packedWordCount(shape[1], 1);
  unsigned lutComponent = getParent() + (width - getSeed());
  SmallVector<Value> values;
  for (int64_t i = 0; i < tileCols; ++i) {
    Value c = i == 0 ? col
                     : arith::AddIOp::create(b, loc, col,
                                             buildIndexConstant(b, loc, i))
                           .getResult();
    // code = sum_{j < width} bit_j << (width - 1 - j): only the top `width`
    // planes are read.
    Value code;
    for (unsigned j = 0; j < width; ++j) {
      Value bit =
          buildPackedCodeLoad(b, loc, reader, j, row, c, 1, wordsPerRow);
      if (j + 1 < width)
        bit = arith::ShLIOp::create(b, loc, bit,
                                    buildI32Constant(b, loc, width - 1 - j));
      code = code ? arith::OrIOp::create(b, loc, code, bit).getResult() : bit;
    }
    Value entry = arith::IndexCastUIOp::create(b, loc, b.getIndexType(), code);
    Value w = buildExtendToF32(b, loc,
                               reader.load(b, loc, lutComponent, {row, entry}));
    values.push_back(buildTruncateFromF32(b, loc, w, resultType));
  }
  return values;
}
