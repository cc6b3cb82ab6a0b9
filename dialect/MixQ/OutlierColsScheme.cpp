//===- OutlierColsScheme.cpp - #mixq.outlier_cols (QUIK) ------------------===//
//
// Adapts the QUIK host quantizer (quant/OutlierColumns.h) to
// QuantSchemeAttrInterface: the five components the host stores plus
// `col_map`, the static column -> outlier slot map that mixq.quantize_act
// and the scalar tile read. The codes cover every column (an outlier
// column's code is 2^(bits-1), a weight of 0), so kernels dequantize whole
// words of a row like
// symmetric affine codes and add the fp16 outlier columns once per row
// (buildSparseDot).
//===----------------------------------------------------------------------===//
#include "dialect/MixQ/MixQAttrs.h"
#include "dialect/MixQ/SchemeUtils.h"
#include "quant/BitPacking.h"
#include "quant/FloatFormats.h"
#include "quant/OutlierColumns.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"

#include <cstring>
#include <limits>

using namespace mlir;
using namespace mlir::mixq;

namespace {
enum OutlierColsComponent : unsigned {
  OCOutlierCols = 0,
  OCOutlierWeights = 1,
  OCCodes = 2,
  OCScales = 3,
  OCRowSums = 4,
  OCColMap = 5,
};

/// The largest K whose col_map fits i16 (entries are -1 or a slot below n
/// < K; the bound is the format's, kept from when entries went down to -K).
constexpr int64_t kMaxI16ColMapInputs = 32768;

::mixq::quant::OutlierColumnsParams getParams(OutlierColsSchemeAttr attr) {
  ::mixq::quant::OutlierColumnsParams params;
  params.outlierColumns = attr.getCols();
  params.bits = attr.getBits();
  // QuantizeOptions carries E[x^2] only (no max |x|).
  params.rule = ::mixq::quant::OutlierColumnRule::MeanSquare;
  return params;
}

/// col_map[c] = slot of c in `outlierCols` (>= 0), or -1 for a quantized
/// column. `outlierCols` must be increasing and in [0, cols).
std::vector<int32_t> buildColMap(const std::vector<int32_t> &outlierCols,
                                 int64_t cols) {
  std::vector<int32_t> map(cols, -1);
  for (auto [slot, col] : llvm::enumerate(outlierCols))
    map[col] = static_cast<int32_t>(slot);
  return map;
}

/// The offset of the codes, 2^(bits-1): code - mid is the signed weight.
int64_t getCodeOffset(unsigned bits) { return int64_t(1) << (bits - 1); }

PackedBuffer colMapBytes(const std::vector<int32_t> &map, bool wide) {
  if (wide)
    return toBytes(map);
  std::vector<int16_t> narrow(map.begin(), map.end());
  return toBytes(narrow);
}
} // namespace

LogicalResult
OutlierColsSchemeAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                              int64_t cols, unsigned bits, unsigned actBits) {
  if (bits != 4 && bits != 8)
    return emitError() << "outlier_cols 'bits' must be 4 or 8, got " << bits;
  if (cols < 0)
    return emitError() << "outlier_cols 'cols' must be >= 0, got " << cols;
  if (actBits != 0 && actBits != 4 && actBits != 8)
    return emitError() << "outlier_cols 'act_bits' must be 0 (weight-only), 4 "
                          "or 8, got "
                       << actBits;
  return success();
}

SchemeSpecSyntax OutlierColsSchemeAttr::getSpecSyntax() {
  SchemeSpecSyntax syntax;
  syntax.name = "quik";
  syntax.attrName = "#mixq.outlier_cols";
  syntax.summary = "fp16 outlier input columns, int4/int8 codes (QUIK)";
  syntax.example = "quik:cols=256,bits=4,act-bits=8";
  using Kind = SpecValueKind;
  syntax.keys = {
      {"cols", "fp16 input columns, 0 .. K - 1", Kind::Integer, {}, "256"},
      {"bits",
       "bits of the other columns' codes: 4 or 8",
       Kind::Unsigned,
       {},
       "4"},
      {"act-bits", "activation bits: 4 or 8 (default: weight-only)",
       Kind::Unsigned}};
  return syntax;
}

