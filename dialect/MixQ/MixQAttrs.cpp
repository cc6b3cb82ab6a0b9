//===- MixQAttrs.cpp - quantization scheme attributes ---------------------===//
//
// #mixq.affine and #mixq.lut: the host quantizers live in the dependency-free
// quant core (dialect/MixQ/Quant); this file adapts them to
// QuantSchemeAttrInterface and emits the dequantization IR.
//===----------------------------------------------------------------------===//
#include "dialect/MixQ/MixQAttrs.h"
#include "dialect/MixQ/MixQDialect.h"
#include "dialect/MixQ/Quant/AffineQuantizer.h"
#include "dialect/MixQ/Quant/BitPacking.h"
#include "dialect/MixQ/Quant/LUTQuantizer.h"
#include "dialect/MixQ/SchemeUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cstring>
#include <optional>

using namespace mlir;
using namespace mlir::mixq;

#define GET_ATTRDEF_CLASSES
#include "dialect/MixQ/MixQAttrs.cpp.inc"

void MixQDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialect/MixQ/MixQAttrs.cpp.inc"
      >();
}

namespace {
Value indexConst(OpBuilder &b, Location loc, int64_t value) {
  return buildIndexConstant(b, loc, value);
}

Value f32Const(OpBuilder &b, Location loc, float value) {
  return arith::ConstantFloatOp::create(b, loc, b.getF32Type(), APFloat(value));
}
} // namespace

//===----------------------------------------------------------------------===//
// AffineSchemeAttr
//===----------------------------------------------------------------------===//

namespace {
enum AffineComponent : unsigned { Codes = 0, Scales = 1, Zeros = 2 };

::mixq::quant::AffineParams getAffineParams(AffineSchemeAttr attr) {
  ::mixq::quant::AffineParams params;
  params.bits = attr.getBits();
  params.groupSize = attr.getGroup();
  params.symmetric = attr.getSymmetric();
  params.scaleFormat = getScalarFormat(attr.getScaleType());
  return params;
}
} // namespace

FloatType AffineSchemeAttr::getScaleType() const {
  if (FloatType scale = getScale())
    return scale;
  return Float16Type::get(getContext());
}

LogicalResult
AffineSchemeAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                         unsigned bits, int64_t group, bool symmetric,
                         FloatType scale) {
  if (bits != 2 && bits != 3 && bits != 4 && bits != 8)
    return emitError() << "affine 'bits' must be 2, 3, 4 or 8, got " << bits;
  if (group <= 0)
    return emitError() << "affine 'group' must be positive, got " << group;
  if (scale && !isScalarStorageType(scale))
    return emitError() << "affine 'scale' must be f16, bf16 or f32, got "
                       << scale;
  return success();
}

LogicalResult AffineSchemeAttr::verifyShape(
    ArrayRef<int64_t> shape,
    function_ref<InFlightDiagnostic()> emitError) const {
  if (shape.size() != 2)
    return emitError() << "affine scheme expects an N x K matrix";
  if (shape[1] % getGroup() != 0)
    return emitError() << "affine 'group' (" << getGroup()
                       << ") does not divide the number of inputs K = "
                       << shape[1];
  return success();
}

SmallVector<ComponentSpec>
AffineSchemeAttr::getComponents(ArrayRef<int64_t> shape) const {
  MLIRContext *ctx = getContext();
  int64_t rows = shape[0], groups = shape[1] / getGroup();
  int64_t words = ::mixq::quant::packedWordCount(shape[1], getBits());
  SmallVector<ComponentSpec> components;
  components.push_back({"codes", IntegerType::get(ctx, 32), {rows, words}});
  components.push_back({"scales", getScaleType(), {rows, groups}});
  if (!getSymmetric())
    components.push_back({"zeros", getScaleType(), {rows, groups}});
  return components;
}

llvm::Expected<PackedWeights>
AffineSchemeAttr::quantize(ArrayRef<float> weights, ArrayRef<int64_t> shape,
                           const QuantizeOptions &options) const {
  (void)options; // Round-to-nearest needs no calibration data.
  ::mixq::quant::AffineParams params = getAffineParams(*this);
  std::string problem =
      ::mixq::quant::validateAffine(params, shape[0], shape[1]);
  if (!problem.empty())
    return llvm::createStringError(problem);
  if (static_cast<int64_t>(weights.size()) != shape[0] * shape[1])
    return llvm::createStringError("weight buffer does not match the shape");
  ::mixq::quant::AffineQuantized q =
      ::mixq::quant::quantizeAffine(weights.data(), shape[0], shape[1], params);
  PackedWeights packed;
  packed.push_back(wordsToBytes(q.codes));
  packed.push_back(std::move(q.scales));
  if (!getSymmetric())
    packed.push_back(std::move(q.zeros));
  return packed;
}

