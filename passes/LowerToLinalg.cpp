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
};

/// The plan for tiles of `width` columns: factored when the scheme has
/// scale factors whose runs hold whole tiles and builds them. A factored
/// step then costs the scheme's unscaled tile (q - z for affine) and one
/// FMA, and each run one more FMA, instead of a multiply per weight and
/// the group's scale decoded for every tile.
VectorDotPlan planVectorDot(QTensorType type, FloatType elementType,
                            int64_t width) {
  VectorDotPlan plan;
  plan.width = width;
  QuantSchemeAttrInterface scheme = type.getScheme();
  ArrayRef<int64_t> shape = type.getShape();
  int64_t run = scheme.getScaleFactorColumns(shape);
  if (run <= 0 || run % width != 0 || shape[1] % run != 0 ||
      !buildsScaleFactors(scheme, shape, width, elementType))
    return plan;
  plan.factorRun = run;
  plan.order = getDequantVectorOrder(scheme, shape, width, elementType,
                                     /*unscaled=*/true);
  if (isIdentityPermutation(plan.order))
    plan.order.clear();
  return plan;
}

using VectorLoopBody = function_ref<Value(OpBuilder &, Location, Value, Value)>;

/// An scf.for from `begin` to `end` (exclusive) by `step` carrying one
/// vector, which `body` maps to its next value.
Value buildVectorLoop(OpBuilder &b, Location loc, Value begin, Value end,
                      Value step, Value init, VectorLoopBody body) {
  auto loop = scf::ForOp::create(
      b, loc, begin, end, step, ValueRange{init},
      [&](OpBuilder &lb, Location lloc, Value k, ValueRange acc) {
        scf::YieldOp::create(lb, lloc, body(lb, lloc, k, acc[0]));
      });
  return loop.getResult(0);
}

/// The same loop over all K columns.
Value buildVectorLoopOverK(OpBuilder &b, Location loc, int64_t k, int64_t step,
                           Value init, VectorLoopBody body) {
  Value begin = arith::ConstantIndexOp::create(b, loc, 0);
  Value stride = arith::ConstantIndexOp::create(b, loc, step);
  Value end = arith::ConstantIndexOp::create(b, loc, k);
  return buildVectorLoop(b, loc, begin, end, stride, init, body);
}

/// x[m, k .. k + width - 1] in f32, permuted into the tile's `order`.
Value loadInputTile(OpBuilder &b, Location loc, Value x, Value m, Value k,
                    const VectorDotPlan &plan) {
  ComponentReader input(ValueRange{x});
  Value xs =
      buildExtendToF32(b, loc, input.loadVector(b, loc, 0, {m, k}, plan.width));
  if (plan.order.empty())
    return xs;
  return vector::ShuffleOp::create(b, loc, xs, xs, plan.order);
}

/// The dense part of row n's dot product with x's row m, in a vector of
/// partial sums.
Value buildRowDotVector(OpBuilder &b, Location loc, Value x, Value m, Value n,
                        QTensorType type, ValueRange components,
                        FloatType elementType, const VectorDotPlan &plan) {
  QuantSchemeAttrInterface scheme = type.getScheme();
  ArrayRef<int64_t> shape = type.getShape();
  auto vectorType = VectorType::get({plan.width}, b.getF32Type());
  Value zero = arith::ConstantOp::create(
      b, loc, DenseElementsAttr::get(vectorType, 0.0f));
  // acc + x's tile times the weights' (unscaled when factored).
  auto addTile = [&](OpBuilder &lb, Location lloc, Value col, Value acc) {
    ComponentReader reader(components);
    SmallVector<int64_t> order;
    Value tile = plan.factorRun
                     ? scheme.buildUnscaledDequantVectorInAnyOrder(
                           lb, lloc, reader, shape, n, col, plan.width,
                           elementType, order)
                     : scheme.buildDequantVector(lb, lloc, reader, shape, n,
                                                 col, plan.width, elementType);
    Value w = buildExtendToF32(lb, lloc, tile);
    Value xs = loadInputTile(lb, lloc, x, m, col, plan);
    return vector::FMAOp::create(lb, lloc, xs, w, acc).getResult();
  };
  if (!plan.factorRun)
    return buildVectorLoopOverK(b, loc, shape[1], plan.width, zero, addTile);
  // Each run's unscaled sums, then times the run's factor.
  return buildVectorLoopOverK(
      b, loc, shape[1], plan.factorRun, zero,
      [&](OpBuilder &rb, Location rloc, Value runBegin, Value acc) {
        Value runEnd = arith::AddIOp::create(
            rb, rloc, runBegin,
            arith::ConstantIndexOp::create(rb, rloc, plan.factorRun));
        Value sums = buildVectorLoop(
            rb, rloc, runBegin, runEnd,
            arith::ConstantIndexOp::create(rb, rloc, plan.width), zero,
            addTile);
        ComponentReader reader(components);
        Value factor =
            scheme.buildScaleFactor(rb, rloc, reader, shape, n, runBegin);
        Value factors =
            vector::BroadcastOp::create(rb, rloc, vectorType, factor);
        return vector::FMAOp::create(rb, rloc, factors, sums, acc).getResult();
      });
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
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{init.getType()}, ValueRange{}, ValueRange{init}, maps,
      iterators, [&](OpBuilder &nb, Location nloc, ValueRange) {
        Value m = linalg::IndexOp::create(nb, nloc, 0);
        Value n = linalg::IndexOp::create(nb, nloc, 1);
        Value sum = vector::ReductionOp::create(
            nb, nloc, vector::CombiningKind::ADD,
            buildRowDotVector(nb, nloc, x, m, n, type, components, elementType,
                              plan),
            Value(), reassoc);
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
                 int64_t vectorWidth)
      : OpConversionPattern(converter, ctx), vectorWidth(vectorWidth) {}

  LogicalResult
  matchAndRewrite(MatmulOp op, OneToNOpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto type = cast<QTensorType>(op.getWeight().getType());
    auto elementType = cast<FloatType>(op.getType().getElementType());
    if (int64_t width = getVectorDotWidth(type, elementType)) {
      Value acc = buildVectorDotMatmul(
          rewriter, loc, adaptor.getInput().front(), type, adaptor.getWeight(),
          elementType, planVectorDot(type, elementType, width));
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
    patterns.add<MatmulLowering>(converter, ctx, dequantVectorWidth);
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
