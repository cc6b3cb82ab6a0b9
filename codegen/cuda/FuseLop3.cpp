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

/// x & C, either operand order, as x and C's elements (an i32 constant or
/// a vector of them).
struct MaskedInput {
  Value input;
  SmallVector<uint32_t> masks;
};
std::optional<MaskedInput> matchMaskedInput(Value value) {
  auto andOp = value.getDefiningOp<arith::AndIOp>();
  if (!andOp)
    return std::nullopt;
  for (auto [input, maskValue] : {std::pair(andOp.getLhs(), andOp.getRhs()),
                                  std::pair(andOp.getRhs(), andOp.getLhs())})
    if (std::optional<SmallVector<uint32_t>> masks = getI32Constants(maskValue))
      return MaskedInput{input, std::move(*masks)};
  return std::nullopt;
}

/// Element i of a constant's elements (a splat has one value for all).
uint32_t elementOf(ArrayRef<uint32_t> constants, int64_t i) {
  return constants[constants.size() == 1 ? 0 : i];
}

/// `build` of `operands` (i32 scalars, or vectors of one shape: then per
/// element, with the element's index, into a vector again).
Value buildPerElement(PatternRewriter &rewriter, Location loc,
                      ValueRange operands,
                      function_ref<Value(ValueRange, int64_t)> build) {
  auto vectorType = dyn_cast<VectorType>(operands.front().getType());
  if (!vectorType)
    return build(operands, 0);
  SmallVector<Value> elements;
  for (int64_t i = 0, e = vectorType.getNumElements(); i < e; ++i) {
    SmallVector<Value, 2> scalars;
    for (Value operand : operands)
      scalars.push_back(vector::ExtractOp::create(rewriter, loc, operand, i));
    elements.push_back(build(scalars, i));
  }
  return vector::FromElementsOp::create(rewriter, loc, vectorType, elements);
}

struct MaskedOrToLop3 : OpRewritePattern<arith::OrIOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(arith::OrIOp op,
                                PatternRewriter &rewriter) const override {
    if (!getElementTypeOrSelf(op.getType()).isInteger(32))
      return failure();
    for (auto [masked, other] : {std::pair(op.getLhs(), op.getRhs()),
                                 std::pair(op.getRhs(), op.getLhs())}) {
      std::optional<SmallVector<uint32_t>> bits = getI32Constants(other);
      std::optional<MaskedInput> andInput = matchMaskedInput(masked);
      if (!bits || !andInput)
        continue;
      rewriter.replaceOp(
          op, buildPerElement(rewriter, op.getLoc(), andInput->input,
                              [&](ValueRange x, int64_t i) {
                                return buildLop3(rewriter, op.getLoc(), x[0],
                                                 elementOf(andInput->masks, i),
                                                 elementOf(*bits, i));
                              }));
      return success();
    }
    return failure();
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
    std::optional<MaskedInput> top = matchMaskedInput(op.getLhs());
    std::optional<MaskedInput> bottom = matchMaskedInput(op.getRhs());
    if (!top || !bottom || top->masks.size() != bottom->masks.size())
      return failure();
    for (auto [topMask, bottomMask] : llvm::zip(top->masks, bottom->masks))
      if (topMask != ~bottomMask)
        return failure();
    rewriter.replaceOp(
        op, buildPerElement(rewriter, op.getLoc(), {top->input, bottom->input},
                            [&](ValueRange x, int64_t i) {
                              return buildSelectLop3(rewriter, op.getLoc(),
                                                     x[0], x[1],
                                                     elementOf(top->masks, i));
                            }));
    return success();
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
