//===- AllocateBits.cpp - schemes under a bits-per-weight budget ----------===//
#include "passes/AllocateBits.h"

#include "dialect/LLM/LLMOps.h"
#include "dialect/MixQ/SchemeRegistry.h"
#include "dialect/MixQ/SchemeUtils.h"
#include "passes/Passes.h"
#include "passes/SchemeSpec.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/ScopedPrinter.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace mlir::mixq {
#define GEN_PASS_DEF_MIXQALLOCATEBITS
#include "passes/Passes.h.inc"
} // namespace mlir::mixq

using namespace mlir;
using namespace mlir::mixq;

namespace {

llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message.str());
}

/// One usable (scheme, cost) pair of a weight.
struct Option {
  QuantSchemeAttrInterface scheme;
  double bits = 0;  ///< bits per weight
  double error = 0; ///< squared Frobenius error
};

struct WeightChoice {
  /// Every llm.linear using this weight (prefill and decode share symbols).
  SmallVector<llm::LinearOp, 2> ops;
  std::string name;
  int64_t parameters = 0;
  std::vector<Option> hull; ///< by increasing bits, decreasing error
  size_t chosen = 0;
};

std::vector<float> constantValues(DenseElementsAttr attr) {
  std::vector<float> values;
  values.reserve(attr.getNumElements());
  for (APFloat value : attr.getValues<APFloat>())
    values.push_back(value.convertToDouble());
  return values;
}

/// Keeps the options on the lower convex hull of (bits, error): the only
/// ones a greedy upgrade by error-per-bit can reach optimally.
std::vector<Option> lowerConvexHull(std::vector<Option> options) {
  llvm::sort(options, [](const Option &a, const Option &b) {
    return a.bits < b.bits || (a.bits == b.bits && a.error < b.error);
  });
  std::vector<Option> hull;
  for (const Option &o : options) {
    if (!hull.empty() && o.error >= hull.back().error)
      continue; // more bits, no less error: never worth it
    while (hull.size() >= 2) {
      const Option &a = hull[hull.size() - 2], &b = hull.back();
      // b is above the segment a-o: drop it.
      double cross = (b.bits - a.bits) * (o.error - a.error) -
                     (b.error - a.error) * (o.bits - a.bits);
      if (cross > 0)
        break;
      hull.pop_back();
    }
    hull.push_back(o);
  }
  return hull;
}

llvm::Expected<std::vector<Option>>
evaluate(ArrayRef<QuantSchemeAttrInterface> candidates, ArrayRef<int64_t> shape,
         const std::vector<float> &values, const std::string &name) {
  std::vector<Option> options;
  for (QuantSchemeAttrInterface scheme : candidates) {
    // A candidate the shape rejects is skipped.
    if (!getShapeMismatch(scheme, shape).empty())
      continue;
    auto packed = scheme.quantize(values, shape, QuantizeOptions());
    if (!packed)
      return makeError("weight " + name + ": " +
                       llvm::toString(packed.takeError()));
    auto back = scheme.dequantize(*packed, shape);
    if (!back)
      return makeError("weight " + name + ": " +
                       llvm::toString(back.takeError()));
    double error = 0;
    for (size_t i = 0; i < values.size(); ++i) {
      double d = double(values[i]) - double((*back)[i]);
      error += d * d;
    }
    options.push_back({scheme, scheme.getBitsPerWeight(shape), error});
  }
  if (options.empty())
    return makeError("weight " + name +
                     ": no candidate scheme can describe its shape");
  return lowerConvexHull(std::move(options));
}

/// Greedy multiple-choice knapsack: upgrade the weight with the best error
/// reduction per added bit while the total stays within the budget.
void upgradeWithinBudget(std::vector<WeightChoice> &weights,
                         double budgetBits) {
  double used = 0;
  for (const WeightChoice &w : weights)
    used += w.parameters * w.hull[w.chosen].bits;
  while (true) {
    WeightChoice *best = nullptr;
    double bestRate = 0;
    for (WeightChoice &w : weights) {
      if (w.chosen + 1 >= w.hull.size())
        continue;
      const Option &now = w.hull[w.chosen], &next = w.hull[w.chosen + 1];
      double addedBits = w.parameters * (next.bits - now.bits);
      if (used + addedBits > budgetBits * (1 + 1e-12))
        continue;
      double rate = (now.error - next.error) / addedBits;
      if (!best || rate > bestRate) {
        best = &w;
        bestRate = rate;
      }
    }
    if (!best)
      return;
    used += best->parameters *
            (best->hull[best->chosen + 1].bits - best->hull[best->chosen].bits);
    ++best->chosen;
  }
}

} // namespace

