//===- QuantizeActLowering.cpp - mixq.quantize_act -> linalg --------------===//
//
// The executable definition of mixq.quantize_act (QUIK's per-token
// asymmetric activation quantization, fake-quantized): one linalg.generic
// reduces each row's min/max over the non-outlier columns, a second one
// quantizes and dequantizes every element with the formula of
// Quant/OutlierColumns.cpp quantizeActivationsPerToken, passing the outlier
// columns (col_map[k] >= 0 in the weight's components) through.
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

Value f32Constant(OpBuilder &b, Location loc, float value) {
  return arith::ConstantFloatOp::create(b, loc, b.getF32Type(), APFloat(value));
}

/// clamp(value, lo, hi) as std::clamp on finite values.
Value clampF32(OpBuilder &b, Location loc, Value value, float lo, float hi) {
  Value low = arith::MaximumFOp::create(b, loc, value, f32Constant(b, loc, lo));
  return arith::MinimumFOp::create(b, loc, low, f32Constant(b, loc, hi));
}

struct QuantizeActLowering : OpConversionPattern<QuantizeActOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(QuantizeActOp op, OneToNOpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    auto weightType = cast<QTensorType>(op.getWeight().getType());
    auto scheme = cast<OutlierColsSchemeAttr>(weightType.getScheme());
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
    Value zero = f32Constant(rewriter, loc, 0.0f);
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
          Value isOutlier = scheme.buildIsOutlierColumn(b, l, reader, col);
          Value value =
              arith::SelectOp::create(b, l, isOutlier, f32Constant(b, l, 0.0f),
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
          Value result = buildQuantizeActElement(
              b, l, scheme, reader, col, value, args[1], args[2], op.getBits());
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

Value mlir::mixq::buildQuantizeActElement(OpBuilder &b, Location l,
                                          OutlierColsSchemeAttr scheme,
                                          const ComponentReader &reader,
                                          Value col, Value value, Value lo,
                                          Value hi, int64_t bits) {
  // Every op here is IEEE-exact on both backends, and must stay so: no
  // fast-math flags (an `afn` divf becomes div.approx.f32 on NVPTX), no
  // fma. math.round is half away from zero on both (llvm.round on the CPU,
  // libdevice's add.rz/cvt.rzi sequence on the GPU), the fp16 rounding of
  // the scale is round-to-nearest-even on both. So equal inputs give equal
  // codes; inputs that differ by ulps (other summation orders upstream) can
  // still give codes one apart, see docs/cuda.md "Numerics" and
  // test/lit/codegen/quantize-act-*.test.
  float maxq = static_cast<float>((1u << bits) - 1u);
  Value isOutlier = scheme.buildIsOutlierColumn(b, l, reader, col);
  // s = fp16((hi - lo) / maxq), 1 when hi == lo, clamped to fp16's
  // positive range.
  Value flat = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OEQ, hi, lo);
  Value span = arith::DivFOp::create(b, l, arith::SubFOp::create(b, l, hi, lo),
                                     f32Constant(b, l, maxq));
  Value scale =
      arith::SelectOp::create(b, l, flat, f32Constant(b, l, 1.0f), span);
  scale = buildExtendToF32(
      b, l, arith::TruncFOp::create(b, l, b.getF16Type(), scale));
  scale = clampF32(b, l, scale, std::ldexp(1.0f, -24), 65504.0f);
  // z = clamp(round(-lo / s), 0, maxq)
  Value zeroPoint = clampF32(
      b, l,
      math::RoundOp::create(
          b, l,
          arith::DivFOp::create(b, l, arith::NegFOp::create(b, l, lo), scale)),
      0.0f, maxq);
  // q = clamp(round(x / s) + z, 0, maxq)
  Value code =
      clampF32(b, l,
               arith::AddFOp::create(
                   b, l,
                   math::RoundOp::create(
                       b, l, arith::DivFOp::create(b, l, value, scale)),
                   zeroPoint),
               0.0f, maxq);
  Value dequantized = arith::MulFOp::create(
      b, l, arith::SubFOp::create(b, l, code, zeroPoint), scale);
  return arith::SelectOp::create(b, l, isOutlier, value, dequantized);
}
