//===- LUTScheme.cpp - #mixq.lut: per-row codebooks
//-------------------------===//
//
// Adapts the host quantizer of quant/LUTQuantizer.h to
// QuantSchemeAttrInterface and emits the dequantization IR.
//===----------------------------------------------------------------------===//
#include "dialect/MixQ/MixQAttrs.h"
#include "dialect/MixQ/SchemeUtils.h"
#include "quant/BitPacking.h"
#include "quant/LUTQuantizer.h"

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
enum LUTComponent : unsigned { LUTCodes = 0, LUTTable = 1 };

/// getRowTables' only table: f16x2 codebook entries for pairs of codes.
constexpr unsigned kCodePairTable = 0;

/// The widest codes with a pair table: 2 * 3 bits index 64 entries (256
/// bytes a row); 4-bit pairs would take 1 KiB a row.
constexpr unsigned kMaxPairTableBits = 3;

::mixq::quant::LUTParams getLUTParams(LUTSchemeAttr attr) {
  ::mixq::quant::LUTParams params;
  params.bits = attr.getBits();
  return params;
}

} // namespace

SchemeSpecSyntax LUTSchemeAttr::getSpecSyntax() {
  SchemeSpecSyntax syntax;
  syntax.name = "lut";
  syntax.attrName = "#mixq.lut";
  syntax.summary = "per-row codebooks of f16 centroids (SqueezeLLM-style)";
  syntax.example = "lut:bits=3";
  syntax.keys = {
      {"bits", "code bits: 2, 3 or 4", SpecValueKind::Unsigned, {}, "3"}};
  return syntax;
}

LogicalResult
LUTSchemeAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                      unsigned bits) {
  if (bits != 2 && bits != 3 && bits != 4)
    return emitError() << "lut 'bits' must be 2, 3 or 4, got " << bits;
  return success();
}

LogicalResult
LUTSchemeAttr::verifyShape(ArrayRef<int64_t> shape,
                           function_ref<InFlightDiagnostic()> emitError) const {
  if (shape.size() != 2)
    return emitError() << "lut scheme expects an N x K matrix";
  return success();
}

SmallVector<ComponentSpec>
LUTSchemeAttr::getComponents(ArrayRef<int64_t> shape) const {
  MLIRContext *ctx = getContext();
  int64_t rows = shape[0];
  int64_t words = ::mixq::quant::packedWordCount(shape[1], getBits());
  SmallVector<ComponentSpec> components;
  components.push_back({"codes",
                        IntegerType::get(ctx, 32),
                        {rows, words},
                        isUnpaddedCodeStream(shape[1], getBits())});
  components.push_back(
      {"lut", Float16Type::get(ctx), {rows, getNumCentroids()}});
  return components;
}

llvm::Expected<PackedWeights>
LUTSchemeAttr::quantize(ArrayRef<float> weights, ArrayRef<int64_t> shape,
                        const QuantizeOptions &options) const {
  ::mixq::quant::LUTParams params = getLUTParams(*this);
  // The k-means sample weights are the per-column sensitivities, if any.
  auto sensitivity = checkQuantizeInputs(
      "lut", ::mixq::quant::validateLUT(params, shape[0], shape[1]), weights,
      shape, options);
  if (!sensitivity)
    return sensitivity.takeError();
  ::mixq::quant::LUTQuantized q =
      ::mixq::quant::quantizeLUT(weights.data(), shape[0], shape[1], params,
                                 getSensitivityOrNull(*sensitivity));
  PackedWeights packed;
  packed.push_back(toBytes(q.codes));
  packed.push_back(toBytes(q.lut));
  return packed;
}

llvm::Expected<std::vector<float>>
LUTSchemeAttr::dequantize(const PackedWeights &packed,
                          ArrayRef<int64_t> shape) const {
  if (llvm::Error err = checkPackedSizes(getComponents(shape), packed))
    return std::move(err);
  ::mixq::quant::LUTParams params = getLUTParams(*this);
  std::string problem = ::mixq::quant::validateLUT(params, shape[0], shape[1]);
  if (!problem.empty())
    return llvm::createStringError(problem);
  ::mixq::quant::LUTQuantized q;
  q.codes = fromBytes<uint32_t>(packed[LUTCodes]);
  q.lut = fromBytes<uint16_t>(packed[LUTTable]);
  return ::mixq::quant::dequantizeLUT(q, shape[0], shape[1], params);
}

