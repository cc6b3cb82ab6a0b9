//===- TestSchemes.cpp - test-only quantization schemes -------------------===//
//
// #mixq_test.fp4 implements QuantSchemeAttrInterface using only the public
// scheme-author API that the MixQ package installs (MixQInterfaces.h,
// SchemeRegistry.h, SchemeUtils.h, quant/). It builds in the tree (a
// library for the unit tests, a plugin for mixq-opt) and out of it, against
// the installed package (scripts/test-scheme-plugin.sh): see
// docs/schemes-tutorial.md, which walks through this file.
//===----------------------------------------------------------------------===//
#include "dialect/MixQ/MixQInterfaces.h"
#include "dialect/MixQ/SchemeRegistry.h"
#include "dialect/MixQ/SchemeUtils.h"
#include "quant/BitPacking.h"
#include "quant/FloatFormats.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>
#include <cstring>

using namespace mlir;
using namespace mlir::mixq;

#include "TestSchemesDialect.h.inc"
#define GET_ATTRDEF_CLASSES
#include "TestSchemesAttrs.h.inc"

#include "TestSchemesDialect.cpp.inc"
#define GET_ATTRDEF_CLASSES
#include "TestSchemesAttrs.cpp.inc"

using namespace ::mixq::test;

void MixQTestDialect::initialize() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "TestSchemesAttrs.cpp.inc"
      >();
}

SchemeSpecSyntax Fp4SchemeAttr::getSpecSyntax() {
  SchemeSpecSyntax syntax;
  syntax.name = "fp4";
  syntax.attrName = "#mixq_test.fp4";
  syntax.summary = "e2m1 codes, one f16 scale per group (test only)";
  syntax.example = "fp4:group=32";
  syntax.keys = {{"group",
                  "inputs per group, dividing K",
                  SpecValueKind::Integer,
                  {},
                  "32"},
                 {"spike",
                  "true: each row's largest weight as a sparse term",
                  SpecValueKind::Any,
                  {},
                  {},
                  rewriteSpecBool},
                 {"act-bits", "activation bits, 0: weight-only (the default)",
                  SpecValueKind::Unsigned}};
  return syntax;
}

namespace mixq::test {
/// The dialect, and `fp4` for SPECs (`--mixq-quantize="scheme=fp4:..."`).
/// A name another scheme holds is reported, and fp4 stays unregistered.
void registerTestSchemesDialect(DialectRegistry &registry) {
  if (llvm::Error err =
          registerSchemes<MixQTestDialect, Fp4SchemeAttr>(registry))
    llvm::errs() << "mixq_test: " << llvm::toString(std::move(err)) << "\n";
}
} // namespace mixq::test

namespace {
/// e2m1 magnitudes, indexed by the low three code bits.
constexpr float kFp4Magnitudes[8] = {0.0f, 0.5f, 1.0f, 1.5f,
                                     2.0f, 3.0f, 4.0f, 6.0f};

/// Nearest e2m1 code of `x` (already divided by the scale); ties go to the
/// smaller magnitude.
uint8_t encodeFp4(float x) {
  uint8_t sign = x < 0 ? 8 : 0;
  float magnitude = std::fabs(x);
  uint8_t best = 0;
  for (uint8_t i = 1; i < 8; ++i)
    if (std::fabs(kFp4Magnitudes[i] - magnitude) <
        std::fabs(kFp4Magnitudes[best] - magnitude))
      best = i;
  return sign | best;
}

float decodeFp4(uint32_t code) {
  float magnitude = kFp4Magnitudes[code & 7];
  return (code & 8) ? -magnitude : magnitude;
}

enum Fp4Component : unsigned {
  Codes = 0,
  Scales = 1,
  SpikeRowPtr = 2,
  SpikeCols = 3,
  SpikeValues = 4
};
} // namespace

LogicalResult
Fp4SchemeAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                      int64_t group, bool, unsigned actBits) {
  if (group <= 0)
    return emitError() << "fp4 'group' must be positive, got " << group;
  if (actBits > 32)
    return emitError() << "fp4 'act_bits' must be in 0..32, got " << actBits;
  return success();
}

std::optional<unsigned> Fp4SchemeAttr::getActivationBits() const {
  if (getActBits() == 0)
    return std::nullopt;
  return getActBits();
}

LogicalResult
Fp4SchemeAttr::verifyShape(ArrayRef<int64_t> shape,
                           function_ref<InFlightDiagnostic()> emitError) const {
  if (shape.size() != 2 || shape[1] % getGroup() != 0)
    return emitError() << "fp4 'group' (" << getGroup()
                       << ") does not divide the number of inputs";
  return success();
}

