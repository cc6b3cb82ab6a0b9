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

/// The largest value an `arith.andi` with a constant mask can produce.
std::optional<uint64_t> getMaskBound(Value value) {
  auto andOp = value.getDefiningOp<arith::AndIOp>();
  if (!andOp)
    return std::nullopt;
  APInt mask;
  if (matchPattern(andOp.getRhs(), m_ConstantInt(&mask)) ||
      matchPattern(andOp.getLhs(), m_ConstantInt(&mask)))
    return mask.getZExtValue();
  return std::nullopt;
}

struct MagicUIToFP : OpRewritePattern<arith::UIToFPOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(arith::UIToFPOp op,
                                PatternRewriter &rewriter) const override {
    Value input = op.getIn();
    if (!input.getType().isInteger(32))
      return failure();
    std::optional<uint64_t> bound = getMaskBound(input);
    if (!bound)
      return failure();
    Location loc = op.getLoc();
    Type result = op.getType();
    if (result.isF32() && *bound < (1u << 23)) {
      Value magic = arith::ConstantIntOp::create(
          rewriter, loc, rewriter.getI32Type(), kF32Magic);
      Value bits = arith::OrIOp::create(rewriter, loc, input, magic);
      Value shifted = arith::BitcastOp::create(rewriter, loc, result, bits);
      Value offset = arith::ConstantFloatOp::create(
          rewriter, loc, rewriter.getF32Type(), APFloat(8388608.0f));
      rewriter.replaceOpWithNewOp<arith::SubFOp>(op, shifted, offset);
      return success();
    }
    if (result.isF16() && *bound < (1u << 10)) {
      Value narrow =
          arith::TruncIOp::create(rewriter, loc, rewriter.getI16Type(), input);
      Value magic = arith::ConstantIntOp::create(
          rewriter, loc, rewriter.getI16Type(), kF16Magic);
      Value bits = arith::OrIOp::create(rewriter, loc, narrow, magic);
      Value shifted = arith::BitcastOp::create(rewriter, loc, result, bits);
      Value offset =
          arith::ConstantFloatOp::create(rewriter, loc, rewriter.getF16Type(),
                                         APFloat(APFloat::IEEEhalf(), "1024"));
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
