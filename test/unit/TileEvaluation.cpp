//===- TileEvaluation.cpp - a scheme's dequantization IR, evaluated -------===//
#include "test/unit/TileEvaluation.h"
#include "dialect/MixQ/SchemeUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Utils/Utils.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"

#include <gtest/gtest.h>

#include <cmath>
#include <optional>

using namespace mlir;
using namespace mlir::mixq;

namespace {
/// Element `position` of a constant float scalar or vector.
std::optional<APFloat> getConstantElement(Value value, int64_t position) {
  auto constant = value.getDefiningOp<arith::ConstantOp>();
  if (!constant)
    return std::nullopt;
  if (auto scalar = dyn_cast<FloatAttr>(constant.getValue()))
    return scalar.getValue();
  if (auto elements = dyn_cast<DenseFPElementsAttr>(constant.getValue()))
    return elements.getValues<APFloat>()[position];
  return std::nullopt;
}

/// vector.bitcast of a constant between element widths (i32 words to f16
/// halves or to bytes, bytes back to i32 words) does not fold upstream:
/// reinterpret the little-endian bits here. Returns whether anything
/// changed.
bool foldConstantBitCasts(ModuleOp module) {
  SmallVector<vector::BitCastOp> casts;
  module.walk([&](vector::BitCastOp cast) { casts.push_back(cast); });
  bool changed = false;
  for (vector::BitCastOp cast : casts) {
    auto constant = cast.getSource().getDefiningOp<arith::ConstantOp>();
    auto source = constant ? dyn_cast<DenseIntElementsAttr>(constant.getValue())
                           : DenseIntElementsAttr();
    auto resultType = cast.getResultVectorType();
    Type element = resultType.getElementType();
    if (!source || !(element.isF16() || element.isInteger()))
      continue;
    unsigned bits = element.getIntOrFloatBitWidth();
    unsigned sourceBits = source.getElementType().getIntOrFloatBitWidth();
    // Little-endian: element i of either side holds bits [i * width, (i +
    // 1) * width) of the whole vector.
    APInt whole(sourceBits * source.getNumElements(), 0);
    for (auto [i, value] : llvm::enumerate(source.getValues<APInt>()))
      whole.insertBits(value, sourceBits * i);
    SmallVector<APInt> pieces;
    for (unsigned at = 0; at < whole.getBitWidth(); at += bits)
      pieces.push_back(whole.extractBits(bits, at));
    DenseElementsAttr value;
    if (element.isF16()) {
      SmallVector<APFloat> halves;
      for (const APInt &piece : pieces)
        halves.emplace_back(APFloat::IEEEhalf(), piece);
      value = DenseElementsAttr::get(resultType, halves);
    } else {
      value = DenseElementsAttr::get(resultType, pieces);
    }
    OpBuilder b(cast);
    Value folded =
        arith::ConstantOp::create(b, cast.getLoc(), resultType, value);
    cast.getResult().replaceAllUsesWith(folded);
    cast.erase();
    changed = true;
  }
  return changed;
}

/// vector.gather of a constant table at constant indices does not fold
/// upstream: pick the elements here (all lanes are enabled in the IR the
/// schemes emit; a disabled lane takes the pass-through). Returns whether
/// anything changed.
bool foldConstantGathers(ModuleOp module) {
  SmallVector<vector::GatherOp> gathers;
  module.walk([&](vector::GatherOp gather) { gathers.push_back(gather); });
  bool changed = false;
  for (vector::GatherOp gather : gathers) {
    auto constantOf = [](Value v) {
      auto op = v.getDefiningOp<arith::ConstantOp>();
      return op ? dyn_cast<DenseElementsAttr>(op.getValue())
                : DenseElementsAttr();
    };
    DenseElementsAttr table = constantOf(gather.getBase());
    DenseElementsAttr indices = constantOf(gather.getIndices());
    DenseElementsAttr mask = constantOf(gather.getMask());
    DenseElementsAttr passThrough = constantOf(gather.getPassThru());
    SmallVector<int64_t> offsets;
    for (Value offset : gather.getOffsets()) {
      auto op = offset.getDefiningOp<arith::ConstantIndexOp>();
      if (!op)
        break;
      offsets.push_back(op.value());
    }
    if (!table || !indices || !mask || !passThrough ||
        offsets.size() != gather.getOffsets().size())
      continue;
    auto shape = cast<ShapedType>(table.getType()).getShape();
    auto values = llvm::to_vector(table.getValues<Attribute>());
    auto lanes = llvm::to_vector(indices.getValues<APInt>());
    auto enabled = llvm::to_vector(mask.getValues<bool>());
    auto fallback = llvm::to_vector(passThrough.getValues<Attribute>());
    SmallVector<Attribute> result;
    for (size_t i = 0; i < lanes.size(); ++i) {
      SmallVector<int64_t> position = offsets;
      position.back() += lanes[i].getSExtValue();
      int64_t linear = 0;
      for (size_t d = 0; d < shape.size(); ++d)
        linear = linear * shape[d] + position[d];
      result.push_back(enabled[i] ? values[linear] : fallback[i]);
    }
    OpBuilder b(gather);
    auto type = gather.getVectorType();
    Value folded = arith::ConstantOp::create(
        b, gather.getLoc(), type, DenseElementsAttr::get(type, result));
    gather.getResult().replaceAllUsesWith(folded);
    gather.erase();
    changed = true;
  }
  return changed;
}

/// math.fma has no folder upstream: fold scalar constant operands here,
/// with one rounding (APFloat::fusedMultiplyAdd). Returns whether anything
/// changed.
bool foldConstantFmas(ModuleOp module) {
  SmallVector<math::FmaOp> fmas;
  module.walk([&](math::FmaOp fma) { fmas.push_back(fma); });
  bool changed = false;
  for (math::FmaOp fma : fmas) {
    SmallVector<APFloat, 3> operands;
    for (Value operand : fma->getOperands()) {
      auto constant = operand.getDefiningOp<arith::ConstantOp>();
      auto value =
          constant ? dyn_cast<FloatAttr>(constant.getValue()) : FloatAttr();
      if (!value)
        break;
      operands.push_back(value.getValue());
    }
    if (operands.size() != 3)
      continue;
    APFloat result = operands[0];
    result.fusedMultiplyAdd(operands[1], operands[2],
                            APFloat::rmNearestTiesToEven);
    OpBuilder b(fma);
    Value folded = arith::ConstantFloatOp::create(
        b, fma.getLoc(), cast<FloatType>(fma.getType()), result);
    fma.getResult().replaceAllUsesWith(folded);
    fma.erase();
    changed = true;
  }
  return changed;
}

/// arith.truncf of a scalar constant does not fold when it rounds: round
/// it here, to nearest even as arith.truncf lowers. Returns whether
/// anything changed.
bool foldConstantTruncs(ModuleOp module) {
  SmallVector<arith::TruncFOp> truncs;
  module.walk([&](arith::TruncFOp trunc) { truncs.push_back(trunc); });
  bool changed = false;
  for (arith::TruncFOp trunc : truncs) {
    auto constant = trunc.getIn().getDefiningOp<arith::ConstantOp>();
    auto value =
        constant ? dyn_cast<FloatAttr>(constant.getValue()) : FloatAttr();
    auto type = dyn_cast<FloatType>(trunc.getType());
    if (!value || !type)
      continue;
    APFloat rounded = value.getValue();
    bool losesInfo = false;
    rounded.convert(type.getFloatSemantics(), APFloat::rmNearestTiesToEven,
                    &losesInfo);
    OpBuilder b(trunc);
    Value folded =
        arith::ConstantFloatOp::create(b, trunc.getLoc(), type, rounded);
    trunc.getResult().replaceAllUsesWith(folded);
    trunc.erase();
    changed = true;
  }
  return changed;
}

/// The value of a tile weight that folded to a constant, an element of a
/// constant vector, or the rounding of either: arith.truncf does not fold
/// when it rounds, so it is rounded here (to nearest even, as arith.truncf
/// lowers).
std::optional<double> getConstantValue(Value value) {
  int64_t position = 0;
  if (auto extract = value.getDefiningOp<vector::ExtractOp>()) {
    ArrayRef<int64_t> indices = extract.getStaticPosition();
    if (indices.size() != 1 || indices[0] < 0)
      return std::nullopt;
    position = indices[0];
    value = extract.getSource();
  }
  std::optional<APFloat> element;
  if (auto trunc = value.getDefiningOp<arith::TruncFOp>()) {
    element = getConstantElement(trunc.getIn(), position);
    if (!element)
      return std::nullopt;
    bool losesInfo = false;
    element->convert(cast<FloatType>(getElementTypeOrSelf(trunc.getType()))
                         .getFloatSemantics(),
                     APFloat::rmNearestTiesToEven, &losesInfo);
  } else {
    element = getConstantElement(value, position);
  }
  if (!element)
    return std::nullopt;
  bool losesInfo = false;
  element->convert(APFloat::IEEEdouble(), APFloat::rmNearestTiesToEven,
                   &losesInfo);
  return element->convertToDouble();
}
/// A ComponentReader that reads the indirect components as the CUDA
/// GEMV's StagedReader does after staging: from the row buildIndirectRow
/// named for the current tile, whatever row a load asks for.
class IndirectStagingReader : public ComponentReader {
public:
  IndirectStagingReader(ValueRange components, QuantSchemeAttrInterface scheme,
                        ArrayRef<int64_t> shape, bool withTables)
      : ComponentReader(components), scheme(scheme), shape(shape),
        tables(withTables ? scheme.getRowTables(shape).size() : 0) {}

