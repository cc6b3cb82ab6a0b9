//===- LoopPipelining.cpp - what the software-pipelining passes share -----===//
#include "passes/LoopPipelining.h"

#include "mlir/Analysis/SliceAnalysis.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

using namespace mlir;

namespace mlir::mixq {

llvm::SetVector<Operation *> collectFetchSlice(scf::ForOp loop,
                                               ArrayRef<Operation *> seeds) {
  llvm::SetVector<Operation *> slice;
  BackwardSliceOptions options(
      [&](Operation *op) { return op->getBlock() == loop.getBody(); });
  options.inclusive = true;
  for (Operation *seed : seeds)
    (void)getBackwardSlice(seed, &slice, options);
  return slice;
}

std::optional<StringRef>
checkFetchSlice(scf::ForOp loop, const llvm::SetVector<Operation *> &slice,
                function_ref<bool(Operation *)> isFetch) {
  for (Operation *op : slice) {
    if (!isMemoryEffectFree(op) && !isFetch(op))
      return "an op the fetches depend on has side effects and cannot be "
             "predicated";
    WalkResult carried = op->walk([&](Operation *nested) {
      for (Value operand : nested->getOperands())
        if (llvm::is_contained(loop.getRegionIterArgs(), operand))
          return WalkResult::interrupt();
      return WalkResult::advance();
    });
    if (carried.wasInterrupted())
      return "the fetches depend on a loop-carried value";
  }
  return std::nullopt;
}

bool yieldsBodyValues(scf::ForOp loop) {
  return llvm::all_of(loop.getBody()->getTerminator()->getOperands(),
                      [&](Value v) {
                        Operation *def = v.getDefiningOp();
                        return def && def->getBlock() == loop.getBody();
                      });
}

} // namespace mlir::mixq
