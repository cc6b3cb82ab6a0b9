//===- MixQAttrs.cpp - quantization scheme attributes ---------------------===//
//
// #mixq.affine, #mixq.lut, #mixq.mixed and #mixq.bitplane: the host
// quantizers live in the dependency-free quant core (dialect/MixQ/Quant);
// this file adapts them to QuantSchemeAttrInterface and emits the
// dequantization IR.
//===----------------------------------------------------------------------===//
#include "dialect/MixQ/MixQAttrs.h"
#include "dialect/MixQ/MixQDialect.h"
#include "dialect/MixQ/Quant/AffineQuantizer.h"
#include "dialect/MixQ/Quant/BitPacking.h"
#include "dialect/MixQ/Quant/BitplaneQuantizer.h"
#include "dialect/MixQ/Quant/LUTQuantizer.h"
#include "dialect/MixQ/Quant/MixedQuantizer.h"
#include "dialect/MixQ/SchemeRegistry.h"
#include "dialect/MixQ/SchemeUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <tuple>
#include <type_traits>

using namespace mlir;
using namespace mlir::mixq;

/// A row of `cols` `bits`-bit codes fills whole 32-bit words, so a column
/// tile maps to a contiguous word range (ComponentSpec::columnTiled).
static bool isUnpaddedCodeStream(int64_t cols, unsigned bits) {
  return (cols * int64_t(bits)) % 32 == 0;
}

FailureOr<APFloat> mlir::mixq::parseDoubleParameter(AsmParser &parser) {
  int64_t integer = 0;
  OptionalParseResult parsedInteger = parser.parseOptionalInteger(integer);
  if (parsedInteger.has_value()) {
    if (failed(*parsedInteger))
      return failure();
    return APFloat(static_cast<double>(integer));
  }
  double value = 0.0;
  if (parser.parseFloat(value))
    return failure();
  return APFloat(value);
}

void mlir::mixq::printDoubleParameter(AsmPrinter &printer,
                                      const APFloat &apValue) {
  double value = apValue.convertToDouble();
  // The shortest %g form that reads back as the same double.
  char text[64];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(text, sizeof(text), "%.*g", precision, value);
    if (std::strtod(text, nullptr) == value)
      break;
  }
  std::string result(text);
  // MLIR float literals need a '.': 3 -> 3.0, 1e-05 -> 1.0e-05.
  if (std::isfinite(value) && result.find('.') == std::string::npos) {
    size_t exponent = result.find('e');
    result.insert(exponent == std::string::npos ? result.size() : exponent,
                  ".0");
  }
  printer << result;
}

#define GET_ATTRDEF_CLASSES
#include "dialect/MixQ/MixQAttrs.cpp.inc"

void MixQDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialect/MixQ/MixQAttrs.cpp.inc"
      >();
}

namespace {
/// Appends the SPEC syntax of each of AttrTs that is a quantization scheme.
template <typename... AttrTs>
void appendSchemeSyntaxes(std::vector<RegisteredScheme> &schemes) {
  auto insert = [](DialectRegistry &registry) {
    registry.insert<MixQDialect>();
  };
  auto append = [&](auto syntax) {
    schemes.push_back(
        {std::move(syntax), MixQDialect::getDialectNamespace().str(), insert});
  };
  (
      [&] {
        if constexpr (std::is_base_of_v<QuantSchemeAttrInterface::Trait<AttrTs>,
                                        AttrTs>)
          append(AttrTs::getSpecSyntax());
      }(),
      ...);
}
} // namespace

