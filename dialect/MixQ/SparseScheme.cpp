//===- SparseScheme.cpp - #mixq.sparse: dense-and-sparse composition ------===//
//
// #mixq.sparse<DENSE, frac = F> adapts the host dense-and-sparse recipe of
// quant/SparseOutliers.h to QuantSchemeAttrInterface: every interface method
// delegates the dense part to DENSE (through the interface, so any scheme
// composes) and adds the fp16 CSR residuals.
//===----------------------------------------------------------------------===//
#include "dialect/MixQ/MixQAttrs.h"
#include "dialect/MixQ/SchemeUtils.h"
#include "quant/FloatFormats.h"
#include "quant/SparseOutliers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "llvm/ADT/StringSwitch.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>
#include <limits>

using namespace mlir;
using namespace mlir::mixq;
namespace mq = ::mixq::quant;

//===----------------------------------------------------------------------===//
// The `select` parameter
//===----------------------------------------------------------------------===//

StringRef mlir::mixq::stringifyOutlierSelection(OutlierSelection rule) {
  switch (rule) {
  case OutlierSelection::Magnitude:
    return "magnitude";
  case OutlierSelection::Sensitivity:
    return "sensitivity";
  case OutlierSelection::IQR:
    return "iqr";
  }
  llvm_unreachable("unknown outlier selection");
}

std::optional<OutlierSelection>
mlir::mixq::symbolizeOutlierSelection(StringRef name) {
  return llvm::StringSwitch<std::optional<OutlierSelection>>(name)
      .Case("magnitude", OutlierSelection::Magnitude)
      .Case("sensitivity", OutlierSelection::Sensitivity)
      .Case("iqr", OutlierSelection::IQR)
      .Default(std::nullopt);
}

FailureOr<OutlierSelection>
mlir::mixq::parseOutlierSelection(AsmParser &parser) {
  SMLoc loc = parser.getCurrentLocation();
  StringRef name;
  if (parser.parseKeyword(&name))
    return failure();
  std::optional<OutlierSelection> rule = symbolizeOutlierSelection(name);
  if (!rule)
    return parser.emitError(loc, "sparse 'select' must be magnitude, iqr or "
                                 "sensitivity, got '")
           << name << "'";
  return *rule;
}

void mlir::mixq::printOutlierSelection(AsmPrinter &printer,
                                       OutlierSelection rule) {
  printer << stringifyOutlierSelection(rule);
}

//===----------------------------------------------------------------------===//
// SparseSchemeAttr
//===----------------------------------------------------------------------===//

namespace {
/// The CSR components, after the dense ones.
enum SparseComponent : unsigned { RowPtr = 0, ColIdx = 1, Values = 2 };

const char *const kDensePrefix = "dense_";

mq::SparseParams getSparseParams(SparseSchemeAttr attr) {
  mq::SparseParams params;
  params.fraction = attr.getFraction();
  switch (attr.getSelect()) {
  case OutlierSelection::Magnitude:
    params.selection = mq::OutlierSelection::Magnitude;
    break;
  case OutlierSelection::Sensitivity:
    params.selection = mq::OutlierSelection::Sensitivity;
    break;
  case OutlierSelection::IQR:
    params.selection = mq::OutlierSelection::IQR;
    break;
  }
  return params;
}

/// `pattern` plus the `extra` weights of largest |w - dense| outside it
/// (ties to the lower row-major index; a NaN residual counts as 0), so that
/// the result has pattern.size() + extra entries.
mq::OutlierPattern padPattern(const mq::OutlierPattern &pattern,
                              const float *weights, const float *dense,
                              int64_t rows, int64_t cols, int64_t extra) {
  std::vector<float> keys(rows * cols);
  for (int64_t i = 0; i < rows * cols; ++i) {
    float residual = std::fabs(weights[i] - dense[i]);
    keys[i] = std::isnan(residual) ? 0.0f : residual;
  }
  for (int64_t r = 0; r < rows; ++r)
    for (int32_t i = pattern.rowPtr[r]; i < pattern.rowPtr[r + 1]; ++i)
      keys[r * cols + pattern.cols[i]] = -1.0f; // never selected again
  mq::OutlierPattern more = mq::selectLargest(keys.data(), rows, cols, extra);
  // Merge the two increasing column lists of every row.
  mq::OutlierPattern merged;
  merged.rowPtr.assign(rows + 1, 0);
  merged.cols.reserve(pattern.cols.size() + more.cols.size());
  for (int64_t r = 0; r < rows; ++r) {
    auto a = pattern.cols.begin() + pattern.rowPtr[r];
    auto aEnd = pattern.cols.begin() + pattern.rowPtr[r + 1];
    auto b = more.cols.begin() + more.rowPtr[r];
    auto bEnd = more.cols.begin() + more.rowPtr[r + 1];
    std::merge(a, aEnd, b, bEnd, std::back_inserter(merged.cols));
    merged.rowPtr[r + 1] = static_cast<int32_t>(merged.cols.size());
  }
  return merged;
}

/// Checks the stored CSR before it is used to index the matrix.
llvm::Error checkCSR(const mq::SparseCSR &csr, int64_t rows, int64_t cols) {
  std::string problem = mq::validateCSR(csr, rows, cols, "sparse");
  if (!problem.empty())
    return llvm::createStringError(problem);
  return llvm::Error::success();
}

/// Loads an integer element and widens it, unsigned, to an index.
Value loadIndex(OpBuilder &b, Location loc, const ComponentReader &reader,
                unsigned component, ValueRange indices) {
  Value value = reader.load(b, loc, component, indices);
  return arith::IndexCastUIOp::create(b, loc, b.getIndexType(), value);
}
} // namespace