std::optional<unsigned> OutlierColsSchemeAttr::getActivationBits() const {
  if (getActBits() == 0)
    return std::nullopt;
  return getActBits();
}

LogicalResult OutlierColsSchemeAttr::verifyShape(
    ArrayRef<int64_t> shape,
    function_ref<InFlightDiagnostic()> emitError) const {
  if (shape.size() != 2)
    return emitError() << "outlier_cols scheme expects an N x K matrix";
  if (getCols() >= shape[1])
    return emitError() << "outlier_cols 'cols' (" << getCols()
                       << ") must be less than the number of inputs K = "
                       << shape[1];
  if (shape[1] > std::numeric_limits<int32_t>::max())
    return emitError() << "outlier_cols scheme: " << shape[1]
                       << " inputs exceed int32 column indices";
  return success();
}

IntegerType OutlierColsSchemeAttr::getColMapType(int64_t inputs) const {
  return IntegerType::get(getContext(),
                          inputs <= kMaxI16ColMapInputs ? 16 : 32);
}

SmallVector<ComponentSpec>
OutlierColsSchemeAttr::getComponents(ArrayRef<int64_t> shape) const {
  MLIRContext *ctx = getContext();
  int64_t rows = shape[0], cols = shape[1], n = getCols();
  Type i32 = IntegerType::get(ctx, 32), f16 = Float16Type::get(ctx);
  int64_t words = ::mixq::quant::packedWordCount(cols, getBits());
  SmallVector<ComponentSpec> components;
  components.push_back({"outlier_cols", i32, {n}});
  components.push_back({"outlier_weights", f16, {rows, n}});
  components.push_back({"codes", i32, {rows, words}});
  components.push_back({"scales", f16, {rows}});
  components.push_back({"row_sums", i32, {rows}});
  components.push_back({"col_map", getColMapType(cols), {cols}});
  return components;
}

llvm::Expected<PackedWeights>
OutlierColsSchemeAttr::quantize(ArrayRef<float> weights,
                                ArrayRef<int64_t> shape,
                                const QuantizeOptions &options) const {
  ::mixq::quant::OutlierColumnsParams params = getParams(*this);
  int64_t rows = shape[0], cols = shape[1];
  // The activation scale criterion is the calibration E[x^2] when there is
  // one; without it the host ranks columns by their L2 norm.
  auto sensitivity = checkQuantizeInputs(
      "outlier_cols", ::mixq::quant::validateOutlierColumns(params, rows, cols),
      weights, shape, options);
  if (!sensitivity)
    return sensitivity.takeError();
  ::mixq::quant::OutlierColumnsQuantized q =
      ::mixq::quant::quantizeOutlierColumns(weights.data(), rows, cols, params,
                                            getSensitivityOrNull(*sensitivity));
  PackedWeights packed;
  packed.push_back(toBytes(q.outlierCols));
  packed.push_back(toBytes(q.outlierWeights));
  packed.push_back(toBytes(q.codes));
  packed.push_back(toBytes(q.scales));
  packed.push_back(toBytes(q.rowSums));
  packed.push_back(colMapBytes(buildColMap(q.outlierCols, cols),
                               getColMapType(cols).getWidth() == 32));
  return packed;
}