  /// The tile's row of component `index`, or none for direct components.
  llvm::DenseMap<unsigned, Value> rows;

  Value load(OpBuilder &b, Location loc, unsigned index,
             ValueRange indices) const override {
    return ComponentReader::load(b, loc, index, redirect(index, indices));
  }
  Value loadVector(OpBuilder &b, Location loc, unsigned index,
                   ValueRange indices, int64_t count) const override {
    return ComponentReader::loadVector(b, loc, index, redirect(index, indices),
                                       count);
  }

  bool hasRowTable(unsigned table) const override { return table < tables; }

  /// Each entry asked for, as the scheme builds it from the components.
  Value gatherRowTable(OpBuilder &b, Location loc, unsigned table, Value row,
                       Value entries) const override {
    auto type = cast<VectorType>(entries.getType());
    SmallVector<Value> values;
    for (int64_t i = 0; i < type.getNumElements(); ++i) {
      Value entry = arith::IndexCastUIOp::create(
          b, loc, b.getIndexType(),
          vector::ExtractOp::create(b, loc, entries, i));
      values.push_back(scheme.buildRowTableEntry(
          b, loc, ComponentReader(getComponents()), shape, table, row, entry));
      EXPECT_TRUE(values.back()) << "no entry of row table " << table;
      if (!values.back())
        return Value();
    }
    return buildVectorFromScalars(b, loc, values);
  }

private:
  SmallVector<Value> getComponents() const {
    SmallVector<Value> out;
    for (unsigned i = 0; i < getNumComponents(); ++i)
      out.push_back(getComponent(i));
    return out;
  }