QuantSchemeAttrInterface SparseSchemeAttr::getDenseScheme() const {
  return cast<QuantSchemeAttrInterface>(getDense());
}

SchemeSpecSyntax SparseSchemeAttr::getSpecSyntax() {
  SchemeSpecSyntax syntax;
  syntax.name = "sparse";
  syntax.attrName = "#mixq.sparse";
  syntax.summary = "fp16 CSR outliers on top of a dense scheme";
  syntax.example = "lut:bits=3+sparse:frac=0.0045";
  syntax.keys = {{"frac", "share of the weights kept as fp16 outliers, (0, 1)",
                  SpecValueKind::Number},
                 {"select", "outlier rule: magnitude, iqr or sensitivity",
                  SpecValueKind::Keyword}};
  syntax.wrapsDense = true;
  return syntax;
}

LogicalResult
SparseSchemeAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                         Attribute dense, APFloat fracValue,
                         OutlierSelection select) {
  (void)select; // every value of the enum is valid
  if (!isa_and_nonnull<QuantSchemeAttrInterface>(dense))
    return emitError() << "sparse: the dense part must be a quantization "
                          "scheme attribute (one implementing "
                          "QuantSchemeAttrInterface), got "
                       << dense;
  if (isa<SparseSchemeAttr>(dense))
    return emitError() << "sparse: the dense part is itself #mixq.sparse; "
                          "use one #mixq.sparse with a larger 'frac'";
  if (&fracValue.getSemantics() != &APFloat::IEEEdouble())
    return emitError() << "sparse 'frac' must be an IEEE double";
  double frac = fracValue.convertToDouble();
  if (!(frac > 0.0 && frac < 1.0))
    return emitError() << "sparse 'frac' must be in (0, 1), got "
                       << formatDouble(frac);
  return success();
}

LogicalResult SparseSchemeAttr::verifyShape(
    ArrayRef<int64_t> shape,
    function_ref<InFlightDiagnostic()> emitError) const {
  if (shape.size() != 2)
    return emitError() << "sparse scheme expects an N x K matrix";
  if (shape[0] * shape[1] > std::numeric_limits<int32_t>::max())
    return emitError() << "sparse scheme: " << shape[0] * shape[1]
                       << " weights exceed the int32 outlier row pointers";
  return getDenseScheme().verifyShape(shape, emitError);
}

// Nested widths are the dense part's: the outliers are read at every width.
std::optional<NestedWidths> SparseSchemeAttr::getNestedWidths() const {
  return getDenseScheme().getNestedWidths();
}

Attribute SparseSchemeAttr::getShapeFallback(ArrayRef<int64_t> shape) const {
  Attribute dense = getDenseScheme().getShapeFallback(shape);
  if (!dense)
    return {};
  return SparseSchemeAttr::get(dense, getFraction(), getSelect());
}

Attribute SparseSchemeAttr::withNestedDecodeWidth(unsigned width) const {
  Attribute dense = getDenseScheme().withNestedDecodeWidth(width);
  if (!dense)
    return {};
  return SparseSchemeAttr::get(dense, getFraction(), getSelect());
}