llvm::Expected<std::vector<float>>
OutlierColsSchemeAttr::dequantize(const PackedWeights &packed,
                                  ArrayRef<int64_t> shape) const {
  if (llvm::Error err = checkPackedSizes(getComponents(shape), packed))
    return std::move(err);
  ::mixq::quant::OutlierColumnsParams params = getParams(*this);
  int64_t rows = shape[0], cols = shape[1];
  std::string problem =
      ::mixq::quant::validateOutlierColumns(params, rows, cols);
  if (!problem.empty())
    return llvm::createStringError(problem);
  ::mixq::quant::OutlierColumnsQuantized q;
  q.outlierCols = fromBytes<int32_t>(packed[OCOutlierCols]);
  for (size_t j = 0; j < q.outlierCols.size(); ++j)
    if (q.outlierCols[j] < 0 || q.outlierCols[j] >= cols ||
        (j > 0 && q.outlierCols[j] <= q.outlierCols[j - 1]))
      return llvm::createStringError(
          "outlier_cols: component 'outlier_cols' must hold increasing "
          "column indices in [0, " +
          std::to_string(cols) + "), got " + std::to_string(q.outlierCols[j]) +
          " at " + std::to_string(j));
  // The IR reads col_map, the host outlier_cols: they must agree.
  bool wide = getColMapType(cols).getWidth() == 32;
  if (packed[OCColMap] != colMapBytes(buildColMap(q.outlierCols, cols), wide))
    return llvm::createStringError(
        "outlier_cols: component 'col_map' does not match 'outlier_cols'");
  q.outlierWeights = fromBytes<uint16_t>(packed[OCOutlierWeights]);
  q.codes = fromBytes<uint32_t>(packed[OCCodes]);
  q.scales = fromBytes<uint16_t>(packed[OCScales]);
  q.rowSums = fromBytes<int32_t>(packed[OCRowSums]);
  return ::mixq::quant::dequantizeOutlierColumns(q, rows, cols, params);
}

Value OutlierColsSchemeAttr::buildIsPassthroughColumn(
    OpBuilder &b, Location loc, const ComponentReader &reader,
    Value col) const {
  Value entry = reader.load(b, loc, OCColMap, {col});
  Value zero = arith::ConstantIntOp::create(b, loc, entry.getType(), 0);
  return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, entry, zero);
}

SmallVector<Value> OutlierColsSchemeAttr::buildDequantTile(
    OpBuilder &b, Location loc, const ComponentReader &reader,
    ArrayRef<int64_t> shape, Value row, Value col, int64_t tileCols,
    FloatType resultType) const {
  unsigned bits = getBits();
  int64_t n = getCols();
  int64_t wordsPerRow = ::mixq::quant::packedWordCount(shape[1], bits);
  Type f32 = b.getF32Type();
  Value zeroIndex = buildIndexConstant(b, loc, 0);
  Value offset = buildF32Constant(b, loc, float(getCodeOffset(bits)));
  // The row's scale is the same for the whole tile.
  Value scale = buildExtendToF32(b, loc, reader.load(b, loc, OCScales, {row}));
  SmallVector<Value> values;
  for (int64_t i = 0; i < tileCols; ++i) {
    Value c = i == 0 ? col
                     : arith::AddIOp::create(b, loc, col,
                                             buildIndexConstant(b, loc, i))
                           .getResult();
    Value code =
        buildPackedCodeLoad(b, loc, reader, OCCodes, row, c, bits, wordsPerRow);
    Value w = arith::MulFOp::create(
        b, loc,
        arith::SubFOp::create(
            b, loc, arith::UIToFPOp::create(b, loc, f32, code), offset),
        scale);
    if (n > 0) {
      // m = col_map[c]: an outlier slot (>= 0) or -1. The outlier load is
      // made in bounds by selecting slot 0 for a quantized column
      // (branch-free, so that the reduction loop stays vectorizable).
      Value m = arith::IndexCastOp::create(b, loc, b.getIndexType(),
                                           reader.load(b, loc, OCColMap, {c}));
      Value isOutlier = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge,
                                              m, zeroIndex);
      Value slot = arith::SelectOp::create(b, loc, isOutlier, m, zeroIndex);
      Value outlier = buildExtendToF32(
          b, loc, reader.load(b, loc, OCOutlierWeights, {row, slot}));
      w = arith::SelectOp::create(b, loc, isOutlier, outlier, w);
    }
    values.push_back(buildTruncateFromF32(b, loc, w, resultType));
  }
  return values;
}

Value OutlierColsSchemeAttr::buildDequantVector(OpBuilder &b, Location loc,
                                                const ComponentReader &reader,
                                                ArrayRef<int64_t> shape,
                                                Value row, Value col,
                                                int64_t width,
                                                FloatType resultType) const {
  return buildDequantVectorInColumnOrder(*this, b, loc, reader, shape, row, col,
                                         width, resultType);
}

