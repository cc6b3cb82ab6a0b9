//===- AffineScheme.cpp - #mixq.affine: group-wise affine integer codes
//-----===//
//
// Adapts the host quantizer of quant/AffineQuantizer.h to
// QuantSchemeAttrInterface and emits the dequantization IR.
//===----------------------------------------------------------------------===//
#include "dialect/MixQ/MixQAttrs.h"
#include "dialect/MixQ/SchemeUtils.h"
#include "quant/AffineQuantizer.h"
#include "quant/BitPacking.h"

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
/// f16 is the attribute's default: left implicit, so that the printed
/// scheme is the canonical `#mixq.affine<bits = 4, group = 128>`.
llvm::Expected<std::string> rewriteAffineScale(StringRef value) {
  if (value == "f16")
    return std::string();
  if (value == "bf16" || value == "f32")
    return value.str();
  return makeSpecValueError("must be f16, bf16 or f32, got '" + value + "'");
}

/// `rtn` is one clip ratio; `mse` the quantizer's grid 1.0, 0.95, .., 0.5.
llvm::Expected<std::string> rewriteAffineClip(StringRef value) {
  if (value == "rtn")
    return std::string("1");
  if (value == "mse")
    return std::string("11");
  unsigned ratios = 0;
  if (value.getAsInteger(10, ratios) || ratios < 1 || ratios > 1000)
    return makeSpecValueError("must be rtn, mse or a number of clip ratios in "
                              "1..1000, got '" +
                              value + "'");
  return value.str();
}
} // namespace

SchemeSpecSyntax AffineSchemeAttr::getSpecSyntax() {
  SchemeSpecSyntax syntax;
  syntax.name = "affine";
  syntax.attrName = "#mixq.affine";
  syntax.summary = "group-wise affine integer codes (RTN, MSE clipping)";
  syntax.example = "affine:bits=4,group=128";
  using Kind = SpecValueKind;
  syntax.keys = {
      {"bits", "code bits: 2, 3, 4 or 8", Kind::Unsigned, {}, "4"},
      {"group", "inputs per group, dividing K", Kind::Integer, {}, "128"},
      {"sym",
       "true: symmetric codes, no zero points",
       Kind::Any,
       "symmetric",
       {},
       rewriteSpecBool},
      {"scale",
       "scale and zero type: f16, bf16 or f32",
       Kind::Any,
       {},
       {},
       rewriteAffineScale},
      {"clip",
       "rtn, mse, or a number of clip ratios searched, 1..1000",
       Kind::Any,
       {},
       {},
       rewriteAffineClip}};
  return syntax;
}