double SparseSchemeAttr::getReadBitsPerWeight(ArrayRef<int64_t> shape) const {
  QuantSchemeAttrInterface dense = getDenseScheme();
  return getBitsPerWeight(shape) - dense.getBitsPerWeight(shape) +
         dense.getReadBitsPerWeight(shape);
}

int64_t SparseSchemeAttr::getNumOutliers(ArrayRef<int64_t> shape) const {
  // The count selectOutliers takes, before any padding.
  return std::llround(getFraction() * double(shape[0] * shape[1]));
}

unsigned
SparseSchemeAttr::getNumDenseComponents(ArrayRef<int64_t> shape) const {
  return getDenseScheme().getComponents(shape).size();
}

SmallVector<ComponentSpec>
SparseSchemeAttr::getComponents(ArrayRef<int64_t> shape) const {
  MLIRContext *ctx = getContext();
  SmallVector<ComponentSpec> components = getDenseScheme().getComponents(shape);
  for (ComponentSpec &component : components)
    component.name = kDensePrefix + component.name;
  int64_t nnz = getNumOutliers(shape);
  Type colIdx = IntegerType::get(ctx, 8 * mq::sparseColIndexBytes(shape[1]));
  components.push_back(
      {"outlier_row_ptr", IntegerType::get(ctx, 32), {shape[0] + 1}});
  components.push_back({"outlier_col_idx", colIdx, {nnz}});
  components.push_back({"outlier_values", Float16Type::get(ctx), {nnz}});
  return components;
}

llvm::Expected<PackedWeights>
SparseSchemeAttr::quantize(ArrayRef<float> weights, ArrayRef<int64_t> shape,
                           const QuantizeOptions &options) const {
  int64_t rows = shape[0], cols = shape[1];
  mq::SparseParams params = getSparseParams(*this);
  std::string problem = mq::validateSparse(params, rows, cols);
  if (!problem.empty())
    return llvm::createStringError("sparse: " + problem);
  if (static_cast<int64_t>(weights.size()) != rows * cols)
    return llvm::createStringError("weight buffer does not match the shape");
  std::optional<mq::Sensitivity> sensitivity;
  if (!options.inputSensitivity.empty()) {
    sensitivity.emplace();
    sensitivity->meanSquare.assign(options.inputSensitivity.begin(),
                                   options.inputSensitivity.end());
    problem = mq::validateSensitivity(*sensitivity, cols);
    if (!problem.empty())
      return llvm::createStringError("sparse: " + problem);
  }

  // The recipe of quant/SparseOutliers.h, with the dense scheme's own
  // quantizer on the masked matrix.
  mq::OutlierPattern pattern =
      mq::selectOutliers(weights.data(), rows, cols, params,
                         sensitivity ? &*sensitivity : nullptr);
  std::vector<float> masked =
      mq::maskOutliers(weights.data(), rows, cols, pattern);
  QuantSchemeAttrInterface dense = getDenseScheme();
  auto packed = dense.quantize(masked, shape, options);
  if (!packed)
    return packed.takeError();
  auto reconstruction = dense.dequantize(*packed, shape);
  if (!reconstruction)
    return reconstruction.takeError();
  int64_t nnz = getNumOutliers(shape);
  if (pattern.size() < nnz)
    pattern = padPattern(pattern, weights.data(), reconstruction->data(), rows,
                         cols, nnz - pattern.size());
  mq::SparseCSR csr = mq::buildSparseResidual(
      weights.data(), reconstruction->data(), rows, cols, pattern);

  packed->push_back(toBytes(csr.rowPtr));
  packed->push_back(std::move(csr.colIdx));
  packed->push_back(toBytes(csr.values));
  if (llvm::Error err = checkPackedSizes(getComponents(shape), *packed))
    return llvm::createStringError("sparse: the quantized matrix does not fit "
                                   "the scheme's components: " +
                                   llvm::toString(std::move(err)));
  return std::move(*packed);
}

