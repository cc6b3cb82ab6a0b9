//===- LowerToLinalg.cpp - reference lowering of mixq to linalg -----------===//
//
// The executable definition of mixq.dequantize / mixq.matmul. Every scheme
// lowers through QuantSchemeAttrInterface::buildDequantTile (or, with
// dequant-vector-width, buildDequantVector); nothing here knows which
// schemes exist.
//===----------------------------------------------------------------------===//
#include "dialect/MixQ/MixQOps.h"
#include "dialect/MixQ/SchemeUtils.h"
#include "passes/LinalgBuilders.h"
#include "passes/Dispatch.h"
#include "passes/Passes.h"
#include "passes/QuantizeActLowering.h"

#include "mlir/Dialect/Func/Transforms/FuncConversions.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/IndexingUtils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::mixq {
#define GEN_PASS_DEF_MIXQLOWERTOLINALG
#include "passes/Passes.h.inc"
} // namespace mlir::mixq

using namespace mlir;
using namespace mlir::mixq;

namespace {

/// Emits one elementwise linalg.generic computing the N x K matrix of
/// `type` from its component tensors, in `elementType`.
Value buildDequantized(OpBuilder &b, Location loc, QTensorType type,
                       ValueRange components, FloatType elementType) {
  ArrayRef<int64_t> shape = type.getShape();
  auto resultType = RankedTensorType::get(shape, elementType);
  Value init = tensor::EmptyOp::create(b, loc, shape, elementType);
  SmallVector<AffineMap> maps = {b.getMultiDimIdentityMap(2)};
  SmallVector<utils::IteratorType> iterators(2, utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{resultType}, ValueRange{}, ValueRange{init}, maps,
      iterators, [&](OpBuilder &nb, Location nloc, ValueRange) {
        Value row = linalg::IndexOp::create(nb, nloc, 0);
        Value col = linalg::IndexOp::create(nb, nloc, 1);
        ComponentReader reader(components);
        SmallVector<Value> tile = type.getScheme().buildDequantTile(
            nb, nloc, reader, shape, row, col, /*tileCols=*/1, elementType);
        linalg::YieldOp::create(nb, nloc, tile.front());
      });
  // Backends fuse the dequantization into its consumer by this marker, so
  // that the full-precision matrix is never materialized.
  generic->setAttr(kDequantizeMarker, b.getUnitAttr());
  return generic.getResult(0);
}

struct AssembleLowering : OpConversionPattern<AssembleOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(AssembleOp op, OneToNOpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    SmallVector<Value> components;
    for (ValueRange converted : adaptor.getComponents())
      llvm::append_range(components, converted);
    rewriter.replaceOpWithMultiple(op, {components});
    return success();
  }
};

struct DequantizeLowering : OpConversionPattern<DequantizeOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(DequantizeOp op, OneToNOpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = cast<QTensorType>(op.getInput().getType());
    auto elementType = cast<FloatType>(op.getType().getElementType());
    rewriter.replaceOp(op, buildDequantized(rewriter, op.getLoc(), type,
                                            adaptor.getInput(), elementType));
    return success();
  }
};

/// How buildVectorDotMatmul takes a row's weights.
struct VectorDotPlan {
  /// Columns per step (a tile).
  int64_t width = 0;
  /// The columns sharing a scale factor when the loop sums unscaled tiles
  /// and multiplies each run's sum by its factor (getScaleFactorColumns);
  /// 0 when it takes the weights scaled.
  int64_t factorRun = 0;
  /// The unscaled tiles' order (element p is column order[p]); empty when
  /// it is the column order.
  SmallVector<int64_t> order;
  /// The lanes of a factored run's sums (vector-sum-lanes).
  int64_t sumLanes = 0;
  /// The entries of the largest table a lookup permutes in one register
  /// (register-table-entries); 0: lookups are vector.gathers.
  int64_t registerTableEntries = 0;
  /// Whether the unscaled tiles are values less a lane offset
  /// (buildsLaneOffsetTiles): the loop then sums values times x, and each
  /// tile's offset times x's sum over the tile in a scalar beside them.
  bool laneOffsets = false;
};