llvm::Expected<std::vector<float>>
AffineSchemeAttr::dequantize(const PackedWeights &packed,
                             ArrayRef<int64_t> shape) const {
  if (llvm::Error err = checkPackedSizes(getComponents(shape), packed))
    return std::move(err);
  ::mixq::quant::AffineQuantized q;
  q.codes = bytesToWords(packed[Codes]);
  q.scales = packed[Scales];
  if (!getSymmetric())
    q.zeros = packed[Zeros];
  return ::mixq::quant::dequantizeAffine(q, shape[0], shape[1],
                                         getAffineParams(*this));
}

SmallVector<Value> AffineSchemeAttr::buildDequantTile(
    OpBuilder &b, Location loc, const ComponentReader &reader,
    ArrayRef<int64_t> shape, Value row, Value col, int64_t tileCols,
    FloatType resultType) const {
  unsigned bits = getBits();
  int64_t wordsPerRow = ::mixq::quant::packedWordCount(shape[1], bits);
  SmallVector<Value> values;
  for (int64_t i = 0; i < tileCols; ++i) {
    Value c = i == 0 ? col
                     : arith::AddIOp::create(b, loc, col, indexConst(b, loc, i))
                           .getResult();
    Value code =
        buildPackedCodeLoad(b, loc, reader, Codes, row, c, bits, wordsPerRow);
    Value q = arith::UIToFPOp::create(b, loc, b.getF32Type(), code);
    Value group =
        arith::DivUIOp::create(b, loc, c, indexConst(b, loc, getGroup()));
    Value scale =
        buildExtendToF32(b, loc, reader.load(b, loc, Scales, {row, group}));
    Value zero = getSymmetric()
                     ? f32Const(b, loc, static_cast<float>(1u << (bits - 1)))
                     : buildExtendToF32(
                           b, loc, reader.load(b, loc, Zeros, {row, group}));
    Value w = arith::MulFOp::create(
        b, loc, arith::SubFOp::create(b, loc, q, zero), scale);
    values.push_back(buildTruncateFromF32(b, loc, w, resultType));
  }
  return values;
}

//===----------------------------------------------------------------------===//
// LUTSchemeAttr
//===----------------------------------------------------------------------===//

namespace {
enum LUTComponent : unsigned { LUTCodes = 0, LUTTable = 1 };

::mixq::quant::LUTParams getLUTParams(LUTSchemeAttr attr) {
  ::mixq::quant::LUTParams params;
  params.bits = attr.getBits();
  return params;
}

std::vector<uint16_t> bytesToHalves(const PackedBuffer &bytes) {
  std::vector<uint16_t> halves(bytes.size() / sizeof(uint16_t));
  std::memcpy(halves.data(), bytes.data(), halves.size() * sizeof(uint16_t));
  return halves;
}

PackedBuffer halvesToBytes(const std::vector<uint16_t> &halves) {
  PackedBuffer bytes(halves.size() * sizeof(uint16_t));
  std::memcpy(bytes.data(), halves.data(), bytes.size());
  return bytes;
}
} // namespace

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
  components.push_back({"codes", IntegerType::get(ctx, 32), {rows, words}});
  components.push_back(
      {"lut", Float16Type::get(ctx), {rows, getNumCentroids()}});
  return components;
}

llvm::Expected<PackedWeights>
LUTSchemeAttr::quantize(ArrayRef<float> weights, ArrayRef<int64_t> shape,
                        const QuantizeOptions &options) const {
  ::mixq::quant::LUTParams params = getLUTParams(*this);
  std::string problem = ::mixq::quant::validateLUT(params, shape[0], shape[1]);
  if (!problem.empty())
    return llvm::createStringError(problem);
  if (static_cast<int64_t>(weights.size()) != shape[0] * shape[1])
    return llvm::createStringError("weight buffer does not match the shape");
  // The k-means sample weights are the per-column sensitivities, if any.
  std::optional<::mixq::quant::Sensitivity> sensitivity;
  if (!options.inputSensitivity.empty()) {
    sensitivity.emplace();
    sensitivity->meanSquare.assign(options.inputSensitivity.begin(),
                                   options.inputSensitivity.end());
    problem = ::mixq::quant::validateSensitivity(*sensitivity, shape[1]);
    if (!problem.empty())
      return llvm::createStringError("lut: " + problem);
  }
  ::mixq::quant::LUTQuantized q =
      ::mixq::quant::quantizeLUT(weights.data(), shape[0], shape[1], params,
                                 sensitivity ? &*sensitivity : nullptr);
  PackedWeights packed;
  packed.push_back(wordsToBytes(q.codes));
  packed.push_back(halvesToBytes(q.lut));
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
  q.codes = bytesToWords(packed[LUTCodes]);
  q.lut = bytesToHalves(packed[LUTTable]);
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
                     : arith::AddIOp::create(b, loc, col, indexConst(b, loc, i))
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