llvm::Expected<std::vector<float>>
SparseSchemeAttr::dequantize(const PackedWeights &packed,
                             ArrayRef<int64_t> shape) const {
  if (llvm::Error err = checkPackedSizes(getComponents(shape), packed))
    return std::move(err);
  unsigned numDense = getNumDenseComponents(shape);
  PackedWeights densePacked(packed.begin(), packed.begin() + numDense);
  auto reconstruction = getDenseScheme().dequantize(densePacked, shape);
  if (!reconstruction)
    return reconstruction.takeError();
  mq::SparseCSR csr;
  csr.rowPtr = fromBytes<int32_t>(packed[numDense + RowPtr]);
  csr.colIdx = packed[numDense + ColIdx];
  csr.values = fromBytes<uint16_t>(packed[numDense + Values]);
  if (llvm::Error err = checkCSR(csr, shape[0], shape[1]))
    return std::move(err);
  mq::addSparse(csr, shape[0], shape[1], reconstruction->data());
  return std::move(*reconstruction);
}

namespace {
/// The row's CSR outliers added to the f32 dense tile (row, col ..) of
/// `dense.size()` columns, each sum rounded once to `resultType`. One pass
/// over the row's CSR slice adds each entry to the tile column it hits (at
/// most one per column: the indices of a row are unique).
SmallVector<Value> addOutliers(OpBuilder &b, Location loc,
                               const ComponentReader &reader, unsigned numDense,
                               Value row, Value col, ArrayRef<Value> dense,
                               FloatType resultType) {
  SmallVector<Value> columns;
  for (size_t i = 0; i < dense.size(); ++i)
    columns.push_back(i == 0 ? col
                             : arith::AddIOp::create(
                                   b, loc, col, buildIndexConstant(b, loc, i))
                                   .getResult());
  Value c1 = buildIndexConstant(b, loc, 1);
  Value begin = loadIndex(b, loc, reader, numDense + RowPtr, {row});
  Value end = loadIndex(b, loc, reader, numDense + RowPtr,
                        {arith::AddIOp::create(b, loc, row, c1).getResult()});
  auto search = scf::ForOp::create(
      b, loc, begin, end, c1, dense,
      [&](OpBuilder &fb, Location fl, Value entry, ValueRange sums) {
        Value entryCol = loadIndex(fb, fl, reader, numDense + ColIdx, {entry});
        Value residual = buildExtendToF32(
            fb, fl, reader.load(fb, fl, numDense + Values, {entry}));
        SmallVector<Value> next;
        for (size_t i = 0; i < dense.size(); ++i) {
          Value hit = arith::CmpIOp::create(fb, fl, arith::CmpIPredicate::eq,
                                            entryCol, columns[i]);
          Value sum = arith::AddFOp::create(fb, fl, sums[i], residual);
          next.push_back(
              arith::SelectOp::create(fb, fl, hit, sum, sums[i]).getResult());
        }
        scf::YieldOp::create(fb, fl, next);
      });
  SmallVector<Value> values;
  for (Value sum : search.getResults())
    values.push_back(buildTruncateFromF32(b, loc, sum, resultType));
  return values;
}

} // namespace

SmallVector<Value> SparseSchemeAttr::buildDequantTile(
    OpBuilder &b, Location loc, const ComponentReader &reader,
    ArrayRef<int64_t> shape, Value row, Value col, int64_t tileCols,
    FloatType resultType) const {
  unsigned numDense = getNumDenseComponents(shape);
  // The dense tile in f32, so that the residual is added exactly as the
  // host dequantizer adds it, and the sum rounded once. The dense scheme's
  // components come first, so it reads through the same (maybe staged)
  // reader.
  SmallVector<Value> dense = getDenseScheme().buildDequantTile(
      b, loc, reader, shape, row, col, tileCols, b.getF32Type());
  return addOutliers(b, loc, reader, numDense, row, col, dense, resultType);
}

Value SparseSchemeAttr::buildDequantVector(OpBuilder &b, Location loc,
                                           const ComponentReader &reader,
                                           ArrayRef<int64_t> shape, Value row,
                                           Value col, int64_t width,
                                           FloatType resultType) const {
  // The dense part only: the outliers come from buildSparseDot, once per
  // row, rather than from a search of the row's CSR slice per weight.
  return getDenseScheme().buildDequantVector(b, loc, reader, shape, row, col,
                                             width, resultType);
}

Value SparseSchemeAttr::buildDequantVectorInAnyOrder(
    OpBuilder &b, Location loc, const ComponentReader &reader,
    ArrayRef<int64_t> shape, Value row, Value col, int64_t width,
    FloatType resultType, SmallVectorImpl<int64_t> &order) const {
  return getDenseScheme().buildDequantVectorInAnyOrder(
      b, loc, reader, shape, row, col, width, resultType, order);
}

