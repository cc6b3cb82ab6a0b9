//===- MagicIntToFloat.cpp - --mixq-magic-int-to-float --------------------===//
#include "codegen/cuda/CUDAPasses.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::mixq::cuda {
#define GEN_PASS_DEF_MIXQMAGICINTTOFLOAT
#include "codegen/cuda/CUDAPasses.h.inc"
} // namespace mlir::mixq::cuda

using namespace mlir;

namespace {

/// The exponent bits of 2^23 (f32) and 2^10 (f16): ORing an integer below
/// 2^23 (2^10) into them gives the float 2^23 + x (1024 + x) exactly.
constexpr uint32_t kF32Magic = 0x4B000000u;
constexpr uint16_t kF16Magic = 0x6400u;

/// The largest value a scalar or vector constant holds (unsigned).
std::optional<uint64_t> getConstantBound(Value value) {
  Attribute attr;
  if (!matchPattern(value, m_Constant(&attr)))
    return std::nullopt;
  if (auto scalar = dyn_cast<IntegerAttr>(attr))
    return scalar.getValue().getZExtValue();
  auto elements = dyn_cast<DenseIntElementsAttr>(attr);
  if (!elements)
    return std::nullopt;
  uint64_t bound = 0;
  for (const APInt &element : elements.getValues<APInt>())
    bound = std::max(bound, element.getZExtValue());
  return bound;
}

/// The largest value an `arith.andi` with a constant mask can produce
/// (every element's, for vectors).
std::optional<uint64_t> getMaskBound(Value value) {
  auto andOp = value.getDefiningOp<arith::AndIOp>();
  if (!andOp)
    return std::nullopt;
  if (std::optional<uint64_t> bound = getConstantBound(andOp.getRhs()))
    return bound;
  return getConstantBound(andOp.getLhs());
}

/// `value` (an integer or float constant), splat to `type`'s shape.
Value buildConstantLike(PatternRewriter &rewriter, Location loc, Type type,
                        TypedAttr value) {
  if (auto vector = dyn_cast<VectorType>(type))
    return arith::ConstantOp::create(rewriter, loc, vector,
                                     SplatElementsAttr::get(vector, value));
  return arith::ConstantOp::create(rewriter, loc, type, value);
}

struct MagicUIToFP : OpRewritePattern<arith::UIToFPOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(arith::UIToFPOp op,
                                PatternRewriter &rewriter) const override {
    Value input = op.getIn();
    if (!getElementTypeOrSelf(input.getType()).isInteger(32))
      return failure();
    std::optional<uint64_t> bound = getMaskBound(input);
    if (!bound)
      return failure();
    Location loc = op.getLoc();
    Type result = op.getType();
    Type element = getElementTypeOrSelf(result);
    auto like = [&](Type scalar) -> Type {
      if (auto vector = dyn_cast<VectorType>(result))
        return VectorType::get(vector.getShape(), scalar);
      return scalar;
    };
    if (element.isF32() && *bound < (1u << 23)) {
      Value magic = buildConstantLike(rewriter, loc, input.getType(),
                                      rewriter.getI32IntegerAttr(kF32Magic));
      Value bits = arith::OrIOp::create(rewriter, loc, input, magic);
      Value shifted = arith::BitcastOp::create(rewriter, loc, result, bits);
      Value offset = buildConstantLike(rewriter, loc, result,
                                       rewriter.getF32FloatAttr(8388608.0f));
      rewriter.replaceOpWithNewOp<arith::SubFOp>(op, shifted, offset);
      return success();
    }
    if (element.isF16() && *bound < (1u << 10)) {
      Type i16 = like(rewriter.getI16Type());
      Value narrow = arith::TruncIOp::create(rewriter, loc, i16, input);
      Value magic = buildConstantLike(rewriter, loc, i16,
                                      rewriter.getI16IntegerAttr(kF16Magic));
      Value bits = arith::OrIOp::create(rewriter, loc, narrow, magic);
      Value shifted = arith::BitcastOp::create(rewriter, loc, result, bits);
      Value offset = buildConstantLike(
          rewriter, loc, result,
          rewriter.getFloatAttr(rewriter.getF16Type(),
                                APFloat(APFloat::IEEEhalf(), "1024")));
      rewriter.replaceOpWithNewOp<arith::SubFOp>(op, shifted, offset);
      return success();
    }
    return failure();
  }
};

struct MagicIntToFloat
    : mlir::mixq::cuda::impl::MixQMagicIntToFloatBase<MagicIntToFloat> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<MagicUIToFP>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