/// The plan for tiles of `width` columns: factored when the scheme has
/// scale factors whose runs hold whole tiles and builds them. A factored
/// step then costs the scheme's unscaled tile (q - z for affine) and one
/// FMA, and each run one more FMA, instead of a multiply per weight and
/// the group's scale decoded for every tile.
VectorDotPlan planVectorDot(QTensorType type, FloatType elementType,
                            int64_t width, int64_t sumLanes,
                            int64_t registerTableEntries) {
  VectorDotPlan plan;
  plan.width = width;
  plan.registerTableEntries = registerTableEntries;
  plan.sumLanes = sumLanes > 0 && width % sumLanes == 0 ? sumLanes : width;
  QuantSchemeAttrInterface scheme = type.getScheme();
  ArrayRef<int64_t> shape = type.getShape();
  int64_t run = scheme.getScaleFactorColumns(shape);
  if (run <= 0 || run % width != 0 || shape[1] % run != 0 ||
      !buildsScaleFactors(scheme, shape, width, elementType))
    return plan;
  plan.factorRun = run;
  plan.laneOffsets = buildsLaneOffsetTiles(scheme, shape, width, elementType);
  plan.order = getDequantVectorOrder(scheme, shape, width, elementType,
                                     /*unscaled=*/true);
  if (isIdentityPermutation(plan.order))
    plan.order.clear();
  return plan;
}

using LoopBody =
    function_ref<SmallVector<Value>(OpBuilder &, Location, Value, ValueRange)>;

/// An scf.for from `begin` to `end` (exclusive) by `step` carrying `inits`,
/// which `body` maps to their next values.
SmallVector<Value> buildLoop(OpBuilder &b, Location loc, Value begin, Value end,
                             Value step, ValueRange inits, LoopBody body) {
  auto loop = scf::ForOp::create(
      b, loc, begin, end, step, inits,
      [&](OpBuilder &lb, Location lloc, Value k, ValueRange carried) {
        scf::YieldOp::create(lb, lloc, body(lb, lloc, k, carried));
      });
  return SmallVector<Value>(loop.getResults());
}

/// The same loop over all K columns.
SmallVector<Value> buildLoopOverK(OpBuilder &b, Location loc, int64_t k,
                                  int64_t step, ValueRange inits,
                                  LoopBody body) {
  Value begin = arith::ConstantIndexOp::create(b, loc, 0);
  Value stride = arith::ConstantIndexOp::create(b, loc, step);
  Value end = arith::ConstantIndexOp::create(b, loc, k);
  return buildLoop(b, loc, begin, end, stride, inits, body);
}

/// The f32 sum of each tile of `width` columns of x's rows, as a tensor<M x
/// K / width x f32>: what a tile's lane offset multiplies.
Value buildInputTileSums(OpBuilder &b, Location loc, Value x, int64_t k,
                         int64_t width) {
  auto xType = cast<RankedTensorType>(x.getType());
  int64_t tiles = k / width;
  Value init = buildZeroRows(b, loc, x, tiles);
  // x as M x tiles x width, reduced over the last dimension.
  SmallVector<OpFoldResult> tiledShape = {tensor::getMixedSize(b, loc, x, 0),
                                          b.getIndexAttr(tiles),
                                          b.getIndexAttr(width)};
  auto tiledType = RankedTensorType::get({xType.getDimSize(0), tiles, width},
                                         xType.getElementType());
  Value tiled = tensor::ExpandShapeOp::create(
      b, loc, tiledType, x,
      {ReassociationIndices{0}, ReassociationIndices{1, 2}}, tiledShape);
  SmallVector<AffineMap> maps = {
      b.getMultiDimIdentityMap(3),
      AffineMap::getMultiDimIdentityMap(3, b.getContext()).dropResult(2)};
  SmallVector<utils::IteratorType> iterators = {utils::IteratorType::parallel,
                                                utils::IteratorType::parallel,
                                                utils::IteratorType::reduction};
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{init.getType()}, ValueRange{tiled}, ValueRange{init},
      maps, iterators, [&](OpBuilder &nb, Location nloc, ValueRange args) {
        Value sum = arith::AddFOp::create(nb, nloc, args[1],
                                          buildExtendToF32(nb, nloc, args[0]));
        linalg::YieldOp::create(nb, nloc, sum);
      });
  return generic.getResult(0);
}

