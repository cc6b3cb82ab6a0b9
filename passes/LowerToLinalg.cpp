//===- LowerToLinalg.cpp - reference lowering of mixq to linalg -----------===//
//
// The executable definition of mixq.dequantize / mixq.matmul. Every scheme
// lowers through QuantSchemeAttrInterface::buildDequantTile; nothing here
// knows which schemes exist.
//===----------------------------------------------------------------------===//
#include "dialect/MixQ/MixQOps.h"
#include "dialect/MixQ/SchemeUtils.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/Transforms/FuncConversions.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
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
  return generic.getResult(0);
}

/// y[m, n] = sum_k x[m, k] * w[n, k], accumulated in f32.
Value buildMatmulTransposedB(OpBuilder &b, Location loc, Value x, Value w) {
  auto xType = cast<RankedTensorType>(x.getType());
  auto wType = cast<RankedTensorType>(w.getType());
  Type f32 = b.getF32Type();
  SmallVector<int64_t> shape = {xType.getDimSize(0), wType.getDimSize(0)};
  SmallVector<Value> dynamicDims;
  if (ShapedType::isDynamic(shape[0]))
    dynamicDims.push_back(tensor::DimOp::create(b, loc, x, 0));
  Value empty = tensor::EmptyOp::create(b, loc, shape, f32, dynamicDims);
  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
  Value acc =
      linalg::FillOp::create(b, loc, ValueRange{zero}, ValueRange{empty})
          .getResult(0);

  MLIRContext *ctx = b.getContext();
  AffineExpr m, n, k;
  bindDims(ctx, m, n, k);
  SmallVector<AffineMap> maps = {AffineMap::get(3, 0, {m, k}, ctx),
                                 AffineMap::get(3, 0, {n, k}, ctx),
                                 AffineMap::get(3, 0, {m, n}, ctx)};
  SmallVector<utils::IteratorType> iterators = {utils::IteratorType::parallel,
                                                utils::IteratorType::parallel,
                                                utils::IteratorType::reduction};
  auto contraction = linalg::GenericOp::create(
      b, loc, TypeRange{acc.getType()}, ValueRange{x, w}, ValueRange{acc}, maps,
      iterators, [&](OpBuilder &nb, Location nloc, ValueRange args) {
        Value lhs = buildExtendToF32(nb, nloc, args[0]);
        Value rhs = buildExtendToF32(nb, nloc, args[1]);
        Value product = arith::MulFOp::create(nb, nloc, lhs, rhs);
        linalg::YieldOp::create(
            nb, nloc,
            arith::AddFOp::create(nb, nloc, args[2], product).getResult());
      });
  return contraction.getResult(0);
}

/// Rounds an f32 tensor elementwise to `elementType` (no-op for f32).
Value buildTruncate(OpBuilder &b, Location loc, Value input,
                    FloatType elementType) {
  auto type = cast<RankedTensorType>(input.getType());
  if (type.getElementType() == elementType)
    return input;
  SmallVector<Value> dynamicDims;
  for (auto [i, dim] : llvm::enumerate(type.getShape()))
    if (ShapedType::isDynamic(dim))
      dynamicDims.push_back(tensor::DimOp::create(b, loc, input, i));
  Value empty = tensor::EmptyOp::create(b, loc, type.getShape(), elementType,
                                        dynamicDims);
  auto identity = b.getMultiDimIdentityMap(type.getRank());
  SmallVector<utils::IteratorType> iterators(type.getRank(),
                                             utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{empty.getType()}, ValueRange{input}, ValueRange{empty},
      SmallVector<AffineMap>{identity, identity}, iterators,
      [&](OpBuilder &nb, Location nloc, ValueRange args) {
        linalg::YieldOp::create(
            nb, nloc, buildTruncateFromF32(nb, nloc, args[0], elementType));
      });
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

struct MatmulLowering : OpConversionPattern<MatmulOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(MatmulOp op, OneToNOpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto type = cast<QTensorType>(op.getWeight().getType());
    auto elementType = cast<FloatType>(op.getType().getElementType());
    Value weight =
        buildDequantized(rewriter, loc, type, adaptor.getWeight(), elementType);
    Value acc = buildMatmulTransposedB(rewriter, loc,
                                       adaptor.getInput().front(), weight);
    rewriter.replaceOp(op, buildTruncate(rewriter, loc, acc, elementType));
    return success();
  }
};

struct MixQLowerToLinalgPass
    : mlir::mixq::impl::MixQLowerToLinalgBase<MixQLowerToLinalgPass> {
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
    patterns.add<AssembleLowering, DequantizeLowering, MatmulLowering>(
        converter, ctx);
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
