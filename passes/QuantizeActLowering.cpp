//===- QuantizeActLowering.cpp - mixq.quantize_act -> linalg --------------===//
//
// The executable definition of mixq.quantize_act (per-token activation
// quantization, fake-quantized): one linalg.generic reduces each row's
// min/max over the columns that do not pass through, a second one quantizes
// and dequantizes every element. Both ask the weight's scheme
// (QuantSchemeAttrInterface::buildIsPassthroughColumn and
// buildQuantizeActivation): QUIK's outlier columns pass through, and its
// formula is quant/OutlierColumns.cpp quantizeActivationsPerToken.
//===----------------------------------------------------------------------===//
#include "passes/QuantizeActLowering.h"
#include "passes/LLMFormulas.h"

#include "dialect/MixQ/MixQOps.h"
#include "dialect/MixQ/SchemeUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>

using namespace mlir;
using namespace mlir::mixq;

namespace {

struct QuantizeActLowering : OpConversionPattern<QuantizeActOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(QuantizeActOp op, OneToNOpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    auto weightType = cast<QTensorType>(op.getWeight().getType());
    QuantSchemeAttrInterface scheme = weightType.getScheme();
    Value x = adaptor.getInput().front();
    auto inputType = cast<RankedTensorType>(x.getType());
    auto elementType = cast<FloatType>(inputType.getElementType());
    SmallVector<Value> components(adaptor.getWeight().begin(),
                                  adaptor.getWeight().end());
    Type f32 = rewriter.getF32Type();

    // Per-row lo = min(0, min x), hi = max(0, max x) over the quantized
    // columns: both start at 0 and the outlier columns contribute 0.
    SmallVector<Value> dynamicRows;
    if (inputType.isDynamicDim(0))
      dynamicRows.push_back(tensor::DimOp::create(rewriter, loc, x, 0));
    Value rowsEmpty = tensor::EmptyOp::create(
        rewriter, loc, ArrayRef<int64_t>{inputType.getDimSize(0)}, f32,
        dynamicRows);
    Value zero = buildF32Constant(rewriter, loc, 0.0f);
    Value rowsInit = linalg::FillOp::create(rewriter, loc, ValueRange{zero},
                                            ValueRange{rowsEmpty})
                         .getResult(0);
    AffineExpr t, k;
    bindDims(ctx, t, k);
    AffineMap elementMap = AffineMap::get(2, 0, {t, k}, ctx);
    AffineMap rowMap = AffineMap::get(2, 0, {t}, ctx);
    auto range = linalg::GenericOp::create(
        rewriter, loc, TypeRange{rowsInit.getType(), rowsInit.getType()},
        ValueRange{x}, ValueRange{rowsInit, rowsInit},
        SmallVector<AffineMap>{elementMap, rowMap, rowMap},
        SmallVector<utils::IteratorType>{utils::IteratorType::parallel,
                                         utils::IteratorType::reduction},
        [&](OpBuilder &b, Location l, ValueRange args) {
          ComponentReader reader(components);
          Value col = linalg::IndexOp::create(b, l, 1);
          Value passThrough =
              scheme.buildIsPassthroughColumn(b, l, reader, col);
          Value value = arith::SelectOp::create(
              b, l, passThrough, buildF32Constant(b, l, 0.0f),
              buildExtendToF32(b, l, args[0]));
          // minnumf/maxnumf ignore a NaN, as std::min/std::max do.
          Value lo = arith::MinNumFOp::create(b, l, args[1], value);
          Value hi = arith::MaxNumFOp::create(b, l, args[2], value);
          linalg::YieldOp::create(b, l, ValueRange{lo, hi});
        });

    // y = (q - z) * s per element; outlier columns pass through.
    SmallVector<Value> dynamicDims;
    if (inputType.isDynamicDim(0))
      dynamicDims.push_back(tensor::DimOp::create(rewriter, loc, x, 0));
    Value resultEmpty = tensor::EmptyOp::create(
        rewriter, loc, inputType.getShape(), elementType, dynamicDims);
    auto quantized = linalg::GenericOp::create(
        rewriter, loc, TypeRange{inputType},
        ValueRange{x, range.getResult(0), range.getResult(1)},
        ValueRange{resultEmpty},
        SmallVector<AffineMap>{elementMap, rowMap, rowMap, elementMap},
        SmallVector<utils::IteratorType>(2, utils::IteratorType::parallel),
        [&](OpBuilder &b, Location l, ValueRange args) {
          ComponentReader reader(components);
          Value col = linalg::IndexOp::create(b, l, 1);
          Value value = buildExtendToF32(b, l, args[0]);
          Value result = scheme.buildQuantizeActivation(
              b, l, reader, col, value, args[1], args[2], op.getBits());
          linalg::YieldOp::create(
              b, l, buildTruncateFromF32(b, l, result, elementType));
        });
    rewriter.replaceOp(op, quantized.getResult(0));
    return success();
  }
};

} // namespace

void mlir::mixq::populateQuantizeActLoweringPatterns(
    const TypeConverter &converter, RewritePatternSet &patterns) {
  patterns.add<QuantizeActLowering>(converter, patterns.getContext());
}
