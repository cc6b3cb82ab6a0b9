//===- PrefetchLoads.cpp - register prefetch of a loop's global loads -----===//
//
// A decode GEMV whose weight codes are not staged through shared memory
// (tiles with no 4-, 8- or 16-byte lane slice, QUIK's direct 16-byte loads,
// --stage-gemv-weights=false) reads them straight into registers. Without
// pipelining, a step's loads are issued at its top and consumed a few
// instructions later, so each warp has one step of loads in flight and
// waits out the memory latency every step. Here the loop is software-
// pipelined with upstream's scf::pipelineForLoop: iteration i issues the
// loads of iteration i + stages - 1 before it computes, and the loaded
// values travel to their iteration through loop-carried registers.
//===----------------------------------------------------------------------===//
#include "passes/Dispatch.h"
#include "passes/LoopPipelining.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/Utils/Utils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace mlir::mixq {
#define GEN_PASS_DEF_MIXQPREFETCHLOADS
#include "passes/Passes.h.inc"
} // namespace mlir::mixq

using namespace mlir;
using namespace mlir::mixq;

namespace {

/// A load from global memory: what the pass moves to stage 0.
bool isGlobalLoad(Operation *op) {
  Value memref = getLoadedMemRef(op);
  return memref && !isSharedMemRef(memref);
}

/// Why the loop's global loads may not be issued an iteration early: an op
/// of the loop (nested ones included) that may write memory other than
/// shared memory, which a later iteration's load could read.
std::optional<StringRef> checkNoGlobalWrites(scf::ForOp loop) {
  bool writes = anyMemoryOpInLoop(loop, [](Operation *op) {
    auto effects = dyn_cast<MemoryEffectOpInterface>(op);
    if (!effects)
      return !isMemoryEffectFree(op);
    return declaresWriteTo(
        effects, [](Value target) { return !isSharedMemRef(target); });
  });
  if (writes)
    return "an op of the loop may write memory other than shared memory";
  return std::nullopt;
}

/// Predication hook: a load of an iteration past the end reads element 0
/// of its memref instead (its value is never used; every memref a kernel
/// loads from has one). Indices computed outside the op's block are loop
/// invariant and stay. Other stage-0 ops are free of side effects and run
/// unpredicated.
Operation *predicateLoad(RewriterBase &rewriter, Operation *op, Value pred) {
  if (isMemoryEffectFree(op))
    return op;
  if (!isGlobalLoad(op))
    return nullptr;
  clampLoadIndices(rewriter, op, pred);
  return op;
}

class PrefetchLoads : public mixq::impl::MixQPrefetchLoadsBase<PrefetchLoads> {
public:
  using Base::Base;

  void runOnOperation() override {
    if (stages < 1 || unroll < 1) {
      emitError(getOperation()->getLoc(),
                "mixq-prefetch-loads: 'stages' and 'unroll' must be at least "
                "1, got ")
          << stages.getValue() << " and " << unroll.getValue();
      return signalPassFailure();
    }
    SmallVector<scf::ForOp> loops;
    getOperation()->walk([&](scf::ForOp loop) {
      if (loop->hasAttr(kPrefetchAttrName))
        loops.push_back(loop);
    });
    IRRewriter rewriter(&getContext());
    for (scf::ForOp loop : loops) {
      loop->removeAttr(kPrefetchAttrName);
      if (stages > 1 && failed(prefetch(rewriter, loop)))
        return signalPassFailure();
    }
  }

private:
  LogicalResult prefetch(RewriterBase &rewriter, scf::ForOp loop);
  void unrollPipelinedLoop(RewriterBase &rewriter, scf::ForOp loop);
};

/// Unrolled by `unroll` (the CUDA backend passes `stages`), the loaded
/// values rotate through the copies of the body instead of being moved into
/// the next iteration's registers (ptxas cannot rename across a back edge:
/// one move per register of loaded data and iteration). The function
/// records the factor (kLoopUnrollAttrName).
void PrefetchLoads::unrollPipelinedLoop(RewriterBase &rewriter,
                                        scf::ForOp loop) {
  if (unroll <= 1)
    return;
  auto func = loop->getParentOfType<FunctionOpInterface>();
  if (failed(loopUnrollByFactor(loop, unroll))) {
    loop.emitRemark("prefetched loop not unrolled: loopUnrollByFactor "
                    "failed");
    return;
  }
  if (!func)
    return;
  func->setAttr(kLoopUnrollAttrName, rewriter.getI64IntegerAttr(unroll));
}

LogicalResult PrefetchLoads::prefetch(RewriterBase &rewriter, scf::ForOp loop) {
  auto reject = [&](const Twine &why) {
    loop.emitRemark("loads not prefetched: ") << why;
    return success();
  };
  SmallVector<Operation *> loads;
  for (Operation &op : loop.getBody()->without_terminator())
    if (isGlobalLoad(&op))
      loads.push_back(&op);
  if (loads.empty())
    return reject("the loop body has no load from global memory");
  WalkResult async = loop->walk([](Operation *op) {
    return isa<nvgpu::DeviceAsyncCopyOp, nvgpu::DeviceAsyncWaitOp>(op)
               ? WalkResult::interrupt()
               : WalkResult::advance();
  });
  if (async.wasInterrupted())
    return reject("the loop already stages its loads with cp.async");
  if (std::optional<StringRef> why = checkNoGlobalWrites(loop))
    return reject(*why);
  llvm::SetVector<Operation *> stage0 = collectFetchSlice(loop, loads);
  if (std::optional<StringRef> why =
          checkFetchSlice(loop, stage0, isGlobalLoad))
    return reject(*why);
  if (!yieldsBodyValues(loop))
    return reject("a loop-carried value is not computed in the loop body");

  // The loads of the later iteration first, so that they are in flight
  // while this one computes.
  FailureOr<scf::ForOp> pipelined = pipelineFetches(
      rewriter, loop, stage0, stages, FetchOrder::First, predicateLoad);
  if (failed(pipelined))
    return failure();
  if (!*pipelined)
    return reject("scf::pipelineForLoop rejected the loop");
  if (auto func = (*pipelined)->getParentOfType<FunctionOpInterface>())
    func->setAttr(kPrefetchStagesAttrName, rewriter.getI64IntegerAttr(stages));
  unrollPipelinedLoop(rewriter, *pipelined);
  return success();
}

} // namespace
