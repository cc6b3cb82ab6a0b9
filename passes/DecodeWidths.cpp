//===- DecodeWidths.cpp - one decode entry per nested width ---------------===//
//
// Progressive mixed-precision decoding needs the decode step at several
// widths over one copy of the weights. A nested scheme says which widths it
// can decode at (QuantSchemeAttrInterface::getNestedWidths) and gives itself
// at another width (withNestedDecodeWidth); this pass only clones @decode
// and retypes its mixq.weight ops, so it knows no scheme kind.
//===----------------------------------------------------------------------===//
#include "dialect/MixQ/MixQOps.h"
#include "dialect/MixQ/MixQTypes.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallSet.h"

#include <algorithm>

namespace mlir::mixq {
#define GEN_PASS_DEF_MIXQDECODEWIDTHS
#include "passes/Passes.h.inc"
} // namespace mlir::mixq

using namespace mlir;
using namespace mlir::mixq;

namespace {

/// The nested widths of a weight, or none.
std::optional<NestedWidths> getNestedWidths(WeightOp weight) {
  auto type = cast<QTensorType>(weight.getType());
  return type.getScheme().getNestedWidths();
}

/// The widths the nested weights of `func` allow: every W in [floor,
/// ceiling] moves at least one weight (ceiling: the widest weight's current
/// width; floor: the narrowest floor).
struct WidthRange {
  unsigned floor = ~0u;
  unsigned ceiling = 0;
  bool empty() const { return ceiling == 0; }
};

WidthRange getWidthRange(func::FuncOp func) {
  WidthRange range;
  func.walk([&](WeightOp weight) {
    if (std::optional<NestedWidths> widths = getNestedWidths(weight)) {
      range.floor = std::min(range.floor, widths->floor);
      range.ceiling = std::max(range.ceiling, widths->current);
    }
  });
  return range;
}

/// Retypes every nested weight of `func` to `width` levels: `ceiling -
/// width` below its current width, but not below its floor.
void setNestedWidths(func::FuncOp func, unsigned ceiling, unsigned width) {
  unsigned steps = ceiling - width;
  func.walk([&](WeightOp weight) {
    std::optional<NestedWidths> widths = getNestedWidths(weight);
    if (!widths)
      return;
    unsigned target =
        std::max<int64_t>(widths->floor, int64_t(widths->current) - steps);
    auto type = cast<QTensorType>(weight.getType());
    auto scheme = cast<QuantSchemeAttrInterface>(
        type.getScheme().withNestedDecodeWidth(target));
    weight.getResult().setType(
        QTensorType::get(type.getContext(), type.getShape(), scheme));
  });
}

struct DecodeWidthsPass
    : mlir::mixq::impl::MixQDecodeWidthsBase<DecodeWidthsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (failed(checkRequest(module)))
      return signalPassFailure();
    auto decode = module.lookupSymbol<func::FuncOp>("decode");
    WidthRange range = getWidthRange(decode);
    if (failed(checkWidths(decode, range)))
      return signalPassFailure();

    SymbolTable symbols(module);
    MLIRContext *ctx = module.getContext();
    SmallVector<Attribute> entries;
    // Copies first, each after the last (so they follow @decode in order):
    // @decode itself becomes the first width last.
    Operation *previous = decode;
    for (unsigned width : llvm::drop_begin(widths)) {
      func::FuncOp copy = decode.clone();
      copy.setSymName(("decode_w" + Twine(width)).str());
      symbols.insert(copy, std::next(Block::iterator(previous)));
      setNestedWidths(copy, range.ceiling, width);
      previous = copy;
    }
    setNestedWidths(decode, range.ceiling, widths.front());
    for (auto [i, width] : llvm::enumerate(widths)) {
      std::string entry =
          i == 0 ? std::string("decode") : "decode_w" + std::to_string(width);
      entries.push_back(DictionaryAttr::get(
          ctx, {NamedAttribute(StringAttr::get(ctx, "entry"),
                               StringAttr::get(ctx, entry)),
                NamedAttribute(
                    StringAttr::get(ctx, "width"),
                    IntegerAttr::get(IntegerType::get(ctx, 64), width))}));
    }
    module->setAttr("mixq.decode_widths", ArrayAttr::get(ctx, entries));
    if (failed(setPrefillWidth(module)))
      return signalPassFailure();
  }

  LogicalResult checkRequest(ModuleOp module) {
    if (module->hasAttr("mixq.decode_widths"))
      return module.emitError("the module already has decode widths "
                              "(mixq.decode_widths); run the pass once");
    if (widths.empty())
      return module.emitError("mixq-decode-widths needs at least one width "
                              "(widths=4,3,2)");
    if (!module.lookupSymbol<func::FuncOp>("decode"))
      return module.emitError("no @decode function to give widths to");
    return success();
  }

  LogicalResult checkWidths(func::FuncOp decode, WidthRange range) {
    ModuleOp module = decode->getParentOfType<ModuleOp>();
    for (unsigned width : llvm::drop_begin(widths))
      if (module.lookupSymbol(("decode_w" + Twine(width)).str()))
        return module.emitError() << "the module already has a @decode_w"
                                  << width << " for decode width " << width;
    if (range.empty())
      return decode.emitError(
          "decode widths need weights with nested widths (#mixq.bitplane, "
          "alone or as the dense part of #mixq.sparse); no weight of "
          "@decode has any");
    llvm::SmallSet<unsigned, 8> seen;
    for (unsigned width : widths) {
      if (width < range.floor || width > range.ceiling)
        return decode.emitError()
               << "decode width " << width << " is outside " << range.floor
               << ".." << range.ceiling
               << ", the widths @decode's nested weights decode at";
      if (!seen.insert(width).second)
        return decode.emitError()
               << "decode width " << width << " is given twice";
    }
    return success();
  }

  LogicalResult setPrefillWidth(ModuleOp module) {
    auto prefill = module.lookupSymbol<func::FuncOp>("prefill");
    if (!prefill) {
      if (prefillWidth == 0)
        return success();
      return module.emitError("prefill-width given, but there is no @prefill");
    }
    WidthRange range = getWidthRange(prefill);
    // Unchanged, @prefill still has a width to report.
    if (prefillWidth == 0) {
      if (!range.empty())
        module->setAttr(
            "mixq.prefill_width",
            IntegerAttr::get(IntegerType::get(module.getContext(), 64),
                             range.ceiling));
      return success();
    }
    if (range.empty())
      return prefill.emitError("prefill width given, but no weight of "
                               "@prefill has nested widths");
    unsigned width = prefillWidth;
    if (width < range.floor || width > range.ceiling)
      return prefill.emitError()
             << "prefill width " << width << " is outside " << range.floor
             << ".." << range.ceiling
             << ", the widths @prefill's nested weights decode at";
    setNestedWidths(prefill, range.ceiling, width);
    module->setAttr(
        "mixq.prefill_width",
        IntegerAttr::get(IntegerType::get(module.getContext(), 64), width));
    return success();
  }
};

} // namespace