namespace {
/// code - mid of the tile's columns (buildCenteredCodeTile), exact.
Value buildCenteredCodes(OutlierColsSchemeAttr attr, OpBuilder &b, Location loc,
                         const ComponentReader &reader, ArrayRef<int64_t> shape,
                         Value row, Value col, int64_t width,
                         FloatType resultType,
                         SmallVectorImpl<int64_t> &order) {
  unsigned bits = attr.getBits();
  return buildCenteredCodeTile(b, loc, reader, OCCodes, row, col, bits, width,
                               shape[1], resultType.isF16(), Value(),
                               getCodeOffset(bits), order);
}
} // namespace

// The dense part: (code - mid) * scale at every column, 0 at the outlier
// columns (their code is mid), whose fp16 weights buildSparseDot adds.
// q - mid is exact and the product is rounded once, in f16 pairs as in the
// f32 formula of buildDequantTile by its truncation: the same bits.
Value OutlierColsSchemeAttr::buildDequantVectorInAnyOrder(
    OpBuilder &b, Location loc, const ComponentReader &reader,
    ArrayRef<int64_t> shape, Value row, Value col, int64_t width,
    FloatType resultType, SmallVectorImpl<int64_t> &order) const {
  Value scale = reader.load(b, loc, OCScales, {row});
  Value centered = buildCenteredCodes(*this, b, loc, reader, shape, row, col,
                                      width, resultType, order);
  return buildScaledCodeTile(b, loc, centered, scale, resultType);
}

// One scale a row: a dot product multiplies the row's sum by it once.
int64_t
OutlierColsSchemeAttr::getScaleFactorColumns(ArrayRef<int64_t> shape) const {
  return shape[1];
}

Value OutlierColsSchemeAttr::buildScaleFactor(OpBuilder &b, Location loc,
                                              const ComponentReader &reader,
                                              ArrayRef<int64_t> shape,
                                              Value row, Value col) const {
  return buildExtendToF32(b, loc, reader.load(b, loc, OCScales, {row}));
}

Value OutlierColsSchemeAttr::buildUnscaledDequantVectorInAnyOrder(
    OpBuilder &b, Location loc, const ComponentReader &reader,
    ArrayRef<int64_t> shape, Value row, Value col, int64_t width,
    FloatType resultType, SmallVectorImpl<int64_t> &order) const {
  Value centered = buildCenteredCodes(*this, b, loc, reader, shape, row, col,
                                      width, resultType, order);
  return buildCodeTileAs(b, loc, centered, resultType);
}

// The codes before mid is subtracted: 2^(10 - k) + code, mid as the run's
// zero, where the unscaled tile is f16 pairs of whole words.
Value OutlierColsSchemeAttr::buildBiasedDequantVectorInAnyOrder(
    OpBuilder &b, Location loc, const ComponentReader &reader,
    ArrayRef<int64_t> shape, Value row, Value col, int64_t width,
    FloatType resultType, SmallVectorImpl<int64_t> &order,
    SmallVectorImpl<double> &bias, Value &zero) const {
  unsigned bits = getBits();
  if (!resultType.isF16() || !isWholeWordTile(bits, width))
    return Value();
  zero = buildF32Constant(b, loc, float(getCodeOffset(bits)));
  return buildBiasedHalfCodePairs(b, loc, reader, OCCodes, row, col, bits,
                                  width, order, bias);
}

// Every row has its n outlier terms, at the same columns: slot j of row r
// is outlier_weights[r][j] at column outlier_cols[j].
Value OutlierColsSchemeAttr::buildSparseDot(OpBuilder &b, Location loc,
                                            const ComponentReader &reader,
                                            ArrayRef<int64_t> shape, Value row,
                                            Value first, Value step,
                                            InputLoader loadInput) const {
  if (getCols() == 0)
    return Value();
  return buildCSRDot(b, loc, reader, OCOutlierCols, OCOutlierWeights, first,
                     buildIndexConstant(b, loc, getCols()), step, loadInput,
                     row);
}