  QuantSchemeAttrInterface scheme;
  ArrayRef<int64_t> shape;
  size_t tables;

  SmallVector<Value> redirect(unsigned index, ValueRange indices) const {
    SmallVector<Value> out(indices.begin(), indices.end());
    if (auto it = rows.find(index); it != rows.end())
      out.front() = it->second;
    return out;
  }
};

/// Folds `module` until its loops are gone: canonicalize, unroll the loops
/// whose bounds became constants, repeat.
void foldToConstants(MLIRContext &context, ModuleOp module) {
  // Fold: canonicalize, unroll the loops whose bounds became constants,
  // repeat until no loop is left.
  for (int round = 0; round < 10; ++round) {
    PassManager pm(&context);
    pm.addPass(createCanonicalizerPass());
    EXPECT_TRUE(succeeded(pm.run(module)));
    if (foldConstantBitCasts(module) | foldConstantFmas(module) |
        foldConstantTruncs(module) | foldConstantGathers(module)) {
      --round;
      continue;
    }
    SmallVector<scf::ForOp> loops;
    module.walk([&](scf::ForOp loop) { loops.push_back(loop); });
    if (loops.empty())
      break;
    for (scf::ForOp loop : loops)
      (void)loopUnrollFull(loop);
  }
}

/// The constant values `func` returns; a value that did not fold is a test
/// failure (and NaN).
std::vector<double> getReturnedConstants(func::FuncOp func) {
  std::vector<double> out;
  auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
  for (Value v : ret.getOperands()) {
    std::optional<double> value = getConstantValue(v);
    if (!value) {
      std::string op;
      llvm::raw_string_ostream os(op);
      if (Operation *def = v.getDefiningOp())
        def->print(os);
      ADD_FAILURE() << "a tile value did not fold to a constant: " << op;
    }
    out.push_back(value.value_or(NAN));
  }
  return out;
}

/// buildBiasedDequantVectorInAnyOrder's tile less each element's bias and
/// the tile's zero, in f32, back in the tile's type (exact: the elements,
/// biases and zero are small integers), which must equal
/// buildUnscaledDequantVectorInAnyOrder's tile. Null (a test failure) when the
/// scheme builds no biased tile.
Value buildUnbiasedTile(OpBuilder &b, Location loc,
                        QuantSchemeAttrInterface scheme,
                        const ComponentReader &reader, ArrayRef<int64_t> shape,
                        Value row, Value col, int64_t tileCols,
                        FloatType resultType, SmallVectorImpl<int64_t> &order) {
  SmallVector<double> bias;
  Value zero;
  Value tile = scheme.buildBiasedDequantVectorInAnyOrder(
      b, loc, reader, shape, row, col, tileCols, resultType, order, bias, zero);
  if (!tile)
    return Value();
  EXPECT_EQ(tile.getType(), VectorType::get({tileCols}, resultType));
  EXPECT_EQ(bias.size(), static_cast<size_t>(tileCols));
  EXPECT_TRUE(zero && zero.getType().isF32()) << "no f32 zero";
  if (bias.size() != static_cast<size_t>(tileCols) || !zero ||
      !zero.getType().isF32())
    return Value();
  auto type = VectorType::get({tileCols}, b.getF32Type());
  SmallVector<float> biases(bias.begin(), bias.end());
  Value offsets = arith::AddFOp::create(
      b, loc,
      arith::ConstantOp::create(b, loc, type,
                                DenseElementsAttr::get(type, ArrayRef(biases))),
      buildSplat(b, loc, zero, tileCols));
  return buildTruncateFromF32(
      b, loc,
      arith::SubFOp::create(b, loc, buildExtendToF32(b, loc, tile), offsets),
      resultType);
}
} // namespace