SmallVector<ComponentSpec>
Fp4SchemeAttr::getComponents(ArrayRef<int64_t> shape) const {
  MLIRContext *ctx = getContext();
  Type i32 = IntegerType::get(ctx, 32), f16 = Float16Type::get(ctx);
  SmallVector<ComponentSpec> components = {
      {"codes", i32, {shape[0], ::mixq::quant::packedWordCount(shape[1], 4)}},
      {"scales", f16, {shape[0], shape[1] / getGroup()}}};
  if (getSpike()) {
    components.push_back({"outlier_row_ptr", i32, {shape[0] + 1}});
    components.push_back({"outlier_col_idx", i32, {shape[0]}});
    components.push_back({"outlier_values", f16, {shape[0]}});
  }
  return components;
}

namespace {
/// The spike CSR of `weights` against their fp4 reconstruction `dense`:
/// each row's first largest |w| and the fp16 residual there.
void appendSpikes(ArrayRef<float> weights, const std::vector<float> &dense,
                  int64_t rows, int64_t cols, PackedWeights &packed) {
  std::vector<int32_t> rowPtr(rows + 1), spikeCols(rows);
  std::vector<uint16_t> values(rows);
  for (int64_t r = 0; r < rows; ++r) {
    int64_t best = 0;
    for (int64_t c = 1; c < cols; ++c)
      if (std::fabs(weights[r * cols + c]) >
          std::fabs(weights[r * cols + best]))
        best = c;
    rowPtr[r + 1] = static_cast<int32_t>(r + 1);
    spikeCols[r] = static_cast<int32_t>(best);
    values[r] = ::mixq::quant::floatToHalfBits(weights[r * cols + best] -
                                               dense[r * cols + best]);
  }
  packed.push_back(toBytes(rowPtr));
  packed.push_back(toBytes(spikeCols));
  packed.push_back(toBytes(values));
}
} // namespace

llvm::Expected<PackedWeights>
Fp4SchemeAttr::quantize(ArrayRef<float> weights, ArrayRef<int64_t> shape,
                        const QuantizeOptions &options) const {
  // fp4 has no parameters the shape can contradict beyond verifyShape, and
  // ignores calibration data.
  auto inputs = checkQuantizeInputs("fp4", "", weights, shape, options);
  if (!inputs)
    return inputs.takeError();
  int64_t rows = shape[0], cols = shape[1], group = getGroup();
  std::vector<uint8_t> codes(rows * cols);
  PackedBuffer scales(rows * (cols / group) * 2);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t g = 0; g < cols / group; ++g) {
      const float *w = weights.data() + r * cols + g * group;
      float amax = 0.0f;
      for (int64_t i = 0; i < group; ++i)
        amax = std::max(amax, std::fabs(w[i]));
      float scale = ::mixq::quant::roundToFormat(
          amax > 0 ? amax / 6.0f : 1.0f, ::mixq::quant::ScalarFormat::F16);
      ::mixq::quant::storeScalar(scale, ::mixq::quant::ScalarFormat::F16,
                                 &scales[(r * (cols / group) + g) * 2]);
      for (int64_t i = 0; i < group; ++i)
        codes[r * cols + g * group + i] = encodeFp4(w[i] / scale);
    }
  }
  PackedWeights packed{
      toBytes(::mixq::quant::packMatrix(codes.data(), rows, cols, 4)),
      std::move(scales)};
  if (getSpike()) {
    Fp4SchemeAttr dense = Fp4SchemeAttr::get(getContext(), group, false, 0);
    auto reconstruction = dense.dequantize(packed, shape);
    if (!reconstruction)
      return reconstruction.takeError();
    appendSpikes(weights, *reconstruction, rows, cols, packed);
  }
  return packed;
}