/// x[m, k .. k + width - 1] in f32 (from buildTileOrderedInput's x when the
/// tiles have an order).
Value loadInputTile(OpBuilder &b, Location loc, Value x, Value m, Value k,
                    const VectorDotPlan &plan) {
  ComponentReader input(ValueRange{x});
  return buildExtendToF32(b, loc,
                          input.loadVector(b, loc, 0, {m, k}, plan.width));
}

/// x with the columns of every tile in the plan's order: element k + p is
/// x[k + order[p]] for each tile start k. Permuting x once per matmul
/// instead of once per row and tile keeps shuffles out of the row loop.
Value buildTileOrderedInput(OpBuilder &b, Location loc, Value x,
                            const VectorDotPlan &plan) {
  auto xType = cast<RankedTensorType>(x.getType());
  SmallVector<int32_t> order(plan.order.begin(), plan.order.end());
  auto tableType = RankedTensorType::get({plan.width}, b.getI32Type());
  Value table = arith::ConstantOp::create(
      b, loc, DenseIntElementsAttr::get(tableType, ArrayRef<int32_t>(order)));
  Value init = tensor::EmptyOp::create(b, loc, tensor::getMixedSizes(b, loc, x),
                                       xType.getElementType());
  SmallVector<AffineMap> maps = {b.getMultiDimIdentityMap(2)};
  SmallVector<utils::IteratorType> iterators(2, utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{xType}, ValueRange{}, ValueRange{init}, maps, iterators,
      [&](OpBuilder &nb, Location nloc, ValueRange) {
        Value m = linalg::IndexOp::create(nb, nloc, 0);
        Value k = linalg::IndexOp::create(nb, nloc, 1);
        Value width = arith::ConstantIndexOp::create(nb, nloc, plan.width);
        Value p = arith::RemUIOp::create(nb, nloc, k, width);
        Value tileStart = arith::SubIOp::create(nb, nloc, k, p);
        Value source = arith::AddIOp::create(
            nb, nloc, tileStart,
            arith::IndexCastUIOp::create(
                nb, nloc, nb.getIndexType(),
                tensor::ExtractOp::create(nb, nloc, table, ValueRange{p})));
        linalg::YieldOp::create(
            nb, nloc,
            tensor::ExtractOp::create(nb, nloc, x, ValueRange{m, source})
                .getResult());
      });
  return generic.getResult(0);
}

/// The dense part of a row's dot product: a vector of partial sums, less
/// `offset` (an f32 scalar) when there is one.
struct RowDot {
  Value sums;
  Value offset;
};

/// `acc` + the products of x's tile `xs` and the weights `w` (both
/// vector<width x f32>), in acc's lanes: the tile's slices of that many
/// lanes one FMA after another.
Value buildAddProducts(OpBuilder &b, Location loc, Value xs, Value w,
                       Value acc) {
  int64_t width = cast<VectorType>(w.getType()).getDimSize(0);
  int64_t lanes = cast<VectorType>(acc.getType()).getDimSize(0);
  auto slice = [&](Value v, int64_t first) -> Value {
    if (lanes == width)
      return v;
    return vector::ExtractStridedSliceOp::create(b, loc, v, {first}, {lanes},
                                                 {1});
  };
  for (int64_t first = 0; first < width; first += lanes)
    acc = vector::FMAOp::create(b, loc, slice(xs, first), slice(w, first), acc);
  return acc;
}

/// The largest table a lookup permutes, in pieces of registerEntries
/// entries selected by the codes' high bits: 4 pieces, two levels of
/// selects.
constexpr int64_t kMaxRegisterTablePieces = 4;

/// `table[codes[i]]` for each lane i, `table` a vector: a dynamic extract
/// per lane, which LLVM's x86 backend turns into one variable permute
/// (vpermps) per register when the table fills at most one.
Value buildRegisterLookup(OpBuilder &b, Location loc, Value table,
                          Value codes) {
  auto codesType = cast<VectorType>(codes.getType());
  SmallVector<Value> lanes;
  for (int64_t i = 0; i < codesType.getNumElements(); ++i) {
    Value code = vector::ExtractOp::create(b, loc, codes, i);
    if (!code.getType().isIndex())
      code = arith::IndexCastUIOp::create(b, loc, b.getIndexType(), code);
    lanes.push_back(
        vector::ExtractOp::create(b, loc, table, OpFoldResult(code)));
  }
  return buildVectorFromScalars(b, loc, lanes);
}