SmallVector<Value>
LUTSchemeAttr::buildDequantTile(OpBuilder &b, Location loc,
                                const ComponentReader &reader,
                                ArrayRef<int64_t> shape, Value row, Value col,
                                int64_t tileCols, FloatType resultType) const {
  unsigned bits = getBits();
  int64_t wordsPerRow = ::mixq::quant::packedWordCount(shape[1], bits);
  SmallVector<Value> values;
  for (int64_t i = 0; i < tileCols; ++i) {
    Value c = i == 0 ? col
                     : arith::AddIOp::create(b, loc, col,
                                             buildIndexConstant(b, loc, i))
                           .getResult();
    Value code = buildPackedCodeLoad(b, loc, reader, LUTCodes, row, c, bits,
                                     wordsPerRow);
    // The code is masked to `bits` bits, so it always indexes the row's
    // 2^bits centroids.
    Value entry = arith::IndexCastUIOp::create(b, loc, b.getIndexType(), code);
    Value w =
        buildExtendToF32(b, loc, reader.load(b, loc, LUTTable, {row, entry}));
    values.push_back(buildTruncateFromF32(b, loc, w, resultType));
  }
  return values;
}

SmallVector<RowTableSpec>
LUTSchemeAttr::getRowTables(ArrayRef<int64_t> shape) const {
  if (getBits() > kMaxPairTableBits)
    return {};
  return {{"code_pairs", IntegerType::get(getContext(), 32),
           int64_t(1) << (2 * getBits())}};
}

// Entry c0 | c1 << bits: the bits of lut[row][c0] | lut[row][c1] << 16.
Value LUTSchemeAttr::buildRowTableEntry(OpBuilder &b, Location loc,
                                        const ComponentReader &reader,
                                        ArrayRef<int64_t> shape, unsigned table,
                                        Value row, Value entry) const {
  if (table != kCodePairTable || getBits() > kMaxPairTableBits)
    return Value();
  Value codeMask = buildIndexConstant(b, loc, getNumCentroids() - 1);
  Value bitsValue = buildIndexConstant(b, loc, getBits());
  Value first = arith::AndIOp::create(b, loc, entry, codeMask);
  Value second = arith::ShRUIOp::create(b, loc, entry, bitsValue);
  auto centroidBits = [&](Value code) -> Value {
    Value centroid = reader.load(b, loc, LUTTable, {row, code});
    Value raw = arith::BitcastOp::create(b, loc, b.getI16Type(), centroid);
    return arith::ExtUIOp::create(b, loc, b.getI32Type(), raw);
  };
  Value high = arith::ShLIOp::create(
      b, loc, centroidBits(second),
      arith::ConstantIntOp::create(b, loc, b.getI32Type(), 16));
  return arith::OrIOp::create(b, loc, centroidBits(first), high);
}

// The tile's codes a word at a time (buildPackedCodeVector), then one
// gather from the row's codebook; with the consumer's pair table, the codes
// two at a time and one f16x2 lookup per pair.
Value LUTSchemeAttr::buildDequantVector(OpBuilder &b, Location loc,
                                        const ComponentReader &reader,
                                        ArrayRef<int64_t> shape, Value row,
                                        Value col, int64_t width,
                                        FloatType resultType) const {
  unsigned bits = getBits();
  if (reader.hasRowTable(kCodePairTable) && resultType.isF16() &&
      width % 2 == 0 && isWordAlignedTile(bits, width)) {
    Value pairs = buildPackedCodePairVector(b, loc, reader, LUTCodes, row, col,
                                            bits, width);
    Value words = reader.gatherRowTable(b, loc, kCodePairTable, row, pairs);
    return vector::BitCastOp::create(
        b, loc, VectorType::get({width}, resultType), words);
  }
  if (!isWordAlignedTile(bits, width))
    return buildVectorFromScalars(
        b, loc,
        buildDequantTile(b, loc, reader, shape, row, col, width, resultType));
  Value codes =
      buildPackedCodeVector(b, loc, reader, LUTCodes, row, col, bits, width);
  return reader.gatherAs(b, loc, LUTTable, {row}, codes, resultType);
}