llvm::Expected<std::vector<BitAllocation>>
mlir::mixq::allocateBits(ModuleOp module, double budget,
                         ArrayRef<std::string> candidateSpecs,
                         const WeightValuesFn &readWeight) {
  // Outside the pass (mixq-compile) nothing has loaded the scheme dialect.
  module.getContext()->getOrLoadDialect<MixQDialect>();
  if (!(budget > 0) || !std::isfinite(budget))
    return makeError("budget must be a positive number of bits per weight");
  SmallVector<QuantSchemeAttrInterface> candidates;
  for (const std::string &text : candidateSpecs) {
    auto spec = parseSchemeSpec(text);
    if (!spec)
      return spec.takeError();
    if (spec->isUnquantized())
      return makeError("candidate '" + text +
                       "' does not quantize; candidates must be schemes");
    auto scheme = buildSchemeAttr(module.getContext(), *spec);
    if (!scheme)
      return scheme.takeError();
    candidates.push_back(*scheme);
  }
  if (candidates.empty())
    return makeError("no candidate schemes");

  std::vector<WeightChoice> weights;
  llvm::StringMap<size_t> weightBySymbol;
  SmallVector<llm::LinearOp> linears;
  module.walk([&](llm::LinearOp op) { linears.push_back(op); });
  for (llm::LinearOp op : linears) {
    Value weight = op.getWeight();
    auto type = cast<RankedTensorType>(weight.getType());
    std::vector<float> values;
    std::string name;
    if (auto symbol = weight.getDefiningOp<llm::WeightOp>()) {
      name = "@" + symbol.getName().str();
      if (auto it = weightBySymbol.find(name); it != weightBySymbol.end()) {
        weights[it->second].ops.push_back(op);
        continue;
      }
      weightBySymbol[name] = weights.size();
      if (!readWeight)
        return makeError("weight " + name +
                         " is a WeightStore symbol; its values are not in "
                         "the IR (use mixq-compile --budget)");
      auto read = readWeight(symbol.getName());
      if (!read)
        return read.takeError();
      values = std::move(*read);
    } else if (auto constant = weight.getDefiningOp<arith::ConstantOp>()) {
      name = "constant #" + std::to_string(weights.size());
      auto attr = dyn_cast<DenseElementsAttr>(constant.getValue());
      if (!attr)
        return makeError("weight " + name + " is not a dense constant");
      values = constantValues(attr);
    } else {
      continue; // computed weights are not quantized ahead of time
    }
    auto hull = evaluate(candidates, type.getShape(), values, name);
    if (!hull)
      return hull.takeError();
    weights.push_back({{op}, name, type.getNumElements(), std::move(*hull), 0});
  }

  double parameters = 0, minimumBits = 0;
  for (const WeightChoice &w : weights) {
    parameters += w.parameters;
    minimumBits += w.parameters * w.hull.front().bits;
  }
  if (weights.empty())
    return std::vector<BitAllocation>();
  if (minimumBits > budget * parameters * (1 + 1e-12))
    return makeError(llvm::formatv("budget {0:F2} bits/weight is below the "
                                   "cheapest assignment of the candidates "
                                   "({1:F4} bits/weight)",
                                   budget, minimumBits / parameters)
                         .str());
  upgradeWithinBudget(weights, budget * parameters);

  std::vector<BitAllocation> result;
  for (WeightChoice &w : weights) {
    const Option &o = w.hull[w.chosen];
    for (llm::LinearOp op : w.ops)
      op->setAttr(kSchemeAttrName, o.scheme);
    result.push_back(
        {w.name, w.parameters, llvm::to_string(o.scheme), o.bits, o.error});
  }
  return result;
}

namespace {

struct AllocateBitsPass
    : mlir::mixq::impl::MixQAllocateBitsBase<AllocateBitsPass> {
  using MixQAllocateBitsBase::MixQAllocateBitsBase;

  /// The dialects of every registered scheme, which a SPEC may name.
  void getDependentDialects(DialectRegistry &registry) const override {
    MixQAllocateBitsBase::getDependentDialects(registry);
    insertSchemeDialects(registry);
  }

  void runOnOperation() override {
    SmallVector<std::string> specs;
    for (StringRef spec : llvm::split(StringRef(candidates), ';'))
      if (!spec.trim().empty())
        specs.push_back(spec.trim().str());
    auto result = allocateBits(getOperation(), budget, specs);
    if (!result) {
      getOperation().emitError() << llvm::toString(result.takeError());
      return signalPassFailure();
    }
  }
};

} // namespace