namespace {
enum AffineComponent : unsigned { Codes = 0, Scales = 1, Zeros = 2 };

::mixq::quant::AffineParams getAffineParams(AffineSchemeAttr attr) {
  ::mixq::quant::AffineParams params;
  params.bits = attr.getBits();
  params.groupSize = attr.getGroup();
  params.symmetric = attr.getSymmetric();
  params.scaleFormat = getScalarFormat(attr.getScaleType());
  params.clipGridSize = attr.getClip();
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
                         FloatType scale, unsigned clip) {
  if (bits != 2 && bits != 3 && bits != 4 && bits != 8)
    return emitError() << "affine 'bits' must be 2, 3, 4 or 8, got " << bits;
  if (group <= 0)
    return emitError() << "affine 'group' must be positive, got " << group;
  if (scale && !isScalarStorageType(scale))
    return emitError() << "affine 'scale' must be f16, bf16 or f32, got "
                       << scale;
  if (clip < 1 || clip > 1000)
    return emitError() << "affine 'clip' must be in 1..1000 (1: round to "
                          "nearest), got "
                       << clip;
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

Attribute AffineSchemeAttr::getShapeFallback(ArrayRef<int64_t> shape) const {
  if (shape.size() != 2 || shape[1] < 1)
    return {};
  int64_t group = getLargestPowerOfTwoDivisor(getGroup() - 1, shape[1]);
  return AffineSchemeAttr::get(getContext(), getBits(), group, getSymmetric(),
                               getScale(), getClip());
}

SmallVector<ComponentSpec>
AffineSchemeAttr::getComponents(ArrayRef<int64_t> shape) const {
  MLIRContext *ctx = getContext();
  int64_t rows = shape[0], groups = shape[1] / getGroup();
  int64_t words = ::mixq::quant::packedWordCount(shape[1], getBits());
  SmallVector<ComponentSpec> components;
  components.push_back({"codes",
                        IntegerType::get(ctx, 32),
                        {rows, words},
                        isUnpaddedCodeStream(shape[1], getBits())});
  components.push_back({"scales", getScaleType(), {rows, groups}});
  if (!getSymmetric())
    components.push_back({"zeros", getScaleType(), {rows, groups}});
  return components;
}

llvm::Expected<PackedWeights>
AffineSchemeAttr::quantize(ArrayRef<float> weights, ArrayRef<int64_t> shape,
                           const QuantizeOptions &options) const {
  ::mixq::quant::AffineParams params = getAffineParams(*this);
  // Only the clipping search weighs its error by calibration data.
  auto sensitivity = checkQuantizeInputs(
      "affine", ::mixq::quant::validateAffine(params, shape[0], shape[1]),
      weights, shape, options);
  if (!sensitivity)
    return sensitivity.takeError();
  ::mixq::quant::AffineQuantized q =
      ::mixq::quant::quantizeAffine(weights.data(), shape[0], shape[1], params,
                                    getSensitivityOrNull(*sensitivity));
  PackedWeights packed;
  packed.push_back(toBytes(q.codes));
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
  q.codes = fromBytes<uint32_t>(packed[Codes]);
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
                     : arith::AddIOp::create(b, loc, col,
                                             buildIndexConstant(b, loc, i))
                           .getResult();
    Value code =
        buildPackedCodeLoad(b, loc, reader, Codes, row, c, bits, wordsPerRow);
    Value q = arith::UIToFPOp::create(b, loc, b.getF32Type(), code);
    Value group = arith::DivUIOp::create(
        b, loc, c, buildIndexConstant(b, loc, getGroup()));
    Value scale =
        buildExtendToF32(b, loc, reader.load(b, loc, Scales, {row, group}));
    Value zero =
        getSymmetric()
            ? buildF32Constant(b, loc, static_cast<float>(1u << (bits - 1)))
            : buildExtendToF32(b, loc,
                               reader.load(b, loc, Zeros, {row, group}));
    Value w = arith::MulFOp::create(
        b, loc, arith::SubFOp::create(b, loc, q, zero), scale);
    values.push_back(buildTruncateFromF32(b, loc, w, resultType));
  }
  return values;
}

Value AffineSchemeAttr::buildDequantVector(OpBuilder &b, Location loc,
                                           const ComponentReader &reader,
                                           ArrayRef<int64_t> shape, Value row,
                                           Value col, int64_t width,
                                           FloatType resultType) const {
  return buildDequantVectorInColumnOrder(*this, b, loc, reader, shape, row, col,
                                         width, resultType);
}

namespace {
/// q - z of a whole-group tile (buildCenteredCodeTile): f16 pairs need an
/// f16 zero point, so an f16 scale type. `zero` is the group's zero point
/// in the scale type, or null (symmetric: 2^(bits-1)).
Value buildCenteredAffineCodes(AffineSchemeAttr attr, OpBuilder &b,
                               Location loc, const ComponentReader &reader,
                               ArrayRef<int64_t> shape, Value row, Value col,
                               int64_t width, FloatType resultType, Value zero,
                               SmallVectorImpl<int64_t> &order) {
  unsigned bits = attr.getBits();
  return buildCenteredCodeTile(
      b, loc, reader, Codes, row, col, bits, width, shape[1],
      resultType.isF16() && attr.getScaleType().isF16(), zero,
      int64_t(1) << (bits - 1), order);
}

/// The group of column `col` (an index).
Value buildGroupIndex(AffineSchemeAttr attr, OpBuilder &b, Location loc,
                      Value col) {
  return arith::DivUIOp::create(b, loc, col,
                                buildIndexConstant(b, loc, attr.getGroup()));
}

/// The group's zero point in the scale type, or null when symmetric.
Value loadZeroPoint(AffineSchemeAttr attr, OpBuilder &b, Location loc,
                    const ComponentReader &reader, Value row, Value group) {
  return attr.getSymmetric() ? Value()
                             : reader.load(b, loc, Zeros, {row, group});
}
} // namespace

// (q - z) * s: q - z exact, the product rounded once, in f16 pairs as by
// the f32 formula of buildDequantTile and its truncation: the same bits.
Value AffineSchemeAttr::buildDequantVectorInAnyOrder(
    OpBuilder &b, Location loc, const ComponentReader &reader,
    ArrayRef<int64_t> shape, Value row, Value col, int64_t width,
    FloatType resultType, SmallVectorImpl<int64_t> &order) const {
  // One group per tile, so one scale and zero point.
  if (!isWordAlignedTile(getBits(), width) || getGroup() % width != 0) {
    setColumnOrder(order, width);
    return buildVectorFromScalars(
        b, loc,
        buildDequantTile(b, loc, reader, shape, row, col, width, resultType));
  }
  Value group = buildGroupIndex(*this, b, loc, col);
  Value scale = reader.load(b, loc, Scales, {row, group});
  Value centered = buildCenteredAffineCodes(
      *this, b, loc, reader, shape, row, col, width, resultType,
      loadZeroPoint(*this, b, loc, reader, row, group), order);
  return buildScaledCodeTile(b, loc, centered, scale, resultType);
}

int64_t AffineSchemeAttr::getScaleFactorColumns(ArrayRef<int64_t>) const {
  return getGroup();
}

Value AffineSchemeAttr::buildScaleFactor(OpBuilder &b, Location loc,
                                         const ComponentReader &reader,
                                         ArrayRef<int64_t> shape, Value row,
                                         Value col) const {
  return buildExtendToF32(
      b, loc,
      reader.load(b, loc, Scales, {row, buildGroupIndex(*this, b, loc, col)}));
}

Value AffineSchemeAttr::buildUnscaledDequantVectorInAnyOrder(
    OpBuilder &b, Location loc, const ComponentReader &reader,
    ArrayRef<int64_t> shape, Value row, Value col, int64_t width,
    FloatType resultType, SmallVectorImpl<int64_t> &order) const {
  Value group = buildGroupIndex(*this, b, loc, col);
  Value centered = buildCenteredAffineCodes(
      *this, b, loc, reader, shape, row, col, width, resultType,
      loadZeroPoint(*this, b, loc, reader, row, group), order);
  return buildCodeTileAs(b, loc, centered, resultType);
}

// The codes before the zero point is subtracted: 2^(10 - k) + q, the
// group's zero point as the run's zero. Only where the unscaled tile is f16
// pairs of whole words (the same order); elsewhere there is no per-pair
// subtraction to save.
Value AffineSchemeAttr::buildBiasedDequantVectorInAnyOrder(
    OpBuilder &b, Location loc, const ComponentReader &reader,
    ArrayRef<int64_t> shape, Value row, Value col, int64_t width,
    FloatType resultType, SmallVectorImpl<int64_t> &order,
    SmallVectorImpl<double> &bias, Value &zero) const {
  unsigned bits = getBits();
  if (!resultType.isF16() || !getScaleType().isF16() ||
      !isWholeWordTile(bits, width) || getGroup() % width != 0)
    return Value();
  Value group = buildGroupIndex(*this, b, loc, col);
  Value zeroPoint = loadZeroPoint(*this, b, loc, reader, row, group);
  zero = zeroPoint ? buildExtendToF32(b, loc, zeroPoint)
                   : buildF32Constant(b, loc, float(1u << (bits - 1)));
  return buildBiasedHalfCodePairs(b, loc, reader, Codes, row, col, bits, width,
                                  order, bias);
}
