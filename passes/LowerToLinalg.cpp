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

/// y[m, n] = sum_k x[m, k] * W[n, k] in f32, W dequantized `width` columns
/// at a time by the scheme's buildDequantVector into a vector<width x f32>
/// accumulator that is reduced at the end of the row, plus the scheme's
/// sparse terms (buildSparseDot): one linalg.generic over (m, n) whose body
/// loops over K.
Value buildVectorDotMatmul(OpBuilder &b, Location loc, Value x,
                           QTensorType type, ValueRange components,
                           FloatType elementType, int64_t width) {
  auto xType = cast<RankedTensorType>(x.getType());
  ArrayRef<int64_t> shape = type.getShape();
  Type f32 = b.getF32Type();
  auto vectorType = VectorType::get({width}, f32);
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
        Value zero = arith::ConstantOp::create(
            nb, nloc, DenseElementsAttr::get(vectorType, 0.0f));
        auto loop = scf::ForOp::create(
            nb, nloc, arith::ConstantIndexOp::create(nb, nloc, 0),
            arith::ConstantIndexOp::create(nb, nloc, shape[1]),
            arith::ConstantIndexOp::create(nb, nloc, width), ValueRange{zero},
            [&](OpBuilder &lb, Location lloc, Value k, ValueRange acc) {
              ComponentReader reader(components);
              Value w = buildExtendToF32(
                  lb, lloc,
                  type.getScheme().buildDequantVector(
                      lb, lloc, reader, shape, n, k, width, elementType));
              ComponentReader input(ValueRange{x});
              Value xs = buildExtendToF32(
                  lb, lloc, input.loadVector(lb, lloc, 0, {m, k}, width));
              Value next = vector::FMAOp::create(lb, lloc, xs, w, acc[0]);
              scf::YieldOp::create(lb, lloc, next);
            });
        Value sum =
            vector::ReductionOp::create(nb, nloc, vector::CombiningKind::ADD,
                                        loop.getResult(0), Value(), reassoc);
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
      Value acc =
          buildVectorDotMatmul(rewriter, loc, adaptor.getInput().front(), type,
                               adaptor.getWeight(), elementType, width);
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