/// A splat of `value` in the shape and element type of vector `like`.
Value buildSplatLike(OpBuilder &b, Location loc, Value like, int64_t value) {
  auto type = cast<VectorType>(like.getType());
  Type element = type.getElementType();
  Attribute scalar = element.isIndex() ? b.getIndexAttr(value)
                                       : b.getIntegerAttr(element, value);
  return arith::ConstantOp::create(b, loc,
                                   DenseElementsAttr::get(type, scalar));
}

/// The lookups of a table's consecutive pieces of `pieceEntries` entries
/// each, merged: pairs of pieces by the codes' next bit, until one is left.
Value buildSelectByCodeBits(OpBuilder &b, Location loc,
                            SmallVector<Value> pieces, Value codes,
                            int64_t pieceEntries) {
  for (int64_t bit = pieceEntries; pieces.size() > 1; bit *= 2) {
    Value isSet = arith::CmpIOp::create(
        b, loc, arith::CmpIPredicate::ne,
        arith::AndIOp::create(b, loc, codes,
                              buildSplatLike(b, loc, codes, bit)),
        buildSplatLike(b, loc, codes, 0));
    SmallVector<Value> next;
    for (size_t i = 0; i < pieces.size(); i += 2)
      next.push_back(
          arith::SelectOp::create(b, loc, isSet, pieces[i + 1], pieces[i]));
    pieces = std::move(next);
  }
  return pieces.front();
}

/// Reads components as ComponentReader does, but looks codes up in a small
/// table (a row of a codebook of at most kMaxRegisterTablePieces *
/// `registerEntries` entries) by permuting registers of its entries, in
/// f32: a vector.gather is a load per lane, microcoded on many x86 cores
/// (vpgatherdd). A table of more than `registerEntries` entries is
/// permuted a piece at a time by the codes' low bits, and their high bits
/// select the piece. Codes are masked to the table, so a corrupt code
/// cannot read outside it.
class RegisterTableReader : public ComponentReader {
public:
  RegisterTableReader(ValueRange components, int64_t registerEntries)
      : ComponentReader(components), registerEntries(registerEntries) {}

  Value gather(OpBuilder &b, Location loc, unsigned index, ValueRange leading,
               Value lastIndices) const override {
    auto type = dyn_cast<FloatType>(
        getElementTypeOrSelf(getComponent(index).getType()));
    if (type)
      if (Value entries = lookUp(b, loc, index, leading, lastIndices, type))
        return entries;
    return ComponentReader::gather(b, loc, index, leading, lastIndices);
  }

  Value gatherAs(OpBuilder &b, Location loc, unsigned index, ValueRange leading,
                 Value lastIndices, FloatType type) const override {
    if (Value entries = lookUp(b, loc, index, leading, lastIndices, type))
      return entries;
    return ComponentReader::gatherAs(b, loc, index, leading, lastIndices, type);
  }

private:
  /// The lookup in registers, in `type`; null when the table does not
  /// qualify.
  Value lookUp(OpBuilder &b, Location loc, unsigned index, ValueRange leading,
               Value lastIndices, FloatType type) const {
    auto shaped = cast<ShapedType>(getComponent(index).getType());
    int64_t entries = shaped.getShape().back();
    if (registerEntries <= 0 || ShapedType::isDynamic(entries) ||
        !isa<FloatType>(shaped.getElementType()) ||
        !llvm::isPowerOf2_64(entries) ||
        entries > kMaxRegisterTablePieces * registerEntries)
      return Value();
    SmallVector<Value> first(leading.begin(), leading.end());
    first.push_back(arith::ConstantIndexOp::create(b, loc, 0));
    Value table =
        buildExtendToF32(b, loc, loadVector(b, loc, index, first, entries));
    int64_t pieceEntries = std::min(entries, registerEntries);
    Value low = arith::AndIOp::create(
        b, loc, lastIndices,
        buildSplatLike(b, loc, lastIndices, pieceEntries - 1));
    SmallVector<Value> pieces;
    for (int64_t start = 0; start < entries; start += pieceEntries) {
      Value piece = table;
      if (pieceEntries < entries)
        piece = vector::ExtractStridedSliceOp::create(b, loc, table, {start},
                                                      {pieceEntries}, {1});
      pieces.push_back(buildRegisterLookup(b, loc, piece, low));
    }
    return buildTruncateFromF32(
        b, loc,
        buildSelectByCodeBits(b, loc, pieces, lastIndices, pieceEntries), type);
  }

