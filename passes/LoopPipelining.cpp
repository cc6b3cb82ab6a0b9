//===- LoopPipelining.cpp - what the software-pipelining passes share -----===//
#include "passes/LoopPipelining.h"

#include "mlir/Analysis/SliceAnalysis.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

using namespace mlir;

namespace mlir::mixq {

bool isSharedMemRef(Value value) {
  auto type = dyn_cast<MemRefType>(value.getType());
  return type && nvgpu::NVGPUDialect::hasSharedMemoryAddressSpace(type);
}

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

FailureOr<scf::ForOp>
pipelineFetches(RewriterBase &rewriter, scf::ForOp loop,
                const llvm::SetVector<Operation *> &stage0, unsigned stages,
                FetchOrder order,
                scf::PipeliningOption::PredicateOpFn predicate) {
  unsigned lastStage = stages - 1;
  scf::PipeliningOption options;
  options.getScheduleFn =
      [&](scf::ForOp forOp,
          std::vector<std::pair<Operation *, unsigned>> &schedule) {
        if (forOp != loop)
          return;
        auto add = [&](bool fetches) {
          for (Operation &op : loop.getBody()->without_terminator())
            if (stage0.contains(&op) == fetches)
              schedule.emplace_back(&op, fetches ? 0 : lastStage);
        };
        add(order == FetchOrder::First);
        add(order != FetchOrder::First);
      };
  options.peelEpilogue = false;
  options.supportDynamicLoops = true;
  options.predicateFn = std::move(predicate);
  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPoint(loop);
  Location loc = loop.getLoc();
  bool modifiedIR = false;
  FailureOr<scf::ForOp> pipelined =
      scf::pipelineForLoop(rewriter, loop, options, &modifiedIR);
  if (succeeded(pipelined))
    return *pipelined;
  if (modifiedIR)
    return emitError(loc, "scf::pipelineForLoop failed after modifying the "
                          "loop");
  return scf::ForOp();
}

} // namespace mlir::mixq
