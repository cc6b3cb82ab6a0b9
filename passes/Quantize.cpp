//===- Quantize.cpp - --mixq-quantize: llm.linear -> mixq.matmul ----------===//

#include "dialect/LLM/LLMOps.h"
#include "dialect/MixQ/MixQOps.h"
#include "dialect/MixQ/SchemeRegistry.h"
#include "dialect/MixQ/SchemeUtils.h"
#include "passes/AllocateBits.h"
#include "passes/Passes.h"
#include "passes/SchemeSpec.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/Support/ScopedPrinter.h"

#include <regex>
#include <set>

namespace mlir::mixq {
#define GEN_PASS_DEF_MIXQQUANTIZE
#include "passes/Passes.h.inc"
} // namespace mlir::mixq

using namespace mlir;
using namespace mlir::mixq;

namespace {

/// The weight's name for override matching: the symbol of an llm.weight,
/// or "" for a constant (which only the default scheme applies to).
std::string weightName(Value weight) {
  if (auto op = weight.getDefiningOp<llm::WeightOp>())
    return op.getName().str();
  return "";
}

struct QuantizePass : public mlir::mixq::impl::MixQQuantizeBase<QuantizePass> {
  using MixQQuantizeBase::MixQQuantizeBase;

  /// The dialects of every registered scheme, which a SPEC may name.
  void getDependentDialects(DialectRegistry &registry) const override {
    MixQQuantizeBase::getDependentDialects(registry);
    insertSchemeDialects(registry);
  }

  void runOnOperation() override {
    warnedWeights.clear();
    auto defaultSpec = parseSchemeSpec(scheme);
    if (!defaultSpec)
      return reportAndFail(defaultSpec.takeError());
    auto parsedOverrides = parseSchemeOverrides(overrides);
    if (!parsedOverrides)
      return reportAndFail(parsedOverrides.takeError());

    SmallVector<llm::LinearOp> linears;
    getOperation().walk([&](llm::LinearOp op) { linears.push_back(op); });
    for (llm::LinearOp op : linears)
      if (failed(rewrite(op, *defaultSpec, *parsedOverrides)))
        return signalPassFailure();
  }

private:
  /// Weights whose fallback was already reported.
  std::set<std::string> warnedWeights;

  void reportAndFail(llvm::Error error) {
    getOperation().emitError() << llvm::toString(std::move(error));
    signalPassFailure();
  }

  const SchemeSpec &specFor(const std::string &name,
                            const SchemeSpec &defaultSpec,
                            const std::vector<SchemeOverride> &overrides) {
    if (!name.empty())
      for (const SchemeOverride &entry : overrides)
        if (std::regex_search(name, std::regex(entry.pattern)))
          return entry.spec;
    return defaultSpec;
  }

  LogicalResult rewrite(llm::LinearOp op, const SchemeSpec &defaultSpec,
                        const std::vector<SchemeOverride> &overrides) {
    Value weight = op.getWeight();
    bool isSymbol = weight.getDefiningOp<llm::WeightOp>() != nullptr;
    bool isConstant = weight.getDefiningOp<arith::ConstantOp>() != nullptr;
    if (!isSymbol && !isConstant)
      return success(); // a computed weight: nothing to quantize ahead of time
    std::string name = weightName(weight);
    const SchemeSpec &spec = specFor(name, defaultSpec, overrides);
    // --mixq-allocate-bits' choice comes first.
    auto allocated =
        op->getAttrOfType<QuantSchemeAttrInterface>(kSchemeAttrName);
    if (!allocated && spec.isUnquantized())
      return success();
    QuantSchemeAttrInterface scheme = allocated;
    if (!scheme) {
      auto schemeOrErr = buildSchemeAttr(&getContext(), spec);
      if (!schemeOrErr)
        return op.emitError() << llvm::toString(schemeOrErr.takeError());
      scheme = *schemeOrErr;
    }
    auto weightType = cast<RankedTensorType>(weight.getType());
    auto describe = [&]() {
      return name.empty() ? std::string("the constant weight")
                          : "weight @" + name;
    };
    QuantSchemeAttrInterface requested;
    if (std::string reason = getShapeMismatch(scheme, weightType.getShape());
        !reason.empty()) {
      // A scheme that cannot describe this one weight falls back to a close
      // one that can (QuantSchemeAttrInterface::getShapeFallback), with a
      // warning: a whole model must not fail over one weight.
      auto fallback = dyn_cast_if_present<QuantSchemeAttrInterface>(
          scheme.getShapeFallback(weightType.getShape()));
      if (!fallback ||
          !getShapeMismatch(fallback, weightType.getShape()).empty())
        return op.emitError()
               << "cannot quantize " << describe() << " of shape "
               << weightType.getDimSize(0) << "x" << weightType.getDimSize(1)
               << " with '"
               << (allocated ? llvm::to_string(allocated) : spec.text)
               << "': " << reason;
      // Once per weight, not per function reading it (prefill, decode).
      if (name.empty() || warnedWeights.insert(name).second)
        op.emitWarning() << describe() << " of shape "
                         << weightType.getDimSize(0) << "x"
                         << weightType.getDimSize(1) << ": " << reason
                         << "; quantized with " << fallback << " instead";
      requested = scheme;
      scheme = fallback;
    }

    OpBuilder b(op);
    auto qtensorType =
        QTensorType::get(&getContext(), weightType.getShape(), scheme);
    Value qweight;
    if (isSymbol)
      qweight = WeightOp::create(b, weight.getLoc(), qtensorType,
                                 FlatSymbolRefAttr::get(&getContext(), name));
    else
      qweight = QuantizeOp::create(b, op.getLoc(), qtensorType, weight);
    // The scheme asked for, where a fallback replaced it (--report).
    if (requested)
      qweight.getDefiningOp()->setAttr(kRequestedSchemeAttrName, requested);
    // A scheme with activation bits (QUIK's `act-bits=B`) takes quantized
    // activations: they are quantized per token before the matmul.
    Value input = op.getInput();
    if (std::optional<unsigned> actBits = scheme.getActivationBits())
      input = QuantizeActOp::create(b, op.getLoc(), input.getType(), input,
                                    qweight, b.getI64IntegerAttr(*actBits));
    Value result =
        MatmulOp::create(b, op.getLoc(), op.getType(), input, qweight);
    op.replaceAllUsesWith(result);
    op.erase();
    if (weight.use_empty())
      weight.getDefiningOp()->erase();
    return success();
  }
};

} // namespace