  int64_t registerEntries;
};

/// Row n's dot product with x's row m (`x` in the plan's tile order;
/// `tileSums` buildInputTileSums' with lane offsets).
RowDot buildRowDot(OpBuilder &b, Location loc, Value x, Value tileSums, Value m,
                   Value n, QTensorType type, ValueRange components,
                   FloatType elementType, const VectorDotPlan &plan) {
  QuantSchemeAttrInterface scheme = type.getScheme();
  ArrayRef<int64_t> shape = type.getShape();
  auto zeros = [&](int64_t lanes) -> Value {
    auto type = VectorType::get({lanes}, b.getF32Type());
    return arith::ConstantOp::create(b, loc,
                                     DenseElementsAttr::get(type, 0.0f));
  };
  if (!plan.factorRun) {
    auto tiles = [&](OpBuilder &lb, Location lloc, Value col,
                     ValueRange acc) -> SmallVector<Value> {
      RegisterTableReader reader(components, plan.registerTableEntries);
      Value w = buildExtendToF32(
          lb, lloc,
          scheme.buildDequantVector(lb, lloc, reader, shape, n, col, plan.width,
                                    elementType));
      Value xs = loadInputTile(lb, lloc, x, m, col, plan);
      return {buildAddProducts(lb, lloc, xs, w, acc[0])};
    };
    return {buildLoopOverK(b, loc, shape[1], plan.width, {zeros(plan.width)},
                           tiles)[0],
            Value()};
  }
  // The sums of a run's tiles, unscaled; with lane offsets, beside them the
  // sum of each tile's offset times x's sum over the tile.
  SmallVector<Value> inits = {zeros(plan.sumLanes)};
  if (plan.laneOffsets)
    inits.push_back(arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f)));
  auto unscaledTiles = [&](OpBuilder &lb, Location lloc, Value col,
                           ValueRange sums) -> SmallVector<Value> {
    RegisterTableReader reader(components, plan.registerTableEntries);
    SmallVector<int64_t> order;
    Value tile = scheme.buildUnscaledDequantVectorInAnyOrder(
        lb, lloc, reader, shape, n, col, plan.width, elementType, order);
    SmallVector<Value> next = llvm::to_vector(sums.drop_front());
    if (plan.laneOffsets) {
      if (std::optional<LaneOffsetTile> split = matchLaneOffsetTile(tile)) {
        tile = split->values;
        Value width = arith::ConstantIndexOp::create(lb, lloc, plan.width);
        Value xSum = tensor::ExtractOp::create(
            lb, lloc, tileSums,
            ValueRange{m, arith::DivUIOp::create(lb, lloc, col, width)});
        next[0] = math::FmaOp::create(
            lb, lloc, buildExtendToF32(lb, lloc, split->offset), xSum, sums[1]);
      }
    }
    Value w = buildExtendToF32(lb, lloc, tile);
    Value xs = loadInputTile(lb, lloc, x, m, col, plan);
    next.insert(next.begin(), buildAddProducts(lb, lloc, xs, w, sums[0]));
    return next;
  };
  // Each run's sums times the run's factor.
  auto runs = [&](OpBuilder &rb, Location rloc, Value runBegin,
                  ValueRange acc) -> SmallVector<Value> {
    Value runEnd = arith::AddIOp::create(
        rb, rloc, runBegin,
        arith::ConstantIndexOp::create(rb, rloc, plan.factorRun));
    SmallVector<Value> sums =
        buildLoop(rb, rloc, runBegin, runEnd,
                  arith::ConstantIndexOp::create(rb, rloc, plan.width), inits,
                  unscaledTiles);
    ComponentReader reader(components);
    Value factor =
        scheme.buildScaleFactor(rb, rloc, reader, shape, n, runBegin);
    Value factors = vector::BroadcastOp::create(
        rb, rloc, cast<VectorType>(sums[0].getType()), factor);
    SmallVector<Value> next = {
        vector::FMAOp::create(rb, rloc, factors, sums[0], acc[0])};
    if (plan.laneOffsets)
      next.push_back(math::FmaOp::create(rb, rloc, factor, sums[1], acc[1]));
    return next;
  };
  SmallVector<Value> dot =
      buildLoopOverK(b, loc, shape[1], plan.factorRun, inits, runs);
  return {dot[0], plan.laneOffsets ? dot[1] : Value()};
}