// The dense part's row tables are the dense scheme's, built from its
// components (they come first, so it reads them through the same reader).
SmallVector<RowTableSpec>
SparseSchemeAttr::getRowTables(ArrayRef<int64_t> shape) const {
  return getDenseScheme().getRowTables(shape);
}

Value SparseSchemeAttr::buildRowTableEntry(OpBuilder &b, Location loc,
                                           const ComponentReader &reader,
                                           ArrayRef<int64_t> shape,
                                           unsigned table, Value row,
                                           Value entry) const {
  return getDenseScheme().buildRowTableEntry(b, loc, reader, shape, table, row,
                                             entry);
}

// The dense part's scale factor is the dense scheme's: the CSR terms are
// buildSparseDot's, outside the scaled sums.
int64_t SparseSchemeAttr::getScaleFactorColumns(ArrayRef<int64_t> shape) const {
  return getDenseScheme().getScaleFactorColumns(shape);
}

Value SparseSchemeAttr::buildScaleFactor(OpBuilder &b, Location loc,
                                         const ComponentReader &reader,
                                         ArrayRef<int64_t> shape, Value row,
                                         Value col) const {
  return getDenseScheme().buildScaleFactor(b, loc, reader, shape, row, col);
}

Value SparseSchemeAttr::buildUnscaledDequantVectorInAnyOrder(
    OpBuilder &b, Location loc, const ComponentReader &reader,
    ArrayRef<int64_t> shape, Value row, Value col, int64_t width,
    FloatType resultType, SmallVectorImpl<int64_t> &order) const {
  return getDenseScheme().buildUnscaledDequantVectorInAnyOrder(
      b, loc, reader, shape, row, col, width, resultType, order);
}

Value SparseSchemeAttr::buildBiasedDequantVectorInAnyOrder(
    OpBuilder &b, Location loc, const ComponentReader &reader,
    ArrayRef<int64_t> shape, Value row, Value col, int64_t width,
    FloatType resultType, SmallVectorImpl<int64_t> &order,
    SmallVectorImpl<double> &bias, Value &zero) const {
  return getDenseScheme().buildBiasedDequantVectorInAnyOrder(
      b, loc, reader, shape, row, col, width, resultType, order, bias, zero);
}

// The activation format is the dense scheme's (QUIK with outliers on top
// stays W4A8); its components come first, so it reads them through the
// same reader.
std::optional<unsigned> SparseSchemeAttr::getActivationBits() const {
  return getDenseScheme().getActivationBits();
}

Value SparseSchemeAttr::buildIsPassthroughColumn(OpBuilder &b, Location loc,
                                                 const ComponentReader &reader,
                                                 Value col) const {
  return getDenseScheme().buildIsPassthroughColumn(b, loc, reader, col);
}

Value SparseSchemeAttr::buildQuantizeActivation(OpBuilder &b, Location loc,
                                                const ComponentReader &reader,
                                                Value col, Value value,
                                                Value lo, Value hi,
                                                unsigned bits) const {
  return getDenseScheme().buildQuantizeActivation(b, loc, reader, col, value,
                                                  lo, hi, bits);
}

Value SparseSchemeAttr::buildSparseDot(OpBuilder &b, Location loc,
                                       const ComponentReader &reader,
                                       ArrayRef<int64_t> shape, Value row,
                                       Value first, Value step,
                                       InputLoader loadInput) const {
  unsigned numDense = getNumDenseComponents(shape);
  Value next =
      arith::AddIOp::create(b, loc, row, buildIndexConstant(b, loc, 1));
  Value begin = loadIndex(b, loc, reader, numDense + RowPtr, {row});
  Value end = loadIndex(b, loc, reader, numDense + RowPtr, {next});
  Value sum = buildCSRDot(b, loc, reader, numDense + ColIdx, numDense + Values,
                          arith::AddIOp::create(b, loc, begin, first), end,
                          step, loadInput);
  // A dense scheme with sparse terms of its own (mixed's outliers).
  if (Value dense = getDenseScheme().buildSparseDot(b, loc, reader, shape, row,
                                                    first, step, loadInput))
    sum = arith::AddFOp::create(b, loc, sum, dense);
  return sum;
}