llvm::Expected<std::vector<float>>
Fp4SchemeAttr::dequantize(const PackedWeights &packed,
                          ArrayRef<int64_t> shape) const {
  if (llvm::Error err = checkPackedSizes(getComponents(shape), packed))
    return std::move(err);
  int64_t rows = shape[0], cols = shape[1], groups = cols / getGroup();
  std::vector<uint32_t> words = fromBytes<uint32_t>(packed[Codes]);
  std::vector<uint8_t> codes =
      ::mixq::quant::unpackMatrix(words.data(), rows, cols, 4);
  std::vector<float> out(rows * cols);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      float scale = ::mixq::quant::loadScalar(
          &packed[Scales][(r * groups + c / getGroup()) * 2],
          ::mixq::quant::ScalarFormat::F16);
      out[r * cols + c] = decodeFp4(codes[r * cols + c]) * scale;
    }
  if (getSpike())
    for (int64_t r = 0; r < rows; ++r) {
      int32_t col, begin, end;
      std::memcpy(&begin, &packed[SpikeRowPtr][4 * r], 4);
      std::memcpy(&end, &packed[SpikeRowPtr][4 * (r + 1)], 4);
      for (int32_t e = begin; e < end; ++e) {
        if (e < 0 || e >= rows)
          return llvm::createStringError("fp4: a spike row pointer is out of "
                                         "range");
        std::memcpy(&col, &packed[SpikeCols][4 * e], 4);
        if (col < 0 || col >= cols)
          return llvm::createStringError("fp4: a spike column is out of range");
        uint16_t value;
        std::memcpy(&value, &packed[SpikeValues][2 * e], 2);
        out[r * cols + col] += ::mixq::quant::halfBitsToFloat(value);
      }
    }
  return out;
}

namespace {
/// f32 `values` (a scalar or a vector) times the group scale `scale`
/// (none when null) in f32, rounded once to `resultType`.
Value scaleAndRound(OpBuilder &b, Location loc, Value values, Value scale,
                    FloatType resultType) {
  if (!scale)
    return buildTruncateFromF32(b, loc, values, resultType);
  Value factor = buildExtendToF32(b, loc, scale);
  if (auto vectorType = dyn_cast<VectorType>(values.getType()))
    factor = buildSplat(b, loc, factor, vectorType.getDimSize(0));
  return buildTruncateFromF32(
      b, loc, arith::MulFOp::create(b, loc, values, factor), resultType);
}

/// e2m1 code values times the group scale (none when `scale` is null), in
/// f32 then rounded to `resultType`. `code` is an i32 or a vector of them;
/// every constant is splat to its shape, so the same IR serves one weight
/// or a whole word.
Value buildFp4Values(OpBuilder &b, Location loc, Value code, Value scale,
                     FloatType resultType) {
  auto vectorType = dyn_cast<VectorType>(code.getType());
  auto like = [&](Type scalar) -> Type {
    return vectorType ? VectorType::get(vectorType.getShape(), scalar) : scalar;
  };
  auto splat = [&](Value scalar) -> Value {
    return vectorType ? buildSplat(b, loc, scalar, vectorType.getDimSize(0))
                      : scalar;
  };
  auto i32 = [&](int64_t v) {
    return splat(arith::ConstantIntOp::create(b, loc, b.getI32Type(), v));
  };
  auto f32 = [&](float v) {
    return splat(
        arith::ConstantFloatOp::create(b, loc, b.getF32Type(), APFloat(v)));
  };
  Type f32Type = like(b.getF32Type());
  // e2m1: exponent e = bits 2..1, mantissa m = bit 0.
  //   e == 0: m * 0.5            e > 0: (1 + m * 0.5) * 2^(e - 1)
  Value exponent = arith::AndIOp::create(
      b, loc, arith::ShRUIOp::create(b, loc, code, i32(1)), i32(3));
  Value halfMantissa = arith::MulFOp::create(
      b, loc,
      arith::UIToFPOp::create(b, loc, f32Type,
                              arith::AndIOp::create(b, loc, code, i32(1))),
      f32(0.5f));
  Value power = arith::MulFOp::create(
      b, loc,
      arith::UIToFPOp::create(b, loc, f32Type,
                              arith::ShLIOp::create(b, loc, i32(1), exponent)),
      f32(0.5f));
  Value normal = arith::MulFOp::create(
      b, loc, arith::AddFOp::create(b, loc, f32(1.0f), halfMantissa), power);
  Value isSubnormal =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, exponent, i32(0));
  Value magnitude =
      arith::SelectOp::create(b, loc, isSubnormal, halfMantissa, normal);
  Value negative = arith::CmpIOp::create(
      b, loc, arith::CmpIPredicate::ne,
      arith::AndIOp::create(b, loc, code, i32(8)), i32(0));
  Value value = arith::SelectOp::create(
      b, loc, negative, arith::NegFOp::create(b, loc, magnitude), magnitude);
  return scaleAndRound(b, loc, value, scale, resultType);
}

/// getRowTables' tables: the e2m1 value of each code, in f16, and the
/// f16x2 values of each pair of codes.
constexpr unsigned kValueTable = 0;
constexpr unsigned kPairTable = 1;
constexpr int64_t kCodeValues = 16;

