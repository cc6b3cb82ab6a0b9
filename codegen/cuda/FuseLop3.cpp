//===- FuseLop3.cpp - --mixq-fuse-lop3 ------------------------------------===//
#include "codegen/cuda/CUDAPasses.h"
#include "codegen/cuda/KernelBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::mixq::cuda {
#define GEN_PASS_DEF_MIXQFUSELOP3
#include "codegen/cuda/CUDAPasses.h.inc"
} // namespace mlir::mixq::cuda

using namespace mlir;
using mlir::mixq::cuda::buildInlinePTX;
using mlir::mixq::cuda::kLop3AndOr;
using mlir::mixq::cuda::kLop3Select;

namespace {

/// The i32 constants of a scalar or vector constant, one per element.
std::optional<SmallVector<uint32_t>> getI32Constants(Value value) {
  Attribute attr;
  if (!matchPattern(value, m_Constant(&attr)))
    return std::nullopt;
  SmallVector<uint32_t> constants;
  if (auto scalar = dyn_cast<IntegerAttr>(attr)) {
    constants.push_back(
        static_cast<uint32_t>(scalar.getValue().getZExtValue()));
    return constants;
  }
  auto elements = dyn_cast<DenseIntElementsAttr>(attr);
  if (!elements)
    return std::nullopt;
  for (const APInt &element : elements.getValues<APInt>())
    constants.push_back(static_cast<uint32_t>(element.getZExtValue()));
  return constants;
}

/// lop3.b32 result, x, mask, bits: pure (no side effects), so it is hoisted
/// and CSE'd like the ops it replaces.
Value buildLop3(OpBuilder &b, Location loc, Value x, uint32_t mask,
                uint32_t bits) {
  std::string text = "lop3.b32 $0, $1, " + std::to_string(mask) + ", " +
                     std::to_string(bits) + ", " + std::to_string(kLop3AndOr) +
                     ";";
  return buildInlinePTX(b, loc, b.getI32Type(), ValueRange{x}, text, "=r,r",
                        /*hasSideEffects=*/false);
}

/// lop3.b32 result, top, bottom, mask, 0xE4: top's bits where mask has
/// ones, bottom's elsewhere.
Value buildSelectLop3(OpBuilder &b, Location loc, Value top, Value bottom,
                      uint32_t mask) {
  std::string text = "lop3.b32 $0, $1, $2, " + std::to_string(mask) + ", " +
                     std::to_string(kLop3Select) + ";";
  return buildInlinePTX(b, loc, b.getI32Type(), ValueRange{top, bottom}, text,
                        "=r,r,r", /*hasSideEffects=*/false);
}

struct MaskedOrToLop3 : OpRewritePattern<arith::OrIOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(arith::OrIOp op,
                                PatternRewriter &rewriter) const override {
    if (!getElementTypeOrSelf(op.getType()).isInteger(32))
      return failure();
    for (auto [masked, other] : {std::pair(op.getLhs(), op.getRhs()),
                                 std::pair(op.getRhs(), op.getLhs())}) {
      auto andOp = masked.getDefiningOp<arith::AndIOp>();
      std::optional<SmallVector<uint32_t>> bits = getI32Constants(other);
      if (!andOp || !bits)
        continue;
      for (auto [input, maskValue] :
           {std::pair(andOp.getLhs(), andOp.getRhs()),
            std::pair(andOp.getRhs(), andOp.getLhs())}) {
        std::optional<SmallVector<uint32_t>> masks = getI32Constants(maskValue);
        if (!masks)
          continue;
        rewriter.replaceOp(
            op, buildLop3s(rewriter, op.getLoc(), input, *masks, *bits));
        return success();
      }
    }
    return failure();
  }

  /// One lop3 per element (a splat constant has one value for all).
  static Value buildLop3s(PatternRewriter &rewriter, Location loc, Value x,
                          ArrayRef<uint32_t> masks, ArrayRef<uint32_t> bits) {
    auto vectorType = dyn_cast<VectorType>(x.getType());
    if (!vectorType)
      return buildLop3(rewriter, loc, x, masks[0], bits[0]);
    SmallVector<Value> elements;
    for (int64_t i = 0, e = vectorType.getNumElements(); i < e; ++i) {
      Value element = vector::ExtractOp::create(rewriter, loc, x, i);
      elements.push_back(buildLop3(rewriter, loc, element,
                                   masks[masks.size() == 1 ? 0 : i],
                                   bits[bits.size() == 1 ? 0 : i]));
    }
    return vector::FromElementsOp::create(rewriter, loc, vectorType, elements);
  }
};

/// (a & M) | (b & ~M) for a constant M: a bitwise select of a where M has
/// ones and of b elsewhere, one lop3 (0xE4 = (a & c) | (b & ~c)), where
/// ptxas emits an and and an and-or (mixed's widened code words: the low
/// codes' and the extra codes' fields of a word, two per 16 weights).
struct MaskedSelectToLop3 : OpRewritePattern<arith::OrIOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(arith::OrIOp op,
                                PatternRewriter &rewriter) const override {
    if (!getElementTypeOrSelf(op.getType()).isInteger(32))
      return failure();
    auto lhs = op.getLhs().getDefiningOp<arith::AndIOp>();
    auto rhs = op.getRhs().getDefiningOp<arith::AndIOp>();
    if (!lhs || !rhs)
      return failure();
    std::optional<MaskedInput> top = getMaskedInput(lhs);
    std::optional<MaskedInput> bottom = getMaskedInput(rhs);
    if (!top || !bottom || top->masks.size() != bottom->masks.size())
      return failure();
    for (auto [topMask, bottomMask] : llvm::zip(top->masks, bottom->masks))
      if (topMask != ~bottomMask)
        return failure();
    rewriter.replaceOp(op, buildSelects(rewriter, op.getLoc(), top->input,
                                        bottom->input, top->masks));
    return success();
  }

  struct MaskedInput {
    Value input;
    SmallVector<uint32_t> masks;
  };

  /// x & C (either operand order) as x and C's elements.
  static std::optional<MaskedInput> getMaskedInput(arith::AndIOp andOp) {
    for (auto [input, maskValue] : {std::pair(andOp.getLhs(), andOp.getRhs()),
                                    std::pair(andOp.getRhs(), andOp.getLhs())})
      if (std::optional<SmallVector<uint32_t>> masks =
              getI32Constants(maskValue))
        return MaskedInput{input, std::move(*masks)};
    return std::nullopt;
  }

  /// One lop3 per element (a splat mask has one value for all).
  static Value buildSelects(PatternRewriter &rewriter, Location loc, Value top,
                            Value bottom, ArrayRef<uint32_t> masks) {
    auto vectorType = dyn_cast<VectorType>(top.getType());
    if (!vectorType)
      return buildSelectLop3(rewriter, loc, top, bottom, masks[0]);
    SmallVector<Value> elements;
    for (int64_t i = 0, e = vectorType.getNumElements(); i < e; ++i)
      elements.push_back(buildSelectLop3(
          rewriter, loc, vector::ExtractOp::create(rewriter, loc, top, i),
          vector::ExtractOp::create(rewriter, loc, bottom, i),
          masks[masks.size() == 1 ? 0 : i]));
    return vector::FromElementsOp::create(rewriter, loc, vectorType, elements);
  }
};

struct FuseLop3 : mlir::mixq::cuda::impl::MixQFuseLop3Base<FuseLop3> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<MaskedOrToLop3, MaskedSelectToLop3>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