namespace mixq::test {
std::vector<double> evaluateTiles(MLIRContext &context,
                                  QuantSchemeAttrInterface scheme,
                                  ArrayRef<int64_t> shape,
                                  const PackedWeights &packed, int64_t tileCols,
                                  FloatType resultType, TileForm form,
                                  IndirectReads indirect, RowTables tables) {
  context.loadDialect<arith::ArithDialect, func::FuncDialect, math::MathDialect,
                      scf::SCFDialect, tensor::TensorDialect,
                      vector::VectorDialect>();
  OpBuilder b(&context);
  Location loc = b.getUnknownLoc();
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  b.setInsertionPointToEnd(module->getBody());
  int64_t rows = shape[0], cols = shape[1];
  SmallVector<Type> results(rows * cols, resultType);
  auto func =
      func::FuncOp::create(b, loc, "tiles", b.getFunctionType({}, results));
  b.setInsertionPointToStart(func.addEntryBlock());
  SmallVector<Value> components;
  for (auto [spec, bytes] :
       llvm::zip_equal(scheme.getComponents(shape), packed))
    components.push_back(
        arith::ConstantOp::create(b, loc, getComponentAttr(spec, bytes)));
  IndirectStagingReader reader(components, scheme, shape,
                               tables == RowTables::Built);
  ComponentReader asAsked(components);
  SmallVector<Value> values;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; c += tileCols) {
      Value row = arith::ConstantIndexOp::create(b, loc, r);
      Value col = arith::ConstantIndexOp::create(b, loc, c);
      if (indirect == IndirectReads::Staged)
        for (auto [index, spec] : llvm::enumerate(scheme.getComponents(shape)))
          if (spec.indirectColumns) {
            Value source = scheme.buildIndirectRow(b, loc, asAsked, shape,
                                                   index, row, col);
            EXPECT_TRUE(source) << "no row of indirect component " << index;
            if (!source)
              return {};
            reader.rows[index] = source;
          }
      if (form == TileForm::Scalars) {
        llvm::append_range(values,
                           scheme.buildDequantTile(b, loc, reader, shape, row,
                                                   col, tileCols, resultType));
        continue;
      }
      if (form == TileForm::ScaleFactor) {
        Value factor = scheme.buildScaleFactor(b, loc, reader, shape, row, col);
        EXPECT_TRUE(factor && factor.getType().isF32() && resultType.isF32())
            << "no f32 scale factor";
        if (!factor || factor.getType() != resultType)
          return {};
        values.append(tileCols, factor);
        continue;
      }
      SmallVector<int64_t> order;
      Value tile;
      if (form == TileForm::Vector)
        tile = scheme.buildDequantVector(b, loc, reader, shape, row, col,
                                         tileCols, resultType);
      else if (form == TileForm::AnyOrder)
        tile = scheme.buildDequantVectorInAnyOrder(
            b, loc, reader, shape, row, col, tileCols, resultType, order);
      else if (form == TileForm::Unscaled)
        tile = scheme.buildUnscaledDequantVectorInAnyOrder(
            b, loc, reader, shape, row, col, tileCols, resultType, order);
      else
        tile = buildUnbiasedTile(b, loc, scheme, reader, shape, row, col,
                                 tileCols, resultType, order);
      EXPECT_TRUE(tile) << "no tile";
      if (!tile)
        return {};
      EXPECT_EQ(tile.getType(), VectorType::get({tileCols}, resultType));
      if (form == TileForm::Vector)
        setColumnOrder(order, tileCols);
      SmallVector<int64_t> sorted(order);
      llvm::sort(sorted);
      EXPECT_TRUE(llvm::equal(sorted, llvm::seq<int64_t>(0, tileCols)))
          << "the order is not a permutation of the tile's columns";
      if (sorted.size() != static_cast<size_t>(tileCols))
        return {};
      // Element p is column order[p].
      SmallVector<Value> inColumns(tileCols);
      for (auto [p, column] : llvm::enumerate(order))
        inColumns[column] = vector::ExtractOp::create(b, loc, tile, p);
      llvm::append_range(values, inColumns);
    }
  func::ReturnOp::create(b, loc, values);
  EXPECT_TRUE(succeeded(verify(*module)));