/// The e2m1 values of `codes` (unscaled) from the consumer's value table,
/// for f16 tiles when it has one; null otherwise.
Value lookUpValues(OpBuilder &b, Location loc, const ComponentReader &reader,
                   Value row, Value codes, FloatType resultType) {
  if (!resultType.isF16() || !reader.hasRowTable(kValueTable))
    return Value();
  return reader.gatherRowTable(b, loc, kValueTable, row, codes);
}

/// The e2m1 values (unscaled) of the f16 tile of `width` columns from
/// `col`, two codes a lookup in the consumer's pair table, when it has one
/// and the tile is whole words of codes; null otherwise.
Value lookUpPairs(OpBuilder &b, Location loc, const ComponentReader &reader,
                  Value row, Value col, int64_t width, FloatType resultType) {
  if (!resultType.isF16() || !reader.hasRowTable(kPairTable) ||
      !isWholeWordTile(4, width))
    return Value();
  Value pairs =
      buildPackedCodePairVector(b, loc, reader, Codes, row, col, 4, width);
  Value words = reader.gatherRowTable(b, loc, kPairTable, row, pairs);
  return vector::BitCastOp::create(b, loc, VectorType::get({width}, resultType),
                                   words);
}

Value loadGroupScale(OpBuilder &b, Location loc, const ComponentReader &reader,
                     Value row, Value col, int64_t group) {
  Value index =
      arith::DivUIOp::create(b, loc, col, buildIndexConstant(b, loc, group));
  return reader.load(b, loc, Scales, {row, index});
}
} // namespace

SmallVector<Value>
Fp4SchemeAttr::buildDequantTile(OpBuilder &b, Location loc,
                                const ComponentReader &reader,
                                ArrayRef<int64_t> shape, Value row, Value col,
                                int64_t tileCols, FloatType resultType) const {
  int64_t wordsPerRow = ::mixq::quant::packedWordCount(shape[1], 4);
  SmallVector<Value> values;
  for (int64_t i = 0; i < tileCols; ++i) {
    Value c = arith::AddIOp::create(b, loc, col, buildIndexConstant(b, loc, i));
    Value code =
        buildPackedCodeLoad(b, loc, reader, Codes, row, c, 4, wordsPerRow);
    Value scale = loadGroupScale(b, loc, reader, row, c, getGroup());
    if (!getSpike()) {
      values.push_back(buildFp4Values(b, loc, code, scale, resultType));
      continue;
    }
    // The row's spike, added in f32 where it hits, then rounded once.
    Value dense = buildFp4Values(b, loc, code, scale, b.getF32Type());
    Value entry = arith::IndexCastUIOp::create(
        b, loc, b.getIndexType(), reader.load(b, loc, SpikeRowPtr, {row}));
    Value spikeCol = arith::IndexCastUIOp::create(
        b, loc, b.getIndexType(), reader.load(b, loc, SpikeCols, {entry}));
    Value residual =
        buildExtendToF32(b, loc, reader.load(b, loc, SpikeValues, {entry}));
    Value hit =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, spikeCol, c);
    Value w = arith::SelectOp::create(
        b, loc, hit, arith::AddFOp::create(b, loc, dense, residual), dense);
    values.push_back(buildTruncateFromF32(b, loc, w, resultType));
  }
  return values;
}

/// A whole word (8 codes) at a time, through the same helper the built-in
/// schemes use: what a scheme written outside mixq does to be fast. The
/// spikes are not in it: buildSparseDot adds them after the dot product.
Value Fp4SchemeAttr::buildDequantVector(OpBuilder &b, Location loc,
                                        const ComponentReader &reader,
                                        ArrayRef<int64_t> shape, Value row,
                                        Value col, int64_t width,
                                        FloatType resultType) const {
  if (!isWholeWordTile(4, width) || getGroup() % width != 0) {
    Fp4SchemeAttr dense =
        Fp4SchemeAttr::get(getContext(), getGroup(), false, 0);
    return buildVectorFromScalars(b, loc,
                                  dense.buildDequantTile(b, loc, reader, shape,
                                                         row, col, width,
                                                         resultType));
  }
  Value codes =
      buildPackedCodeVector(b, loc, reader, Codes, row, col, 4, width);
  Value scale = loadGroupScale(b, loc, reader, row, col, getGroup());
  // Exact e2m1 values times the scale in f32, rounded once: the same bits
  // as the select chain's.
  if (Value values = lookUpPairs(b, loc, reader, row, col, width, resultType))
    return scaleAndRound(b, loc, buildExtendToF32(b, loc, values), scale,
                         resultType);
  if (Value values = lookUpValues(b, loc, reader, row, codes, resultType))
    return scaleAndRound(b, loc, buildExtendToF32(b, loc, values), scale,
                         resultType);
  return buildFp4Values(b, loc, codes, scale, resultType);
}

