//===- OutlierColsScheme.cpp - #mixq.outlier_cols (QUIK) ------------------===//
//
// Adapts the QUIK host quantizer (quant/OutlierColumns.h) to
// QuantSchemeAttrInterface: the five components the host stores plus
// `col_map`, the static column -> (outlier slot | quantized position) map
// that lets the dequantization IR address one weight with a single load.
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

/// The largest K whose col_map fits i16: entries are in [-K, n - 1].
constexpr int64_t kMaxI16ColMapInputs = 32768;

::mixq::quant::OutlierColumnsParams getParams(OutlierColsSchemeAttr attr) {
  ::mixq::quant::OutlierColumnsParams params;
  params.outlierColumns = attr.getCols();
  params.bits = attr.getBits();
  // QuantizeOptions carries E[x^2] only (no max |x|).
  params.rule = ::mixq::quant::OutlierColumnRule::MeanSquare;
  return params;
}

/// col_map[c] = slot of c in `outlierCols` (>= 0), or -1 - p for the p-th
/// quantized column. `outlierCols` must be increasing and in [0, cols).
std::vector<int32_t> buildColMap(const std::vector<int32_t> &outlierCols,
                                 int64_t cols) {
  std::vector<int32_t> map(cols);
  size_t slot = 0;
  int32_t quantized = 0;
  for (int64_t c = 0; c < cols; ++c) {
    if (slot < outlierCols.size() && outlierCols[slot] == c)
      map[c] = static_cast<int32_t>(slot++);
    else
      map[c] = -1 - quantized++;
  }
  return map;
}

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
  int64_t words = ::mixq::quant::packedWordCount(cols - n, getBits());
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
  int64_t wordsPerRow = ::mixq::quant::packedWordCount(shape[1] - n, bits);
  Type i32 = b.getI32Type(), f32 = b.getF32Type();
  Value zeroIndex = buildIndexConstant(b, loc, 0);
  Value minusOne = buildIndexConstant(b, loc, -1);
  Value signShift =
      arith::ConstantIntOp::create(b, loc, i32, 32 - static_cast<int>(bits));
  // The row's scale is the same for the whole tile.
  Value scale = buildExtendToF32(b, loc, reader.load(b, loc, OCScales, {row}));
  SmallVector<Value> values;
  for (int64_t i = 0; i < tileCols; ++i) {
    Value c = i == 0 ? col
                     : arith::AddIOp::create(b, loc, col,
                                             buildIndexConstant(b, loc, i))
                           .getResult();
    // m = col_map[c]: an outlier slot (>= 0) or -1 - (quantized position).
    Value entry = reader.load(b, loc, OCColMap, {c});
    Value m = arith::IndexCastOp::create(b, loc, b.getIndexType(), entry);
    Value isOutlier =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, m, zeroIndex);
    // Both loads are made in bounds by selecting index 0 for the other
    // case (branch-free, so that the reduction loop stays vectorizable).
    Value position =
        arith::SelectOp::create(b, loc, isOutlier, zeroIndex,
                                arith::SubIOp::create(b, loc, minusOne, m));
    Value code = buildPackedCodeLoad(b, loc, reader, OCCodes, row, position,
                                     bits, wordsPerRow);
    // Sign-extend the `bits`-bit two's complement field.
    Value signedCode = arith::ShRSIOp::create(
        b, loc, arith::ShLIOp::create(b, loc, code, signShift), signShift);
    Value w = arith::MulFOp::create(
        b, loc, arith::SIToFPOp::create(b, loc, f32, signedCode), scale);
    if (n > 0) {
      Value slot = arith::SelectOp::create(b, loc, isOutlier, m, zeroIndex);
      Value outlier = buildExtendToF32(
          b, loc, reader.load(b, loc, OCOutlierWeights, {row, slot}));
      w = arith::SelectOp::create(b, loc, isOutlier, outlier, w);
    }
    values.push_back(buildTruncateFromF32(b, loc, w, resultType));
  }
  return values;
}