std::vector<RegisteredScheme> mlir::mixq::getBuiltinSchemes() {
  std::vector<RegisteredScheme> schemes;
  appendSchemeSyntaxes<
#define GET_ATTRDEF_LIST
#include "dialect/MixQ/MixQAttrs.cpp.inc"
      >(schemes);
  return schemes;
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
  syntax.keys = {{"bits", "code bits: 2, 3, 4 or 8", {}, "4"},
                 {"group", "inputs per group, dividing K", {}, "128"},
                 {"sym",
                  "true: symmetric codes, no zero points",
                  "symmetric",
                  {},
                  rewriteSpecBool},
                 {"scale",
                  "scale and zero type: f16, bf16 or f32",
                  {},
                  {},
                  rewriteAffineScale},
                 {"clip",
                  "rtn, mse, or a number of clip ratios searched, 1..1000",
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

namespace {
/// The largest power of two at most `most` that divides `k` (1 at least).
int64_t getLargestPowerOfTwoGroup(int64_t most, int64_t k) {
  int64_t group = int64_t(1) << llvm::Log2_64(std::max<int64_t>(most, 1));
  while (group > 1 && k % group != 0)
    group /= 2;
  return group;
}
} // namespace

Attribute AffineSchemeAttr::getShapeFallback(ArrayRef<int64_t> shape) const {
  if (shape.size() != 2 || shape[1] < 1)
    return {};
  int64_t group = getLargestPowerOfTwoGroup(getGroup() - 1, shape[1]);
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
  std::string problem =
      ::mixq::quant::validateAffine(params, shape[0], shape[1]);
  if (!problem.empty())
    return llvm::createStringError(problem);
  if (static_cast<int64_t>(weights.size()) != shape[0] * shape[1])
    return llvm::createStringError("weight buffer does not match the shape");
  // Only the clipping search weighs its error by calibration data.
  auto sensitivity = sensitivityOf(options, shape[1], "affine");
  if (!sensitivity)
    return sensitivity.takeError();
  ::mixq::quant::AffineQuantized q =
      ::mixq::quant::quantizeAffine(weights.data(), shape[0], shape[1], params,
                                    *sensitivity ? &**sensitivity : nullptr);
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

namespace {
/// Affine weights (q - z) * s of a whole-word tile in f16x2 arithmetic,
/// in buildCenteredHalfCodePairs' pair order: q - z from it, times s. Zero
/// points are integers (the quantizer rounds them; the symmetric one is
/// 2^(bits-1)), so q - z is exact and the product is rounded once, as the
/// f32 formula of buildDequantTile is by its truncation to f16: the two
/// agree bit for bit.
Value buildHalfAffinePairs(OpBuilder &b, Location loc, AffineSchemeAttr attr,
                           const ComponentReader &reader, Value row, Value col,
                           int64_t width, Value scale, Value zero) {
  unsigned bits = attr.getBits();
  Value centered = buildCenteredHalfCodePairs(
      b, loc, reader, Codes, row, col, bits, width, zero, 1 << (bits - 1));
  return arith::MulFOp::create(b, loc, centered,
                               buildSplat(b, loc, scale, width));
}

} // namespace

Value AffineSchemeAttr::buildDequantVector(OpBuilder &b, Location loc,
                                           const ComponentReader &reader,
                                           ArrayRef<int64_t> shape, Value row,
                                           Value col, int64_t width,
                                           FloatType resultType) const {
  return buildDequantVectorInColumnOrder(*this, b, loc, reader, shape, row, col,
                                         width, resultType);
}

Value AffineSchemeAttr::buildDequantVectorInAnyOrder(
    OpBuilder &b, Location loc, const ComponentReader &reader,
    ArrayRef<int64_t> shape, Value row, Value col, int64_t width,
    FloatType resultType, SmallVectorImpl<int64_t> &order) const {
  unsigned bits = getBits();
  setColumnOrder(order, width);
  // One group per tile, so one scale and zero point.
  if (!isWordAlignedTile(bits, width) || getGroup() % width != 0)
    return buildVectorFromScalars(
        b, loc,
        buildDequantTile(b, loc, reader, shape, row, col, width, resultType));
  Value group = arith::DivUIOp::create(b, loc, col,
                                       buildIndexConstant(b, loc, getGroup()));
  Value scale = reader.load(b, loc, Scales, {row, group});
  Value zero =
      getSymmetric() ? Value() : reader.load(b, loc, Zeros, {row, group});
  if (resultType.isF16() && getScaleType().isF16() &&
      isWholeWordTile(bits, width)) {
    order.assign(getPairOrderColumns(bits, width));
    return buildHalfAffinePairs(b, loc, *this, reader, row, col, width, scale,
                                zero);
  }
  // Otherwise buildDequantTile's f32 formula, on vectors.
  Value codes =
      buildPackedCodeVector(b, loc, reader, Codes, row, col, bits, width);
  Value q = arith::UIToFPOp::create(
      b, loc, VectorType::get({width}, b.getF32Type()), codes);
  Value zero32 = zero ? buildExtendToF32(b, loc, zero)
                      : f32Const(b, loc, static_cast<float>(1u << (bits - 1)));
  Value w = arith::MulFOp::create(
      b, loc,
      arith::SubFOp::create(b, loc, q, buildSplat(b, loc, zero32, width)),
      buildSplat(b, loc, buildExtendToF32(b, loc, scale), width));
  return buildTruncateFromF32(b, loc, w, resultType);
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

SchemeSpecSyntax LUTSchemeAttr::getSpecSyntax() {
  SchemeSpecSyntax syntax;
  syntax.name = "lut";
  syntax.attrName = "#mixq.lut";
  syntax.summary = "per-row codebooks of f16 centroids (SqueezeLLM-style)";
  syntax.example = "lut:bits=3";
  syntax.keys = {{"bits", "code bits: 2, 3 or 4", {}, "3"}};
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
  std::string problem = ::mixq::quant::validateLUT(params, shape[0], shape[1]);
  if (!problem.empty())
    return llvm::createStringError(problem);
  if (static_cast<int64_t>(weights.size()) != shape[0] * shape[1])
    return llvm::createStringError("weight buffer does not match the shape");
  // The k-means sample weights are the per-column sensitivities, if any.
  auto sensitivity = sensitivityOf(options, shape[1], "lut");
  if (!sensitivity)
    return sensitivity.takeError();
  ::mixq::quant::LUTQuantized q =
      ::mixq::quant::quantizeLUT(weights.data(), shape[0], shape[1], params,
                                 *sensitivity ? &**sensitivity : nullptr);
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

// The tile's codes a word at a time (buildPackedCodeVector), then one
// gather from the row's codebook.
Value LUTSchemeAttr::buildDequantVector(OpBuilder &b, Location loc,
                                        const ComponentReader &reader,
                                        ArrayRef<int64_t> shape, Value row,
                                        Value col, int64_t width,
                                        FloatType resultType) const {
  unsigned bits = getBits();
  if (!isWordAlignedTile(bits, width))
    return buildVectorFromScalars(
        b, loc,
        buildDequantTile(b, loc, reader, shape, row, col, width, resultType));
  Value codes =
      buildPackedCodeVector(b, loc, reader, LUTCodes, row, col, bits, width);
  Value lut = reader.gather(b, loc, LUTTable, {row}, codes);
  return buildTruncateFromF32(b, loc, buildExtendToF32(b, loc, lut),
                              resultType);
}

//===----------------------------------------------------------------------===//
// MixedSchemeAttr
//===----------------------------------------------------------------------===//

namespace {
enum MixedComponent : unsigned {
  MixedLowCodes = 0,
  MixedHighCodes = 1,
  MixedHighGroupStart = 2,
  MixedBitMap = 3,
  MixedScaleCodes = 4,
  MixedZeroCodes = 5,
  MixedBlockParams = 6,
  MixedRowPtr = 7,
  MixedColIdx = 8,
  MixedValues = 9,
  MixedNumComponents = 10
};

::mixq::quant::MixedParams getMixedParams(MixedSchemeAttr attr) {
  ::mixq::quant::MixedParams params;
  params.groupSize = attr.getGroup();
  params.lowBits = attr.getLo();
  params.highBits = attr.getHi();
  params.highFraction = attr.getHighFraction();
  params.targetBitsPerWeight = attr.getTargetBitsPerWeight();
  params.outlierFraction = attr.getOutlierFraction();
  params.blockGroups = attr.getBlock();
  return params;
}

template <typename T> PackedBuffer vectorToBytes(const std::vector<T> &values) {
  PackedBuffer bytes(values.size() * sizeof(T));
  if (!bytes.empty())
    std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

template <typename T> std::vector<T> bytesToVector(const PackedBuffer &bytes) {
  std::vector<T> values(bytes.size() / sizeof(T));
  if (!values.empty())
    std::memcpy(values.data(), bytes.data(), values.size() * sizeof(T));
  return values;
}

Value i32Constant(OpBuilder &b, Location loc, int64_t value) {
  return arith::ConstantIntOp::create(b, loc, b.getI32Type(), value);
}

/// Loads an integer element and widens it, unsigned, to an index.
Value loadIndex(OpBuilder &b, Location loc, const ComponentReader &reader,
                unsigned component, ValueRange indices) {
  Value value = reader.load(b, loc, component, indices);
  return arith::IndexCastUIOp::create(b, loc, b.getIndexType(), value);
}
} // namespace

SchemeSpecSyntax MixedSchemeAttr::getSpecSyntax() {
  SchemeSpecSyntax syntax;
  syntax.name = "mixed";
  syntax.attrName = "#mixq.mixed";
  syntax.summary = "2/4-bit groups, fp16 outliers, second-order scales";
  syntax.example = "mixed:group=64,hi-frac=0.1,outliers=0.0075";
  syntax.keys = {
      {"group",
       "inputs per group; group * lo and group * (hi - lo) "
       "multiples of 32",
       {},
       "64"},
      {"lo", "low-group code bits, 1..7"},
      {"hi", "high-group code bits, lo + 1..8"},
      {"hi-frac", "least share of high groups, [0, 1]"},
      {"bits", "bits/weight budget that more high groups may fill (0: none)"},
      {"outliers", "share of all weights kept as fp16 outliers, [0, 1)"},
      {"block", "groups per second-order block, >= 1"}};
  return syntax;
}

LogicalResult
MixedSchemeAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                        int64_t group, unsigned lo, unsigned hi,
                        APFloat hiFracValue, APFloat bitsValue,
                        APFloat outliersValue, int64_t block) {
  // Stored as IEEE doubles (the parser and the double builder make them).
  for (const APFloat *value : {&hiFracValue, &bitsValue, &outliersValue})
    if (&value->getSemantics() != &APFloat::IEEEdouble())
      return emitError() << "mixed 'hi_frac', 'bits' and 'outliers' must be "
                            "IEEE doubles";
  double hiFrac = hiFracValue.convertToDouble();
  double bits = bitsValue.convertToDouble();
  double outliers = outliersValue.convertToDouble();
  if (lo < 1 || lo > 7)
    return emitError() << "mixed 'lo' must be in 1..7, got " << lo;
  if (hi <= lo || hi > 8)
    return emitError() << "mixed 'hi' must be in " << lo + 1 << "..8, got "
                       << hi;
  if (group <= 0)
    return emitError() << "mixed 'group' must be positive, got " << group;
  if (group * lo % 32 != 0 || group * (hi - lo) % 32 != 0)
    return emitError() << "mixed 'group' (" << group << ") times 'lo' (" << lo
                       << ") and times 'hi' - 'lo' (" << hi - lo
                       << ") must be multiples of 32, so that groups are "
                          "word-aligned";
  if (!(hiFrac >= 0.0 && hiFrac <= 1.0))
    return emitError() << "mixed 'hi_frac' must be in [0, 1], got "
                       << formatDouble(hiFrac);
  if (!(bits >= 0.0 && std::isfinite(bits)))
    return emitError() << "mixed 'bits' (target bits per weight) must be "
                          "finite and >= 0, got "
                       << formatDouble(bits);
  if (!(outliers >= 0.0 && outliers < 1.0))
    return emitError() << "mixed 'outliers' must be in [0, 1), got "
                       << formatDouble(outliers);
  if (block < 1)
    return emitError() << "mixed 'block' must be >= 1, got " << block;
  return success();
}

LogicalResult MixedSchemeAttr::verifyShape(
    ArrayRef<int64_t> shape,
    function_ref<InFlightDiagnostic()> emitError) const {
  if (shape.size() != 2)
    return emitError() << "mixed scheme expects an N x K matrix";
  if (shape[1] % getGroup() != 0)
    return emitError() << "mixed 'group' (" << getGroup()
                       << ") does not divide the number of inputs K = "
                       << shape[1];
  if (shape[0] * shape[1] > std::numeric_limits<int32_t>::max())
    return emitError() << "mixed scheme: " << shape[0] * shape[1]
                       << " weights exceed the int32 outlier row pointers";
  return success();
}

Attribute MixedSchemeAttr::getShapeFallback(ArrayRef<int64_t> shape) const {
  if (shape.size() != 2 || shape[1] < 1)
    return {};
  // A smaller group of this scheme (group * lo and group * (hi - lo) must
  // stay whole words), else affine at the high-group width (rounded up to
  // a width affine has).
  MLIRContext *ctx = getContext();
  for (int64_t group = getLargestPowerOfTwoGroup(getGroup() - 1, shape[1]);
       group > 1; group = getLargestPowerOfTwoGroup(group - 1, shape[1])) {
    ScopedDiagnosticHandler silence(ctx,
                                    [](Diagnostic &) { return success(); });
    auto emitError = [&] { return mlir::emitError(UnknownLoc::get(ctx)); };
    if (failed(MixedSchemeAttr::verify(emitError, group, getLo(), getHi(),
                                       getHiFrac(), getBits(), getOutliers(),
                                       getBlock())))
      continue;
    auto smaller =
        MixedSchemeAttr::get(ctx, group, getLo(), getHi(), getHiFrac(),
                             getBits(), getOutliers(), getBlock());
    if (succeeded(smaller.verifyShape(shape, emitError)))
      return smaller;
  }
  // Affine takes 2, 3, 4 or 8 bits: the narrowest of them at least hi.
  unsigned bits = getHi() <= 4 ? std::max(getHi(), 2u) : 8u;
  return AffineSchemeAttr::get(ctx, bits,
                               getLargestPowerOfTwoGroup(getGroup(), shape[1]),
                               /*symmetric=*/false, FloatType(), /*clip=*/1);
}

int64_t MixedSchemeAttr::getNumHighGroups(ArrayRef<int64_t> shape) const {
  return ::mixq::quant::mixedHighGroupCount(getMixedParams(*this), shape[0],
                                            shape[1]);
}

int64_t MixedSchemeAttr::getNumOutliers(ArrayRef<int64_t> shape) const {
  // Outliers are taken among the weights of the low groups only.
  int64_t lowWeights =
      (shape[0] * (shape[1] / getGroup()) - getNumHighGroups(shape)) *
      getGroup();
  int64_t wanted =
      std::llround(getOutlierFraction() * double(shape[0] * shape[1]));
  return std::min(wanted, lowWeights);
}

SmallVector<ComponentSpec>
MixedSchemeAttr::getComponents(ArrayRef<int64_t> shape) const {
  MLIRContext *ctx = getContext();
  Type i8 = IntegerType::get(ctx, 8), i32 = IntegerType::get(ctx, 32);
  Type f16 = Float16Type::get(ctx);
  int64_t rows = shape[0], cols = shape[1], group = getGroup();
  int64_t groups = cols / group;
  int64_t blocks = (groups + getBlock() - 1) / getBlock();
  int64_t nnz = getNumOutliers(shape);
  Type colIdx = ::mixq::quant::sparseColIndexBytes(cols) == 2
                    ? IntegerType::get(ctx, 16)
                    : i32;
  SmallVector<ComponentSpec> components;
  components.push_back({"low_codes",
                        i32,
                        {rows, ::mixq::quant::packedWordCount(cols, getLo())},
                        isUnpaddedCodeStream(cols, getLo())});
  components.push_back(
      {"high_codes",
       i32,
       {getNumHighGroups(shape), group * int64_t(getHi() - getLo()) / 32}});
  int64_t mapWords = ::mixq::quant::packedWordCount(groups, 1);
  components.push_back({"high_group_start", i32, {rows, mapWords}});
  components.push_back({"bit_map", i32, {rows, mapWords}});
  components.push_back({"scale_codes", i8, {rows, groups}});
  components.push_back(
      {"zero_codes",
       i32,
       {rows, ::mixq::quant::packedWordCount(
                  groups, ::mixq::quant::kMixedZeroCodeBits)}});
  components.push_back({"block_params", f16, {rows, 2 * blocks}});
  components.push_back({"outlier_row_ptr", i32, {rows + 1}});
  components.push_back({"outlier_col_idx", colIdx, {nnz}});
  components.push_back({"outlier_values", f16, {nnz}});
  return components;
}

llvm::Expected<PackedWeights>
MixedSchemeAttr::quantize(ArrayRef<float> weights, ArrayRef<int64_t> shape,
                          const QuantizeOptions &options) const {
  ::mixq::quant::MixedParams params = getMixedParams(*this);
  std::string problem =
      ::mixq::quant::validateMixed(params, shape[0], shape[1]);
  if (!problem.empty())
    return llvm::createStringError(problem);
  if (static_cast<int64_t>(weights.size()) != shape[0] * shape[1])
    return llvm::createStringError("weight buffer does not match the shape");
  auto sensitivity = sensitivityOf(options, shape[1], "mixed");
  if (!sensitivity)
    return sensitivity.takeError();
  ::mixq::quant::MixedQuantized q =
      ::mixq::quant::quantizeMixed(weights.data(), shape[0], shape[1], params,
                                   *sensitivity ? &**sensitivity : nullptr);
  PackedWeights packed;
  packed.push_back(vectorToBytes(q.lowCodes));
  packed.push_back(vectorToBytes(q.highCodes));
  packed.push_back(vectorToBytes(q.highGroupStart));
  packed.push_back(vectorToBytes(q.bitMap));
  packed.push_back(vectorToBytes(q.scaleCodes));
  packed.push_back(vectorToBytes(q.zeroCodes));
  packed.push_back(vectorToBytes(q.blockParams));
  packed.push_back(vectorToBytes(q.outliers.rowPtr));
  packed.push_back(vectorToBytes(q.outliers.colIdx));
  packed.push_back(vectorToBytes(q.outliers.values));
  // The outlier count is fixed by the shape unless weights are NaN (never
  // selected), which the fixed component shapes cannot describe.
  if (llvm::Error err = checkPackedSizes(getComponents(shape), packed))
    return llvm::createStringError(
        "mixed: the quantized matrix does not fit the scheme's components "
        "(NaN weights?): " +
        llvm::toString(std::move(err)));
  return packed;
}

/// The quantizer's view of checked mixed component buffers.
static llvm::Expected<::mixq::quant::MixedQuantized>
unpackMixed(MixedSchemeAttr attr, const PackedWeights &packed,
            ArrayRef<int64_t> shape) {
  if (llvm::Error err = checkPackedSizes(attr.getComponents(shape), packed))
    return std::move(err);
  std::string problem =
      ::mixq::quant::validateMixed(getMixedParams(attr), shape[0], shape[1]);
  if (!problem.empty())
    return llvm::createStringError(problem);
  ::mixq::quant::MixedQuantized q;
  q.lowCodes = bytesToVector<uint32_t>(packed[MixedLowCodes]);
  q.highCodes = bytesToVector<uint32_t>(packed[MixedHighCodes]);
  q.highGroupStart = bytesToVector<int32_t>(packed[MixedHighGroupStart]);
  q.bitMap = bytesToVector<uint32_t>(packed[MixedBitMap]);
  q.scaleCodes = packed[MixedScaleCodes];
  q.zeroCodes = bytesToVector<uint32_t>(packed[MixedZeroCodes]);
  q.blockParams = bytesToVector<uint16_t>(packed[MixedBlockParams]);
  q.outliers.rowPtr = bytesToVector<int32_t>(packed[MixedRowPtr]);
  q.outliers.colIdx = packed[MixedColIdx];
  q.outliers.values = bytesToVector<uint16_t>(packed[MixedValues]);
  problem = ::mixq::quant::validateMixedLayout(q, shape[0], shape[1],
                                               getMixedParams(attr));
  if (!problem.empty())
    return llvm::createStringError(problem);
  return q;
}

llvm::Expected<std::vector<float>>
MixedSchemeAttr::dequantize(const PackedWeights &packed,
                            ArrayRef<int64_t> shape) const {
  auto q = unpackMixed(*this, packed, shape);
  if (!q)
    return q.takeError();
  return ::mixq::quant::dequantizeMixed(*q, shape[0], shape[1],
                                        getMixedParams(*this));
}

llvm::Expected<double>
MixedSchemeAttr::reconstructionError(const PackedWeights &packed,
                                     ArrayRef<int64_t> shape,
                                     ArrayRef<float> weights) const {
  if (static_cast<int64_t>(weights.size()) != shape[0] * shape[1])
    return llvm::createStringError("weight buffer does not match the shape");
  auto q = unpackMixed(*this, packed, shape);
  if (!q)
    return q.takeError();
  return ::mixq::quant::mixedErrorSums(*q, weights.data(), shape[0], shape[1],
                                       getMixedParams(*this))
      .relative();
}

namespace {
/// A group's decoded parameters in IR (mixedGroupParams): its weights are
/// qq * scale + bias, qq = (low code << (hi - lo)) | extra bits.
struct MixedGroupValues {
  Value isHigh;      ///< i1
  Value highIndex;   ///< index: its row of high_codes when high
  Value scale, bias; ///< f32 values of f16 numbers
  Value scaleHalf, biasHalf;
};

/// `value` (f32) rounded to nearest even at `bits` significant bits on its
/// f32 bit pattern, as ::mixq::quant::roundToSignificantBits.
Value buildRoundToSignificantBits(OpBuilder &b, Location loc, Value value,
                                  unsigned bits) {
  Type i32 = b.getI32Type();
  unsigned dropped = 24 - bits;
  Value pattern = arith::BitcastOp::create(b, loc, i32, value);
  Value odd = arith::AndIOp::create(
      b, loc,
      arith::ShRUIOp::create(b, loc, pattern, i32Constant(b, loc, dropped)),
      i32Constant(b, loc, 1));
  pattern = arith::AddIOp::create(
      b, loc, arith::AddIOp::create(b, loc, pattern, odd),
      i32Constant(b, loc, (int64_t(1) << (dropped - 1)) - 1));
  pattern = arith::AndIOp::create(
      b, loc, pattern, i32Constant(b, loc, ~((int64_t(1) << dropped) - 1)));
  return arith::BitcastOp::create(b, loc, b.getF32Type(), pattern);
}

/// Whether group `g` of `row` is high (i1), and its row of high_codes if it
/// is (index): high_group_start of its map word plus the popcount of the
/// word's bits below g.
std::pair<Value, Value> buildHighGroupIndex(OpBuilder &b, Location loc,
                                            const ComponentReader &reader,
                                            Value row, Value g) {
  Value mapWordIndex =
      arith::DivUIOp::create(b, loc, g, indexConst(b, loc, 32));
  Value mapWord = reader.load(b, loc, MixedBitMap, {row, mapWordIndex});
  Value bit = arith::IndexCastUIOp::create(
      b, loc, b.getI32Type(),
      arith::RemUIOp::create(b, loc, g, indexConst(b, loc, 32)));
  Value isHigh = arith::CmpIOp::create(
      b, loc, arith::CmpIPredicate::ne,
      arith::AndIOp::create(b, loc,
                            arith::ShRUIOp::create(b, loc, mapWord, bit),
                            i32Constant(b, loc, 1)),
      i32Constant(b, loc, 0));
  // (1 << bit) - 1 selects the high groups before g in its map word.
  Value below = arith::SubIOp::create(
      b, loc, arith::ShLIOp::create(b, loc, i32Constant(b, loc, 1), bit),
      i32Constant(b, loc, 1));
  Value start = reader.load(b, loc, MixedHighGroupStart, {row, mapWordIndex});
  Value index = arith::IndexCastUIOp::create(
      b, loc, b.getIndexType(),
      arith::AddIOp::create(
          b, loc, start,
          math::CtPopOp::create(
              b, loc, arith::AndIOp::create(b, loc, mapWord, below))));
  return {isHigh, index};
}

/// Emits step 6 of Quant/MixedQuantizer.h for group `g` (an index) of
/// `row`: one bit-map word, a popcount and the second-order decode.
MixedGroupValues buildMixedGroup(OpBuilder &b, Location loc,
                                 MixedSchemeAttr attr,
                                 const ComponentReader &reader,
                                 ArrayRef<int64_t> shape, Value row, Value g) {
  unsigned lo = attr.getLo(), hi = attr.getHi();
  Type f32 = b.getF32Type();
  MixedGroupValues v;
  std::tie(v.isHigh, v.highIndex) = buildHighGroupIndex(b, loc, reader, row, g);

  Value block =
      arith::DivUIOp::create(b, loc, g, indexConst(b, loc, attr.getBlock()));
  // (rmin, step) of the block: elements 2 b and 2 b + 1 of the row.
  Value first = arith::MulIOp::create(b, loc, block, indexConst(b, loc, 2));
  Value second = arith::AddIOp::create(b, loc, first, indexConst(b, loc, 1));
  Value rmin = buildExtendToF32(
      b, loc, reader.load(b, loc, MixedBlockParams, {row, first}));
  Value step = buildExtendToF32(
      b, loc, reader.load(b, loc, MixedBlockParams, {row, second}));
  Value scaleCode = arith::UIToFPOp::create(
      b, loc, f32, reader.load(b, loc, MixedScaleCodes, {row, g}));
  Value range = math::FmaOp::create(b, loc, scaleCode, step, rmin);
  // m = maxq << (hi - bits): the f32 constants the host computes.
  auto constants = [&](unsigned bits) {
    auto m = static_cast<float>(((1u << bits) - 1u) << (hi - bits));
    return std::make_pair(1.0f / m, m / 15.0f);
  };
  auto [invHigh, zeroHigh] = constants(hi);
  auto [invLow, zeroLow] = constants(lo);
  Value inverse = arith::SelectOp::create(
      b, loc, v.isHigh, f32Const(b, loc, invHigh), f32Const(b, loc, invLow));
  Value zeroFactor = arith::SelectOp::create(
      b, loc, v.isHigh, f32Const(b, loc, zeroHigh), f32Const(b, loc, zeroLow));
  Value rounded = buildRoundToSignificantBits(
      b, loc, arith::MulFOp::create(b, loc, range, inverse),
      hi <= 4 ? 11 - hi : 11);
  v.scaleHalf = arith::TruncFOp::create(b, loc, b.getF16Type(), rounded);
  v.scale = buildExtendToF32(b, loc, v.scaleHalf);
  int64_t zeroWordsPerRow = ::mixq::quant::packedWordCount(
      shape[1] / attr.getGroup(), ::mixq::quant::kMixedZeroCodeBits);
  Value zeroCode =
      buildPackedCodeLoad(b, loc, reader, MixedZeroCodes, row, g,
                          ::mixq::quant::kMixedZeroCodeBits, zeroWordsPerRow);
  Value zero = arith::MulFOp::create(
      b, loc, arith::UIToFPOp::create(b, loc, f32, zeroCode), zeroFactor);
  v.biasHalf = arith::TruncFOp::create(
      b, loc, b.getF16Type(),
      arith::NegFOp::create(b, loc,
                            arith::MulFOp::create(b, loc, zero, v.scale)));
  v.bias = buildExtendToF32(b, loc, v.biasHalf);
  return v;
}

/// The extra (hi - lo)-bit codes of the weights `col` .. of a high group,
/// from its row of high_codes, or `zero` when the group is low.
Value buildExtraCodes(OpBuilder &b, Location loc, const MixedGroupValues &group,
                      Value zero,
                      function_ref<Value(OpBuilder &, Location)> load) {
  auto ifOp = scf::IfOp::create(
      b, loc, group.isHigh,
      [&](OpBuilder &tb, Location tl) {
        scf::YieldOp::create(tb, tl, load(tb, tl));
      },
      [&](OpBuilder &eb, Location el) { scf::YieldOp::create(eb, el, zero); });
  return ifOp.getResult(0);
}

/// The dense weights (row, col) .. (row, col + tileCols - 1), without the
/// sparse outliers, as f32 scalars: one group's decode per weight (the
/// reference form).
SmallVector<Value> buildMixedDenseScalars(OpBuilder &b, Location loc,
                                          MixedSchemeAttr attr,
                                          const ComponentReader &reader,
                                          ArrayRef<int64_t> shape, Value row,
                                          Value col, int64_t tileCols) {
  unsigned lo = attr.getLo(), extraBits = attr.getHi() - lo;
  int64_t group = attr.getGroup();
  int64_t lowWordsPerRow = ::mixq::quant::packedWordCount(shape[1], lo);
  int64_t highWordsPerGroup = group * int64_t(extraBits) / 32;
  SmallVector<Value> values;
  for (int64_t i = 0; i < tileCols; ++i) {
    Value c = i == 0 ? col
                     : arith::AddIOp::create(b, loc, col, indexConst(b, loc, i))
                           .getResult();
    Value g = arith::DivUIOp::create(b, loc, c, indexConst(b, loc, group));
    MixedGroupValues params =
        buildMixedGroup(b, loc, attr, reader, shape, row, g);
    // Every code widened to hi bits: the low code shifted up, a high
    // group's extra bits below it.
    Value lowCode = buildPackedCodeLoad(b, loc, reader, MixedLowCodes, row, c,
                                        lo, lowWordsPerRow);
    Value extra = buildExtraCodes(
        b, loc, params, i32Constant(b, loc, 0),
        [&](OpBuilder &tb, Location tl) {
          Value inGroup =
              arith::RemUIOp::create(tb, tl, c, indexConst(tb, tl, group));
          return buildPackedCodeLoad(tb, tl, reader, MixedHighCodes,
                                     params.highIndex, inGroup, extraBits,
                                     highWordsPerGroup);
        });
    Value code = arith::OrIOp::create(
        b, loc,
        arith::ShLIOp::create(b, loc, lowCode, i32Constant(b, loc, extraBits)),
        extra);
    Value q = arith::UIToFPOp::create(b, loc, b.getF32Type(), code);
    values.push_back(arith::AddFOp::create(
        b, loc, arith::MulFOp::create(b, loc, q, params.scale), params.bias));
  }
  return values;
}

/// The row's CSR slice [begin, end) of the sparse outliers.
std::pair<Value, Value> getOutlierSlice(OpBuilder &b, Location loc,
                                        const ComponentReader &reader,
                                        Value row) {
  Value next = arith::AddIOp::create(b, loc, row, indexConst(b, loc, 1));
  return {loadIndex(b, loc, reader, MixedRowPtr, {row}),
          loadIndex(b, loc, reader, MixedRowPtr, {next})};
}
} // namespace

SmallVector<Value> MixedSchemeAttr::buildDequantTile(
    OpBuilder &b, Location loc, const ComponentReader &reader,
    ArrayRef<int64_t> shape, Value row, Value col, int64_t tileCols,
    FloatType resultType) const {
  SmallVector<Value> dense =
      buildMixedDenseScalars(b, loc, *this, reader, shape, row, col, tileCols);
  // The reference form adds each weight's outlier residual, found by a
  // search of the row's CSR slice (the kernels use buildSparseDot instead).
  Value c1 = indexConst(b, loc, 1);
  auto [begin, end] = getOutlierSlice(b, loc, reader, row);
  SmallVector<Value> values;
  for (auto [i, value] : llvm::enumerate(dense)) {
    Value c = i == 0 ? col
                     : arith::AddIOp::create(b, loc, col, indexConst(b, loc, i))
                           .getResult();
    auto search = scf::ForOp::create(
        b, loc, begin, end, c1, ValueRange{value},
        [&](OpBuilder &fb, Location fl, Value e, ValueRange args) {
          Value entryCol = loadIndex(fb, fl, reader, MixedColIdx, {e});
          Value hit = arith::CmpIOp::create(fb, fl, arith::CmpIPredicate::eq,
                                            entryCol, c);
          Value residual =
              buildExtendToF32(fb, fl, reader.load(fb, fl, MixedValues, {e}));
          Value sum = arith::AddFOp::create(fb, fl, value, residual);
          scf::YieldOp::create(
              fb, fl,
              arith::SelectOp::create(fb, fl, hit, sum, args[0]).getResult());
        });
    values.push_back(
        buildTruncateFromF32(b, loc, search.getResult(0), resultType));
  }
  return values;
}

namespace {
/// The codes of a tile of a (2, 4)- or (1, 2)-bit mixed scheme as hi-bit
/// fields: each low word L (32 / lo codes) and its extra word E give two
/// words of hi-bit codes, the even codes select(L << lo, E) and the odd
/// ones select(L, E >> lo), where the select takes the top lo bits of every
/// hi-bit field from the first (one lop3 each). Returns the words in the
/// order even0, odd0, even1, odd1, ...
Value buildWidenedCodeWords(OpBuilder &b, Location loc, Value low, Value extra,
                            unsigned lo) {
  unsigned hi = 2 * lo;
  uint32_t top = 0;
  for (unsigned field = 0; field < 32; field += hi)
    top |= ((1u << lo) - 1u) << (field + lo);
  int64_t words = cast<VectorType>(low.getType()).getDimSize(0);
  auto splat = [&](uint32_t value) {
    return arith::ConstantOp::create(
        b, loc,
        DenseElementsAttr::get(VectorType::get({words}, b.getI32Type()),
                               APInt(32, value)));
  };
  auto select = [&](Value fromTop, Value fromBottom) {
    return arith::OrIOp::create(
        b, loc, arith::AndIOp::create(b, loc, fromTop, splat(top)),
        arith::AndIOp::create(b, loc, fromBottom, splat(~top)));
  };
  Value even = select(arith::ShLIOp::create(b, loc, low, splat(lo)), extra);
  Value odd = select(low, arith::ShRUIOp::create(b, loc, extra, splat(lo)));
  SmallVector<int64_t> interleave;
  for (int64_t i = 0; i < words; ++i) {
    interleave.push_back(i);
    interleave.push_back(words + i);
  }
  return vector::ShuffleOp::create(b, loc, even, odd, interleave);
}

/// The column of each element of the pair-order vector
/// buildCenteredHalfCodePairs makes from buildWidenedCodeWords' words.
SmallVector<int64_t> getWidenedPairOrderColumns(unsigned lo, int64_t width) {
  unsigned hi = 2 * lo;
  int64_t perWord = 32 / hi, half = perWord / 2, lowPerWord = 32 / lo;
  SmallVector<int64_t> columns(width);
  for (int64_t n = 0; n < width; ++n) {
    // Field j of widened word w: code 2 j + w % 2 of low word w / 2.
    int64_t word = n / perWord, j = n % perWord;
    int64_t column = word / 2 * lowPerWord + 2 * j + word % 2;
    columns[2 * (word * half + j % half) + j / half] = column;
  }
  return columns;
}
} // namespace

Value MixedSchemeAttr::buildDequantVector(OpBuilder &b, Location loc,
                                          const ComponentReader &reader,
                                          ArrayRef<int64_t> shape, Value row,
                                          Value col, int64_t width,
                                          FloatType resultType) const {
  return buildDequantVectorInColumnOrder(*this, b, loc, reader, shape, row, col,
                                         width, resultType);
}

Value MixedSchemeAttr::buildDequantVectorInAnyOrder(
    OpBuilder &b, Location loc, const ComponentReader &reader,
    ArrayRef<int64_t> shape, Value row, Value col, int64_t width,
    FloatType resultType, SmallVectorImpl<int64_t> &order) const {
  unsigned lo = getLo(), hi = getHi(), extraBits = hi - lo;
  setColumnOrder(order, width);
  int64_t group = getGroup();
  // Whole words of both code streams inside one group: one decode per tile.
  if (group % width != 0 || !isWholeWordTile(lo, width) ||
      !isWholeWordTile(extraBits, width)) {
    SmallVector<Value> dense =
        buildMixedDenseScalars(b, loc, *this, reader, shape, row, col, width);
    for (Value &value : dense)
      value = buildTruncateFromF32(b, loc, value, resultType);
    return buildVectorFromScalars(b, loc, dense);
  }
  Value g = arith::DivUIOp::create(b, loc, col, indexConst(b, loc, group));
  MixedGroupValues params =
      buildMixedGroup(b, loc, *this, reader, shape, row, g);
  Value inGroup =
      arith::RemUIOp::create(b, loc, col, indexConst(b, loc, group));
  if (resultType.isF16() && hi == 2 * lo && hi <= 4) {
    // f16x2: widened code words, then 1024 + qq in each half (exact qq),
    // qq * scale (exact: scale has 11 - hi significant bits) + bias,
    // rounded once. The product being exact, contracting it with the add
    // into one fma (HFMA2) gives the same bits, so the flags allow it.
    int64_t words = width * lo / 32;
    Value low = reader.loadVector(
        b, loc, MixedLowCodes,
        {row, arith::DivUIOp::create(b, loc, col, indexConst(b, loc, 32 / lo))
                  .getResult()},
        words);
    auto wordsType = VectorType::get({words}, b.getI32Type());
    Value noExtra = arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(wordsType, APInt(32, 0)));
    Value extra = buildExtraCodes(
        b, loc, params, noExtra, [&](OpBuilder &tb, Location tl) {
          Value word = arith::DivUIOp::create(
              tb, tl, inGroup, indexConst(tb, tl, 32 / extraBits));
          return reader.loadVector(tb, tl, MixedHighCodes,
                                   {params.highIndex, word}, words);
        });
    Value widened = buildWidenedCodeWords(b, loc, low, extra, lo);
    Value codes = buildCenteredHalfCodePairs(b, loc, widened, hi, Value());
    auto contract = arith::FastMathFlags::contract;
    Value weights = arith::AddFOp::create(
        b, loc,
        arith::MulFOp::create(b, loc, codes,
                              buildSplat(b, loc, params.scaleHalf, width),
                              contract),
        buildSplat(b, loc, params.biasHalf, width), contract);
    order.assign(getWidenedPairOrderColumns(lo, width));
    return weights;
  }
  // Otherwise in f32 on vectors, rounded once to the result type.
  Value low =
      buildPackedCodeVector(b, loc, reader, MixedLowCodes, row, col, lo, width);
  auto codesType = VectorType::get({width}, b.getI32Type());
  Value noExtra = arith::ConstantOp::create(
      b, loc, DenseElementsAttr::get(codesType, APInt(32, 0)));
  Value extra =
      buildExtraCodes(b, loc, params, noExtra, [&](OpBuilder &tb, Location tl) {
        return buildPackedCodeVector(tb, tl, reader, MixedHighCodes,
                                     params.highIndex, inGroup, extraBits,
                                     width);
      });
  Value codes = arith::OrIOp::create(
      b, loc,
      arith::ShLIOp::create(
          b, loc, low,
          arith::ConstantOp::create(
              b, loc, DenseElementsAttr::get(codesType, APInt(32, extraBits)))),
      extra);
  Value q = arith::UIToFPOp::create(
      b, loc, VectorType::get({width}, b.getF32Type()), codes);
  // Exact in f32 (qq * scale is exact too): an fma gives the same bits.
  auto contract = arith::FastMathFlags::contract;
  Value w = arith::AddFOp::create(
      b, loc,
      arith::MulFOp::create(b, loc, q, buildSplat(b, loc, params.scale, width),
                            contract),
      buildSplat(b, loc, params.bias, width), contract);
  return buildTruncateFromF32(b, loc, w, resultType);
}

Value MixedSchemeAttr::buildSparseDot(OpBuilder &b, Location loc,
                                      const ComponentReader &reader,
                                      ArrayRef<int64_t> shape, Value row,
                                      Value first, Value step,
                                      InputLoader loadInput) const {
  auto [begin, end] = getOutlierSlice(b, loc, reader, row);
  return buildCSRDot(b, loc, reader, MixedColIdx, MixedValues,
                     arith::AddIOp::create(b, loc, begin, first), end, step,
                     loadInput);
}

//===----------------------------------------------------------------------===//
// BitplaneSchemeAttr
//===----------------------------------------------------------------------===//

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
  syntax.keys = {{"seed", "smallest width, 1..parent", {}, "3"},
                 {"parent", "largest width (number of planes), 1..8", {}, "4"},
                 {"width", "width decoded, seed..parent (default parent)"}};
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
  std::string problem = ::mixq::quant::validateBitplane(params, rows, cols);
  if (!problem.empty())
    return llvm::createStringError(problem);
  if (static_cast<int64_t>(weights.size()) != rows * cols)
    return llvm::createStringError("weight buffer does not match the shape");
  auto sensitivity = sensitivityOf(options, cols, "bitplane");
  if (!sensitivity)
    return sensitivity.takeError();
  ::mixq::quant::BitplaneQuantized q =
      ::mixq::quant::quantizeBitplane(weights.data(), rows, cols, params,
                                      *sensitivity ? &**sensitivity : nullptr);
  // The host stores the planes, and the LUTs, back to back: split them.
  int64_t planeWords = rows * ::mixq::quant::packedWordCount(cols, 1);
  PackedWeights packed;
  for (unsigned j = 0; j < getParent(); ++j)
    packed.push_back(vectorToBytes(
        std::vector<uint32_t>(q.planes.begin() + j * planeWords,
                              q.planes.begin() + (j + 1) * planeWords)));
  for (unsigned b = getSeed(); b <= getParent(); ++b) {
    int64_t offset = ::mixq::quant::bitplaneLUTOffset(params, rows, b);
    packed.push_back(vectorToBytes(std::vector<uint16_t>(
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
    std::vector<uint32_t> plane = bytesToVector<uint32_t>(packed[j]);
    q.planes.insert(q.planes.end(), plane.begin(), plane.end());
  }
  for (unsigned b = getSeed(); b <= getParent(); ++b) {
    std::vector<uint16_t> lut =
        bytesToVector<uint16_t>(packed[numPlanes + b - getSeed()]);
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

} // namespace

// A word of every plane per 32 weights, the codes assembled with vector
// shifts and masks (no per-weight bit extraction), then one gather from
// the row's LUT: the LUT lookup is the only per-weight work.
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
  unsigned lutComponent = getParent() + (bits - getSeed());
  int64_t chunk = std::min<int64_t>(width, 32);
  // A tile narrower than a word starts at a dynamic bit of it.
  Value bitOffset;
  if (width < 32)
    bitOffset = arith::IndexCastUIOp::create(
        b, loc, b.getI32Type(),
        arith::RemUIOp::create(b, loc, col, indexConst(b, loc, 32)));
  SmallVector<Value> chunks;
  for (int64_t c = 0; c < width / chunk; ++c) {
    Value first =
        c == 0 ? col
               : arith::AddIOp::create(b, loc, col, indexConst(b, loc, c * 32))
                     .getResult();
    Value word = arith::DivUIOp::create(b, loc, first, indexConst(b, loc, 32));
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
  Value lut = reader.gather(b, loc, lutComponent, {row}, codes);
  return buildTruncateFromF32(b, loc, buildExtendToF32(b, loc, lut),
                              resultType);
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
                     : arith::AddIOp::create(b, loc, col, indexConst(b, loc, i))
                           .getResult();
    // code = sum_{j < width} bit_j << (width - 1 - j): only the top `width`
    // planes are read.
    Value code;
    for (unsigned j = 0; j < width; ++j) {
      Value bit =
          buildPackedCodeLoad(b, loc, reader, j, row, c, 1, wordsPerRow);
      if (j + 1 < width)
        bit = arith::ShLIOp::create(b, loc, bit,
                                    i32Constant(b, loc, width - 1 - j));
      code = code ? arith::OrIOp::create(b, loc, code, bit).getResult() : bit;
    }
    Value entry = arith::IndexCastUIOp::create(b, loc, b.getIndexType(), code);
    Value w = buildExtendToF32(b, loc,
                               reader.load(b, loc, lutComponent, {row, entry}));
    values.push_back(buildTruncateFromF32(b, loc, w, resultType));
  }
  return values;
}