// Two tables, the same in every row (the e2m1 values do not depend on the
// row), so a consumer may hold one copy for all rows: the f16 value of
// each code (32 bytes), and the f16x2 values of each pair of codes (1 KiB),
// indexed by the byte the pair forms in the code stream. One lookup per
// weight, or per two, beats the select chain.
SmallVector<RowTableSpec> Fp4SchemeAttr::getRowTables(ArrayRef<int64_t>) const {
  MLIRContext *ctx = getContext();
  return {{"e2m1_values", Float16Type::get(ctx), kCodeValues,
           /*sameForEveryRow=*/true},
          {"e2m1_pairs", IntegerType::get(ctx, 32), kCodeValues * kCodeValues,
           /*sameForEveryRow=*/true}};
}

Value Fp4SchemeAttr::buildRowTableEntry(OpBuilder &b, Location loc,
                                        const ComponentReader &,
                                        ArrayRef<int64_t>, unsigned table,
                                        Value, Value entry) const {
  Type f16 = Float16Type::get(getContext());
  Value code = arith::IndexCastUIOp::create(b, loc, b.getI32Type(), entry);
  if (table == kValueTable)
    return buildFp4Values(b, loc, code, Value(), cast<FloatType>(f16));
  if (table != kPairTable)
    return Value();
  // Entry c0 | c1 << 4: the bits of value(c0) | value(c1) << 16.
  auto valueBits = [&](Value c) -> Value {
    Value value = buildFp4Values(b, loc, c, Value(), cast<FloatType>(f16));
    return arith::ExtUIOp::create(
        b, loc, b.getI32Type(),
        arith::BitcastOp::create(b, loc, b.getI16Type(), value));
  };
  auto i32 = [&](int32_t v) -> Value {
    return arith::ConstantIntOp::create(b, loc, b.getI32Type(), v);
  };
  Value low = valueBits(arith::AndIOp::create(b, loc, code, i32(15)));
  Value high = valueBits(arith::ShRUIOp::create(b, loc, code, i32(4)));
  return arith::OrIOp::create(b, loc, low,
                              arith::ShLIOp::create(b, loc, high, i32(16)));
}

/// The row's spike, value * x[col], through the CSR helper the built-in
/// schemes use.
Value Fp4SchemeAttr::buildSparseDot(OpBuilder &b, Location loc,
                                    const ComponentReader &reader,
                                    ArrayRef<int64_t> shape, Value row,
                                    Value first, Value step,
                                    InputLoader loadInput) const {
  if (!getSpike())
    return Value();
  Value next =
      arith::AddIOp::create(b, loc, row, buildIndexConstant(b, loc, 1));
  auto entryAt = [&](Value r) {
    return arith::IndexCastUIOp::create(b, loc, b.getIndexType(),
                                        reader.load(b, loc, SpikeRowPtr, {r}))
        .getResult();
  };
  Value begin = arith::AddIOp::create(b, loc, entryAt(row), first);
  return buildCSRDot(b, loc, reader, SpikeCols, SpikeValues, begin,
                     entryAt(next), step, loadInput);
}

/// The group scale as a factor of the dot product's sums: a scheme outside
/// mixq saves its per-weight multiply on tensor cores with the same three
/// methods as affine. The e2m1 values (0 .. 6 in halves) are exact in f16
/// and bf16, and value * scale in f32 is what buildDequantTile computes.
int64_t Fp4SchemeAttr::getScaleFactorColumns(ArrayRef<int64_t>) const {
  return getGroup();
}

Value Fp4SchemeAttr::buildScaleFactor(OpBuilder &b, Location loc,
                                      const ComponentReader &reader,
                                      ArrayRef<int64_t>, Value row,
                                      Value col) const {
  return buildExtendToF32(b, loc,
                          loadGroupScale(b, loc, reader, row, col, getGroup()));
}

Value Fp4SchemeAttr::buildUnscaledDequantVectorInAnyOrder(
    OpBuilder &b, Location loc, const ComponentReader &reader,
    ArrayRef<int64_t> shape, Value row, Value col, int64_t width,
    FloatType resultType, SmallVectorImpl<int64_t> &order) const {
  setColumnOrder(order, width);
  if (Value values = lookUpPairs(b, loc, reader, row, col, width, resultType))
    return values;
  Value codes =
      buildPackedCodeTile(b, loc, reader, Codes, row, col, 4, width, shape[1]);
  if (Value values = lookUpValues(b, loc, reader, row, codes, resultType))
    return values;
  return buildFp4Values(b, loc, codes, Value(), resultType);
}