  foldToConstants(context, *module);
  return getReturnedConstants(func);
}

std::vector<double> evaluateSparseDots(MLIRContext &context,
                                       QuantSchemeAttrInterface scheme,
                                       ArrayRef<int64_t> shape,
                                       const PackedWeights &packed,
                                       int64_t first, int64_t step) {
  context.loadDialect<arith::ArithDialect, func::FuncDialect, math::MathDialect,
                      scf::SCFDialect, tensor::TensorDialect,
                      vector::VectorDialect>();
  OpBuilder b(&context);
  Location loc = b.getUnknownLoc();
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  b.setInsertionPointToEnd(module->getBody());
  SmallVector<Type> results(shape[0], b.getF32Type());
  auto func =
      func::FuncOp::create(b, loc, "dots", b.getFunctionType({}, results));
  b.setInsertionPointToStart(func.addEntryBlock());
  SmallVector<Value> components;
  for (auto [spec, bytes] :
       llvm::zip_equal(scheme.getComponents(shape), packed))
    components.push_back(
        arith::ConstantOp::create(b, loc, getComponentAttr(spec, bytes)));
  ComponentReader reader(components);
  // 2^(c - 64): the f32 bits (c - 64 + 127) << 23.
  auto loadInput = [](OpBuilder &lb, Location ll, Value col) -> Value {
    Value biased = arith::IndexCastUIOp::create(
        lb, ll, lb.getI32Type(),
        arith::AddIOp::create(lb, ll, col,
                              arith::ConstantIndexOp::create(lb, ll, 63)));
    Value bits = arith::ShLIOp::create(
        lb, ll, biased,
        arith::ConstantIntOp::create(lb, ll, lb.getI32Type(), 23));
    return arith::BitcastOp::create(lb, ll, lb.getF32Type(), bits);
  };
  SmallVector<Value> values;
  for (int64_t r = 0; r < shape[0]; ++r) {
    Value sum = scheme.buildSparseDot(
        b, loc, reader, shape, arith::ConstantIndexOp::create(b, loc, r),
        arith::ConstantIndexOp::create(b, loc, first),
        arith::ConstantIndexOp::create(b, loc, step), loadInput);
    if (!sum)
      return {};
    EXPECT_LE(shape[1], 190) << "2^(c - 64) would leave the f32 range";
    values.push_back(sum);
  }
  func::ReturnOp::create(b, loc, values);
  EXPECT_TRUE(succeeded(verify(*module)));
  foldToConstants(context, *module);
  return getReturnedConstants(func);
}
} // namespace mixq::test