/// y[m, n] = sum_k x[m, k] * W[n, k] in f32, W dequantized `plan.width`
/// columns at a time (buildDequantVector, or unscaled tiles and their runs'
/// factors: planVectorDot) into a vector<width x f32> of partial sums that
/// is reduced at the end of the row, plus the scheme's sparse terms
/// (buildSparseDot): one linalg.generic over (m, n) whose body loops over K.
Value buildVectorDotMatmul(OpBuilder &b, Location loc, Value x,
                           QTensorType type, ValueRange components,
                           FloatType elementType, const VectorDotPlan &plan) {
  auto xType = cast<RankedTensorType>(x.getType());
  ArrayRef<int64_t> shape = type.getShape();
  Type f32 = b.getF32Type();
  SmallVector<int64_t> outShape = {xType.getDimSize(0), shape[0]};
  SmallVector<Value> dynamicDims;
  if (ShapedType::isDynamic(outShape[0]))
    dynamicDims.push_back(tensor::DimOp::create(b, loc, x, 0));
  Value init = tensor::EmptyOp::create(b, loc, outShape, f32, dynamicDims);
  SmallVector<AffineMap> maps = {b.getMultiDimIdentityMap(2)};
  SmallVector<utils::IteratorType> iterators(2, utils::IteratorType::parallel);
  auto reassoc = arith::FastMathFlags::reassoc | arith::FastMathFlags::contract;
  Value tileX = plan.order.empty() ? x : buildTileOrderedInput(b, loc, x, plan);
  Value tileSums = plan.laneOffsets
                       ? buildInputTileSums(b, loc, x, shape[1], plan.width)
                       : Value();
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{init.getType()}, ValueRange{}, ValueRange{init}, maps,
      iterators, [&](OpBuilder &nb, Location nloc, ValueRange) {
        Value m = linalg::IndexOp::create(nb, nloc, 0);
        Value n = linalg::IndexOp::create(nb, nloc, 1);
        RowDot dot = buildRowDot(nb, nloc, tileX, tileSums, m, n, type,
                                 components, elementType, plan);
        Value sum = vector::ReductionOp::create(
            nb, nloc, vector::CombiningKind::ADD, dot.sums, Value(), reassoc);
        if (dot.offset)
          sum = arith::SubFOp::create(nb, nloc, sum, dot.offset);
        // The sparse terms the vectors leave out (outliers), once per row.
        ComponentReader reader(components);
        Value c0 = arith::ConstantIndexOp::create(nb, nloc, 0);
        Value c1 = arith::ConstantIndexOp::create(nb, nloc, 1);
        if (Value sparse = type.getScheme().buildSparseDot(
                nb, nloc, reader, shape, n, c0, c1,
                [&](OpBuilder &lb, Location lloc, Value col) {
                  return buildExtendToF32(lb, lloc,
                                          tensor::ExtractOp::create(
                                              lb, lloc, x, ValueRange{m, col}));
                }))
          sum = arith::AddFOp::create(nb, nloc, sum, sparse);
        linalg::YieldOp::create(nb, nloc, sum);
      });
  return generic.getResult(0);
}

struct MatmulLowering : OpConversionPattern<MatmulOp> {
  MatmulLowering(const TypeConverter &converter, MLIRContext *ctx,
                 int64_t vectorWidth, int64_t vectorSumLanes,
                 int64_t registerTableEntries)
      : OpConversionPattern(converter, ctx), vectorWidth(vectorWidth),
        vectorSumLanes(vectorSumLanes),
        registerTableEntries(registerTableEntries) {}

  LogicalResult
  matchAndRewrite(MatmulOp op, OneToNOpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto type = cast<QTensorType>(op.getWeight().getType());
    auto elementType = cast<FloatType>(op.getType().getElementType());
    if (int64_t width = getVectorDotWidth(type, elementType)) {
      Value acc = buildVectorDotMatmul(
          rewriter, loc, adaptor.getInput().front(), type, adaptor.getWeight(),
          elementType,
          planVectorDot(type, elementType, width, vectorSumLanes,
                        registerTableEntries));
      rewriter.replaceOp(op, buildTruncate(rewriter, loc, acc, elementType));
      return success();
    }
    Value weight =
        buildDequantized(rewriter, loc, type, adaptor.getWeight(), elementType);
    // The summation order is unspecified (as for llm.linear), so backends
    // may vectorize the reduction.
    Value acc = buildMatmulTransposedB(
        rewriter, loc, adaptor.getInput().front(), weight,
        arith::FastMathFlags::reassoc | arith::FastMathFlags::contract);
    rewriter.replaceOp(op, buildTruncate(rewriter, loc, acc, elementType));
    return success();
  }

