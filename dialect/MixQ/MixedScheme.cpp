//===- MixedScheme.cpp - #mixq.mixed: 2/4-bit groups and outliers
//-----------===//
//
// Adapts the host quantizer of quant/MixedQuantizer.h to
// QuantSchemeAttrInterface and emits the dequantization IR: the reference
// tile, the word-level vector and the outliers' sparse dot product.
//===----------------------------------------------------------------------===//
#include "dialect/MixQ/MixQAttrs.h"
#include "dialect/MixQ/SchemeUtils.h"
#include "quant/BitPacking.h"
#include "quant/MixedQuantizer.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

using namespace mlir;
using namespace mlir::mixq;

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
  using Kind = SpecValueKind;
  syntax.keys = {
      {"group",
       "inputs per group; group * lo and group * (hi - lo) multiples of 32",
       Kind::Integer,
       {},
       "64"},
      {"lo", "low-group code bits, 1..7", Kind::Unsigned},
      {"hi", "high-group code bits, lo + 1..8", Kind::Unsigned},
      {"hi-frac", "least share of high groups, [0, 1]", Kind::Number},
      {"bits", "bits/weight budget that more high groups may fill, 0: none",
       Kind::Number},
      {"outliers", "share of all weights kept as fp16 outliers, [0, 1)",
       Kind::Number},
      {"block", "groups per second-order block, >= 1", Kind::Integer}};
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
  for (int64_t group = getLargestPowerOfTwoDivisor(getGroup() - 1, shape[1]);
       group > 1; group = getLargestPowerOfTwoDivisor(group - 1, shape[1])) {
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
  return AffineSchemeAttr::get(
      ctx, bits, getLargestPowerOfTwoDivisor(getGroup(), shape[1]),
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
  // One row per high group, then the low groups' row of zeros.
  components.push_back(
      {"high_codes",
       i32,
       {getNumHighGroups(shape) + 1, group * int64_t(getHi() - getLo()) / 32},
       /*columnTiled=*/false,
       /*indirectColumns=*/group});
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
  auto sensitivity = checkQuantizeInputs(
      "mixed", ::mixq::quant::validateMixed(params, shape[0], shape[1]),
      weights, shape, options);
  if (!sensitivity)
    return sensitivity.takeError();
  ::mixq::quant::MixedQuantized q =
      ::mixq::quant::quantizeMixed(weights.data(), shape[0], shape[1], params,
                                   getSensitivityOrNull(*sensitivity));
  PackedWeights packed;
  packed.push_back(toBytes(q.lowCodes));
  packed.push_back(toBytes(q.highCodes));
  packed.push_back(toBytes(q.highGroupStart));
  packed.push_back(toBytes(q.bitMap));
  packed.push_back(toBytes(q.scaleCodes));
  packed.push_back(toBytes(q.zeroCodes));
  packed.push_back(toBytes(q.blockParams));
  packed.push_back(toBytes(q.outliers.rowPtr));
  packed.push_back(toBytes(q.outliers.colIdx));
  packed.push_back(toBytes(q.outliers.values));
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
  q.lowCodes = fromBytes<uint32_t>(packed[MixedLowCodes]);
  q.highCodes = fromBytes<uint32_t>(packed[MixedHighCodes]);
  q.highGroupStart = fromBytes<int32_t>(packed[MixedHighGroupStart]);
  q.bitMap = fromBytes<uint32_t>(packed[MixedBitMap]);
  q.scaleCodes = packed[MixedScaleCodes];
  q.zeroCodes = fromBytes<uint32_t>(packed[MixedZeroCodes]);
  q.blockParams = fromBytes<uint16_t>(packed[MixedBlockParams]);
  q.outliers.rowPtr = fromBytes<int32_t>(packed[MixedRowPtr]);
  q.outliers.colIdx = packed[MixedColIdx];
  q.outliers.values = fromBytes<uint16_t>(packed[MixedValues]);
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
/// (qq - zero) * scale, qq = (low code << (hi - lo)) | extra bits.
struct MixedGroupValues {
  Value isHigh;    ///< i1
  Value extraRow;  ///< index: its row of high_codes, the zero row when low
  Value scaleHalf; ///< f16
  Value scale;     ///< f32 value of scaleHalf
  Value zero;      ///< f32: an integer on the widened grid
};

/// Whether group `g` of `row` is high (i1), and its row of high_codes if it
/// is (index): high_group_start of its map word plus the popcount of the
/// word's bits below g.
std::pair<Value, Value> buildHighGroupIndex(OpBuilder &b, Location loc,
                                            const ComponentReader &reader,
                                            Value row, Value g) {
  Value mapWordIndex =
      arith::DivUIOp::create(b, loc, g, buildIndexConstant(b, loc, 32));
  Value mapWord = reader.load(b, loc, MixedBitMap, {row, mapWordIndex});
  Value bit = arith::IndexCastUIOp::create(
      b, loc, b.getI32Type(),
      arith::RemUIOp::create(b, loc, g, buildIndexConstant(b, loc, 32)));
  Value isHigh = arith::CmpIOp::create(
      b, loc, arith::CmpIPredicate::ne,
      arith::AndIOp::create(b, loc,
                            arith::ShRUIOp::create(b, loc, mapWord, bit),
                            buildI32Constant(b, loc, 1)),
      buildI32Constant(b, loc, 0));
  // (1 << bit) - 1 selects the high groups before g in its map word.
  Value below = arith::SubIOp::create(
      b, loc, arith::ShLIOp::create(b, loc, buildI32Constant(b, loc, 1), bit),
      buildI32Constant(b, loc, 1));
  Value start = reader.load(b, loc, MixedHighGroupStart, {row, mapWordIndex});
  Value index = arith::IndexCastUIOp::create(
      b, loc, b.getIndexType(),
      arith::AddIOp::create(
          b, loc, start,
          math::CtPopOp::create(
              b, loc, arith::AndIOp::create(b, loc, mapWord, below))));
  return {isHigh, index};
}

/// Whether group `g` of `row` is high (i1), and its row of high_codes
/// (index): its own when high, the last, all zeros, when low.
std::pair<Value, Value> buildExtraCodesRow(OpBuilder &b, Location loc,
                                           MixedSchemeAttr attr,
                                           const ComponentReader &reader,
                                           ArrayRef<int64_t> shape, Value row,
                                           Value g) {
  auto [isHigh, highIndex] = buildHighGroupIndex(b, loc, reader, row, g);
  Value zeroRow = buildIndexConstant(b, loc, attr.getNumHighGroups(shape));
  return {isHigh, arith::SelectOp::create(b, loc, isHigh, highIndex, zeroRow)};
}

/// The scale of group `g` of `row` (mixedGroupParams): one scale code and
/// its block's (smin, step), fp16(fma(sc, step, smin)).
Value buildMixedScale(OpBuilder &b, Location loc, MixedSchemeAttr attr,
                      const ComponentReader &reader, Value row, Value g) {
  Value block = arith::DivUIOp::create(
      b, loc, g, buildIndexConstant(b, loc, attr.getBlock()));
  // (smin, step) of the block: elements 2 b and 2 b + 1 of the row.
  Value first =
      arith::MulIOp::create(b, loc, block, buildIndexConstant(b, loc, 2));
  Value second =
      arith::AddIOp::create(b, loc, first, buildIndexConstant(b, loc, 1));
  Value scaleMin = buildExtendToF32(
      b, loc, reader.load(b, loc, MixedBlockParams, {row, first}));
  Value step = buildExtendToF32(
      b, loc, reader.load(b, loc, MixedBlockParams, {row, second}));
  Value scaleCode = arith::UIToFPOp::create(
      b, loc, b.getF32Type(), reader.load(b, loc, MixedScaleCodes, {row, g}));
  return arith::TruncFOp::create(
      b, loc, b.getF16Type(),
      math::FmaOp::create(b, loc, scaleCode, step, scaleMin));
}

/// Emits step 6 of quant/MixedQuantizer.h for group `g` (an index) of
/// `row`: one bit-map word and a popcount, the scale and the zero point.
MixedGroupValues buildMixedGroup(OpBuilder &b, Location loc,
                                 MixedSchemeAttr attr,
                                 const ComponentReader &reader,
                                 ArrayRef<int64_t> shape, Value row, Value g) {
  MixedGroupValues v;
  std::tie(v.isHigh, v.extraRow) =
      buildExtraCodesRow(b, loc, attr, reader, shape, row, g);
  v.scaleHalf = buildMixedScale(b, loc, attr, reader, row, g);
  v.scale = buildExtendToF32(b, loc, v.scaleHalf);
  int64_t zeroWordsPerRow = ::mixq::quant::packedWordCount(
      shape[1] / attr.getGroup(), ::mixq::quant::kMixedZeroCodeBits);
  Value zeroCode =
      buildPackedCodeLoad(b, loc, reader, MixedZeroCodes, row, g,
                          ::mixq::quant::kMixedZeroCodeBits, zeroWordsPerRow);
  unsigned lo = attr.getLo(), hi = attr.getHi();
  float highUnit = ::mixq::quant::mixedZeroUnit(true, lo, hi);
  float lowUnit = ::mixq::quant::mixedZeroUnit(false, lo, hi);
  v.zero = arith::UIToFPOp::create(b, loc, b.getF32Type(), zeroCode);
  if (lowUnit != 1.0f || highUnit != 1.0f) {
    Value unit = buildF32Constant(b, loc, highUnit);
    if (lowUnit != highUnit)
      unit = arith::SelectOp::create(b, loc, v.isHigh, unit,
                                     buildF32Constant(b, loc, lowUnit));
    v.zero = arith::MulFOp::create(b, loc, v.zero, unit);
  }
  return v;
}

/// The dense weights (row, col) .. (row, col + tileCols - 1), without the
/// sparse outliers, as f32 scalars: one group's decode per weight (the
/// reference form). `unscaled`: qq - zero, without the scale.
SmallVector<Value> buildMixedDenseScalars(OpBuilder &b, Location loc,
                                          MixedSchemeAttr attr,
                                          const ComponentReader &reader,
                                          ArrayRef<int64_t> shape, Value row,
                                          Value col, int64_t tileCols,
                                          bool unscaled = false) {
  unsigned lo = attr.getLo(), extraBits = attr.getHi() - lo;
  int64_t group = attr.getGroup();
  int64_t lowWordsPerRow = ::mixq::quant::packedWordCount(shape[1], lo);
  int64_t highWordsPerGroup = group * int64_t(extraBits) / 32;
  SmallVector<Value> values;
  for (int64_t i = 0; i < tileCols; ++i) {
    Value c = i == 0 ? col
                     : arith::AddIOp::create(b, loc, col,
                                             buildIndexConstant(b, loc, i))
                           .getResult();
    Value g =
        arith::DivUIOp::create(b, loc, c, buildIndexConstant(b, loc, group));
    MixedGroupValues params =
        buildMixedGroup(b, loc, attr, reader, shape, row, g);
    // Every code widened to hi bits: the low code shifted up, a high
    // group's extra bits below it.
    Value lowCode = buildPackedCodeLoad(b, loc, reader, MixedLowCodes, row, c,
                                        lo, lowWordsPerRow);
    Value inGroup =
        arith::RemUIOp::create(b, loc, c, buildIndexConstant(b, loc, group));
    Value extra =
        buildPackedCodeLoad(b, loc, reader, MixedHighCodes, params.extraRow,
                            inGroup, extraBits, highWordsPerGroup);
    Value code = arith::OrIOp::create(
        b, loc,
        arith::ShLIOp::create(b, loc, lowCode,
                              buildI32Constant(b, loc, extraBits)),
        extra);
    // (qq - zero) * scale: both exact in f32, and so is the product.
    Value centered = arith::SubFOp::create(
        b, loc, arith::UIToFPOp::create(b, loc, b.getF32Type(), code),
        params.zero);
    values.push_back(
        unscaled ? centered
                 : arith::MulFOp::create(b, loc, centered, params.scale));
  }
  return values;
}

/// The row's CSR slice [begin, end) of the sparse outliers.
std::pair<Value, Value> getOutlierSlice(OpBuilder &b, Location loc,
                                        const ComponentReader &reader,
                                        Value row) {
  Value next =
      arith::AddIOp::create(b, loc, row, buildIndexConstant(b, loc, 1));
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
  Value c1 = buildIndexConstant(b, loc, 1);
  auto [begin, end] = getOutlierSlice(b, loc, reader, row);
  SmallVector<Value> values;
  for (auto [i, value] : llvm::enumerate(dense)) {
    Value c = i == 0 ? col
                     : arith::AddIOp::create(b, loc, col,
                                             buildIndexConstant(b, loc, i))
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

/// The tile column of field n of buildWidenedCodeWords' words (fields LSB
/// first, words in order): field j of word w is code 2 j + w % 2 of low
/// word w / 2.
int64_t getWidenedFieldColumn(unsigned lo, int64_t n) {
  int64_t perWord = 32 / (2 * lo), lowPerWord = 32 / lo;
  int64_t word = n / perWord, j = n % perWord;
  return word / 2 * lowPerWord + 2 * j + word % 2;
}

/// The column of each element of the pair-order vector
/// buildCenteredHalfCodePairs makes from buildWidenedCodeWords' words.
SmallVector<int64_t> getWidenedPairOrderColumns(unsigned lo, int64_t width) {
  int64_t perWord = 32 / (2 * lo), half = perWord / 2;
  SmallVector<int64_t> columns(width);
  for (int64_t n = 0; n < width; ++n) {
    int64_t word = n / perWord, j = n % perWord;
    columns[2 * (word * half + j % half) + j / half] =
        getWidenedFieldColumn(lo, n);
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

namespace {
/// Whether a tile of `width` columns lies in one group and holds whole
/// words of both code streams: one group decode per tile.
bool isWholeGroupTile(MixedSchemeAttr attr, int64_t width) {
  unsigned lo = attr.getLo(), extraBits = attr.getHi() - lo;
  return attr.getGroup() % width == 0 && isWholeWordTile(lo, width) &&
         isWholeWordTile(extraBits, width);
}

/// Whether the codes widen into whole words of hi-bit fields
/// (buildWidenedCodeWords): hi = 2 lo <= 4.
bool widensIntoWords(MixedSchemeAttr attr) {
  return attr.getHi() == 2 * attr.getLo() && attr.getHi() <= 4;
}

/// Whether a whole-group tile is decoded in f16 pairs: an f16 result and
/// codes that widen into whole words.
bool takesHalfPairs(MixedSchemeAttr attr, FloatType resultType) {
  return resultType.isF16() && widensIntoWords(attr);
}

/// qq - zero of a whole-group tile, exact, from the widened code words
/// when the codes widen (widensIntoWords): f16 pairs (`halfPairs`, in the
/// order of getWidenedPairOrderColumns; the zero folded into the
/// magic-number fma) or f32 in buildWordFieldVectorByBytes' order (a
/// shift and a mask per code instead of two of each and an or, and those
/// on all bytes at once); otherwise f32 in column order.
/// `order` is filled in.
Value buildMixedCodeTile(MixedSchemeAttr attr, OpBuilder &b, Location loc,
                         const ComponentReader &reader, Value row, Value col,
                         int64_t width, bool halfPairs,
                         const MixedGroupValues &group,
                         SmallVectorImpl<int64_t> &order) {
  unsigned lo = attr.getLo(), hi = attr.getHi(), extraBits = hi - lo;
  Value inGroup = arith::RemUIOp::create(
      b, loc, col, buildIndexConstant(b, loc, attr.getGroup()));
  if (widensIntoWords(attr)) {
    int64_t words = width * lo / 32;
    Value low = reader.loadVector(
        b, loc, MixedLowCodes,
        {row, arith::DivUIOp::create(b, loc, col,
                                     buildIndexConstant(b, loc, 32 / lo))
                  .getResult()},
        words);
    Value word = arith::DivUIOp::create(
        b, loc, inGroup, buildIndexConstant(b, loc, 32 / extraBits));
    Value extra = reader.loadVector(b, loc, MixedHighCodes,
                                    {group.extraRow, word}, words);
    if (halfPairs) {
      Value zeroHalf =
          arith::TruncFOp::create(b, loc, b.getF16Type(), group.zero);
      order.assign(getWidenedPairOrderColumns(lo, width));
      return buildCenteredHalfCodePairs(
          b, loc, buildWidenedCodeWords(b, loc, low, extra, lo), hi, zeroHalf);
    }
    SmallVector<int64_t> fields;
    Value codes = buildWordFieldVectorByBytes(
        b, loc, buildWidenedCodeWords(b, loc, low, extra, lo), hi, fields);
    order.clear();
    for (int64_t field : fields)
      order.push_back(getWidenedFieldColumn(lo, field));
    Value q = arith::UIToFPOp::create(
        b, loc, VectorType::get({width}, b.getF32Type()), codes);
    return arith::SubFOp::create(b, loc, q,
                                 buildSplat(b, loc, group.zero, width));
  }
  setColumnOrder(order, width);
  Value low =
      buildPackedCodeVector(b, loc, reader, MixedLowCodes, row, col, lo, width);
  Value extra =
      buildPackedCodeVector(b, loc, reader, MixedHighCodes, group.extraRow,
                            inGroup, extraBits, width);
  Value codes = arith::OrIOp::create(
      b, loc,
      arith::ShLIOp::create(
          b, loc, low,
          buildSplat(b, loc, buildI32Constant(b, loc, extraBits), width)),
      extra);
  Value q = arith::UIToFPOp::create(
      b, loc, VectorType::get({width}, b.getF32Type()), codes);
  return arith::SubFOp::create(b, loc, q,
                               buildSplat(b, loc, group.zero, width));
}
} // namespace

namespace {
/// The group of column `col` (an index).
Value buildMixedGroupIndex(MixedSchemeAttr attr, OpBuilder &b, Location loc,
                           Value col) {
  return arith::DivUIOp::create(b, loc, col,
                                buildIndexConstant(b, loc, attr.getGroup()));
}

/// buildDequantVectorInAnyOrder's tile, or with `unscaled` its qq - zero
/// without the scale: a group decode per whole-group tile, otherwise the
/// reference scalars.
Value buildMixedTile(MixedSchemeAttr attr, OpBuilder &b, Location loc,
                     const ComponentReader &reader, ArrayRef<int64_t> shape,
                     Value row, Value col, int64_t width, FloatType resultType,
                     bool unscaled, SmallVectorImpl<int64_t> &order) {
  if (!isWholeGroupTile(attr, width)) {
    setColumnOrder(order, width);
    SmallVector<Value> values = buildMixedDenseScalars(
        b, loc, attr, reader, shape, row, col, width, unscaled);
    for (Value &value : values)
      value = buildTruncateFromF32(b, loc, value, resultType);
    return buildVectorFromScalars(b, loc, values);
  }
  MixedGroupValues group =
      buildMixedGroup(b, loc, attr, reader, shape, row,
                      buildMixedGroupIndex(attr, b, loc, col));
  Value centered =
      buildMixedCodeTile(attr, b, loc, reader, row, col, width,
                         takesHalfPairs(attr, resultType), group, order);
  if (unscaled)
    return buildCodeTileAs(b, loc, centered, resultType);
  return buildScaledCodeTile(b, loc, centered, group.scaleHalf, resultType);
}
} // namespace

// (qq - zero) * scale: qq - zero exact, the product rounded once (f16
// pairs times the f16 scale) or exact (f32) and then rounded to the result
// type: the bits of buildDequantTile and its truncation.
Value MixedSchemeAttr::buildDequantVectorInAnyOrder(
    OpBuilder &b, Location loc, const ComponentReader &reader,
    ArrayRef<int64_t> shape, Value row, Value col, int64_t width,
    FloatType resultType, SmallVectorImpl<int64_t> &order) const {
  return buildMixedTile(*this, b, loc, reader, shape, row, col, width,
                        resultType, /*unscaled=*/false, order);
}

int64_t MixedSchemeAttr::getScaleFactorColumns(ArrayRef<int64_t>) const {
  return getGroup();
}

Value MixedSchemeAttr::buildScaleFactor(OpBuilder &b, Location loc,
                                        const ComponentReader &reader,
                                        ArrayRef<int64_t> shape, Value row,
                                        Value col) const {
  return buildExtendToF32(
      b, loc,
      buildMixedScale(b, loc, *this, reader, row,
                      buildMixedGroupIndex(*this, b, loc, col)));
}

Value MixedSchemeAttr::buildUnscaledDequantVectorInAnyOrder(
    OpBuilder &b, Location loc, const ComponentReader &reader,
    ArrayRef<int64_t> shape, Value row, Value col, int64_t width,
    FloatType resultType, SmallVectorImpl<int64_t> &order) const {
  return buildMixedTile(*this, b, loc, reader, shape, row, col, width,
                        resultType, /*unscaled=*/true, order);
}

Value MixedSchemeAttr::buildIndirectRow(OpBuilder &b, Location loc,
                                        const ComponentReader &reader,
                                        ArrayRef<int64_t> shape,
                                        unsigned component, Value row,
                                        Value col) const {
  if (component != MixedHighCodes)
    return Value();
  return buildExtraCodesRow(b, loc, *this, reader, shape, row,
                            buildMixedGroupIndex(*this, b, loc, col))
      .second;
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