  /// The vector dot product's columns per step: the option's width, or
  /// twice it where a tile of that many codes ends inside a word (3-bit
  /// codes: 16 are 1.5 words, 32 are 3); 0 for the reference contraction.
  int64_t getVectorDotWidth(QTensorType type, FloatType elementType) const {
    ArrayRef<int64_t> shape = type.getShape();
    for (int64_t width : {vectorWidth, 2 * vectorWidth})
      if (width > 0 && shape[1] % width == 0 &&
          isWordLevelTile(type.getScheme(), shape, width, elementType))
        return width;
    return 0;
  }

  int64_t vectorWidth;
  int64_t vectorSumLanes;
  int64_t registerTableEntries;
};

struct MixQLowerToLinalgPass
    : mlir::mixq::impl::MixQLowerToLinalgBase<MixQLowerToLinalgPass> {
  using MixQLowerToLinalgBase::MixQLowerToLinalgBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (failed(foldQuantizes(module)) || failed(rejectUnlowerable(module)))
      return signalPassFailure();

    TypeConverter converter;
    converter.addConversion([](Type type) { return type; });
    converter.addConversion(
        [](QTensorType type, SmallVectorImpl<Type> &results) {
          llvm::append_range(results, type.getComponentTensorTypes());
          return success();
        });

    MLIRContext *ctx = &getContext();
    ConversionTarget target(*ctx);
    target.addIllegalDialect<MixQDialect>();
    target.addLegalDialect<arith::ArithDialect, linalg::LinalgDialect,
                           tensor::TensorDialect>();
    target.addDynamicallyLegalOp<func::FuncOp>([&](func::FuncOp op) {
      return converter.isSignatureLegal(op.getFunctionType()) &&
             converter.isLegal(&op.getBody());
    });
    target.addDynamicallyLegalOp<func::ReturnOp, func::CallOp>(
        [&](Operation *op) { return converter.isLegal(op); });
    target.markUnknownOpDynamicallyLegal(
        [&](Operation *op) { return converter.isLegal(op); });

    RewritePatternSet patterns(ctx);
    patterns.add<AssembleLowering, DequantizeLowering>(converter, ctx);
    patterns.add<MatmulLowering>(converter, ctx, dequantVectorWidth,
                                 vectorSumLanes, registerTableEntries);
    populateQuantizeActLoweringPatterns(converter, patterns);
    populateFunctionOpInterfaceTypeConversionPattern<func::FuncOp>(patterns,
                                                                   converter);
    populateCallOpTypeConversionPattern(patterns, converter);
    populateReturnOpTypeConversionPattern(patterns, converter);
    if (failed(applyPartialConversion(module, target, std::move(patterns))))
      signalPassFailure();
  }

  /// Runs the host quantizer on every mixq.quantize of a constant.
  LogicalResult foldQuantizes(ModuleOp module) {
    IRRewriter rewriter(module.getContext());
    WalkResult result = module.walk([&](QuantizeOp op) {
      std::string whyNot;
      rewriter.setInsertionPoint(op);
      if (succeeded(foldConstantQuantize(op, rewriter, &whyNot)))
        return WalkResult::advance();
      op.emitOpError() << "cannot be lowered: " << whyNot
                       << " (the reference lowering quantizes constants at "
                          "compile time only)";
      return WalkResult::interrupt();
    });
    return failure(result.wasInterrupted());
  }

  /// mixq.weight reads the WeightStore, which this lowering cannot see.
  LogicalResult rejectUnlowerable(ModuleOp module) {
    WalkResult result = module.walk([&](WeightOp op) {
      op.emitOpError() << "cannot be lowered to linalg: the components of @"
                       << op.getName()
                       << " live in the WeightStore; assemble them from "
                          "tensors with mixq.assemble instead";
      return WalkResult::interrupt();
    });
    return failure(result.wasInterrupted());
  }
};

} // namespace
