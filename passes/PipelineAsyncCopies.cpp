//===- PipelineAsyncCopies.cpp - cp.async software pipelining -------------===//
//
// Decode kernels stream packed weight codes from global memory; the copies
// of the next tiles must be in flight while the current tile is computed on.
// The rewrite is assembled from upstream pieces the way
// transform.nvgpu.pipeline_shared_memory_copies does (multiBuffer,
// createAsyncGroups, pipelineForLoop), but as a plain pass with the checks
// that keep it from producing a wrong or half-rewritten loop: the
// preconditions of the upstream utilities are tested before they run, and a
// loop that fails one keeps a correct form (synchronous copies, or async
// copies that wait for all groups).
//===----------------------------------------------------------------------===//
#include "passes/Dispatch.h"
#include "passes/LoopPipelining.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/Transforms/Transforms.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/NVGPU/Transforms/Transforms.h"
#include "mlir/Dialect/NVGPU/Transforms/Utils.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/Dialect/UB/IR/UBOps.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/SetVector.h"

namespace mlir::mixq {
#define GEN_PASS_DEF_MIXQPIPELINEASYNCCOPIES
#include "passes/Passes.h.inc"
} // namespace mlir::mixq

using namespace mlir;
using namespace mlir::mixq;

namespace {

/// Whether `op` writes a vector read from non-shared memory into shared
/// memory. This is a superset of what createAsyncGroups converts (it also
/// requires contiguity and a 4/8/16-byte size), so a loop whose copies all
/// pass the checks below has no other copy that createAsyncGroups could
/// turn asynchronous behind our back.
bool isGlobalToSharedCopy(Operation *op) {
  if (!isa<vector::TransferWriteOp, vector::StoreOp>(op) ||
      !isSharedMemRef(nvgpu::getMemrefOperand(op)))
    return false;
  Operation *read = nvgpu::getValueStored(op).getDefiningOp();
  return read && isa<vector::TransferReadOp, vector::LoadOp>(read) &&
         !isSharedMemRef(nvgpu::getMemrefOperand(read));
}

bool isAsyncCopyOp(Operation *op) {
  return isa<nvgpu::DeviceAsyncCopyOp, nvgpu::DeviceAsyncCreateGroupOp,
             nvgpu::DeviceAsyncWaitOp>(op);
}

/// A loop whose copies the pass rewrites, and the allocs they fill.
struct CopyLoop {
  scf::ForOp loop;
  SmallVector<Operation *> copies;
  SmallVector<memref::AllocOp, 2> allocs;
};

/// Checks that `alloc` can be multi-buffered over `loop` without changing
/// what the program computes; returns the reason when it cannot.
std::optional<StringRef> checkAlloc(memref::AllocOp alloc, CopyLoop &match) {
  scf::ForOp loop = match.loop;
  MemRefType type = alloc.getType();
  if (!type.hasStaticShape() || !type.getLayout().isIdentity())
    return "the shared alloc needs a static shape and the identity layout";
  Operation *anchor = alloc->getBlock()->findAncestorOpInBlock(*loop);
  if (!anchor || !alloc->isBeforeInBlock(anchor))
    return "the shared alloc must be defined before the loop";
  Block *body = loop.getBody();
  Operation *first = nullptr;
  for (Operation *user : alloc->getUsers()) {
    if (isa<memref::DeallocOp>(user) && !loop->isAncestor(user))
      continue;
    if (!loop->isProperAncestor(user))
      return "the shared alloc is used outside the loop";
    Operation *top = body->findAncestorOpInBlock(*user);
    if (!first || top->isBeforeInBlock(first))
      first = top;
  }
  if (!llvm::is_contained(match.copies, first))
    return "the loop reads the shared buffer before its copies overwrite it";
  return std::nullopt;
}

/// Returns the loop's copies and allocs; no copies means "leave it alone".
/// A loop with copies that cannot be rewritten gets a remark and failure.
FailureOr<CopyLoop> matchCopyLoop(scf::ForOp loop) {
  CopyLoop match{loop, {}, {}};
  bool hasAsync = false;
  loop->walk([&](Operation *op) {
    hasAsync |= isAsyncCopyOp(op);
    if (isGlobalToSharedCopy(op))
      match.copies.push_back(op);
  });
  if (match.copies.empty())
    return match;
  auto reject = [&](const Twine &why) {
    loop.emitRemark("copies not pipelined: ") << why;
    return failure();
  };
  if (hasAsync)
    return reject("the loop already contains nvgpu async copies");
  for (Operation *copy : match.copies) {
    if (copy->getBlock() != loop.getBody())
      return reject("a copy to shared memory is inside a nested region");
    auto alloc = nvgpu::getMemrefOperand(copy).getDefiningOp<memref::AllocOp>();
    if (!alloc)
      return reject("a copy's shared buffer is not a memref.alloc");
    if (!llvm::is_contained(match.allocs, alloc))
      match.allocs.push_back(alloc);
  }
  for (memref::AllocOp alloc : match.allocs)
    if (std::optional<StringRef> why = checkAlloc(alloc, match))
      return reject(*why);
  return match;
}

bool isAsyncFetch(Operation *op) {
  return isa<nvgpu::DeviceAsyncCopyOp, nvgpu::DeviceAsyncCreateGroupOp>(op);
}

/// The ops of stage 0: the async copies, their groups and, transitively,
/// the body ops their operands come from (getPipelineStages upstream).
/// Unlike collectStage0PipeliningOps upstream, barriers stay in the last
/// stage, in place: the kernel runs the last stage before stage 0, so any
/// barrier of the body already separates the previous reads of a buffer
/// from the copies that reuse it, and moving one past the ops that follow
/// it could take it from between a wait and its reads.
llvm::SetVector<Operation *> collectStage0(scf::ForOp loop) {
  SmallVector<Operation *> copies;
  for (Operation &op : *loop.getBody())
    if (isAsyncFetch(&op))
      copies.push_back(&op);
  return collectFetchSlice(loop, copies);
}

/// Predication hook of the pipeliner, as upstream's
/// replaceOpWithPredicatedOp: a copy of an iteration past the end reads 0
/// source elements (cp.async zero-fills its destination). Unlike upstream,
/// it keeps `bypassL1`. A load a copy's address comes from (checked to read
/// memory the loop does not write: an indirect component's row from a
/// per-row table) reads element 0 instead.
Operation *predicateOp(RewriterBase &rewriter, Operation *op, Value pred) {
  if (isMemoryEffectFree(op) ||
      isa<gpu::BarrierOp, nvgpu::DeviceAsyncCreateGroupOp,
          nvgpu::DeviceAsyncWaitOp>(op))
    return op;
  if (getLoadedMemRef(op)) {
    clampLoadIndices(rewriter, op, pred);
    return op;
  }
  auto copy = dyn_cast<nvgpu::DeviceAsyncCopyOp>(op);
  if (!copy)
    return nullptr;
  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPoint(copy);
  Location loc = copy.getLoc();
  Value all = copy.getSrcElements();
  if (!all)
    all = arith::ConstantIndexOp::create(rewriter, loc,
                                         copy.getDstElements().getZExtValue());
  Value zero = arith::ConstantIndexOp::create(rewriter, loc, 0);
  Value srcElements = arith::SelectOp::create(rewriter, loc, pred, all, zero);
  auto predicated = nvgpu::DeviceAsyncCopyOp::create(
      rewriter, loc, copy.getAsyncToken().getType(), copy.getDst(),
      copy.getDstIndices(), copy.getSrc(), copy.getSrcIndices(),
      copy.getDstElementsAttr(), srcElements, copy.getBypassL1Attr());
  rewriter.replaceOp(copy, predicated);
  return predicated;
}

/// A 16-byte cp.async needs a 16-byte aligned shared address; an element
/// type's alignment is all a buffer would get otherwise.
void alignForCpAsync(memref::AllocOp alloc) {
  constexpr uint64_t kCpAsyncAlignment = 16;
  if (alloc.getAlignment().value_or(0) < kCpAsyncAlignment)
    alloc.setAlignment(kCpAsyncAlignment);
}

class PipelineAsyncCopies
    : public mixq::impl::MixQPipelineAsyncCopiesBase<PipelineAsyncCopies> {
public:
  using Base::Base;

  void runOnOperation() override {
    if (stages < 1) {
      emitError(getOperation()->getLoc(), "mixq-pipeline-async-copies: "
                                          "'stages' must be at least 1, got ")
          << stages.getValue();
      return signalPassFailure();
    }
    SmallVector<FunctionOpInterface> funcs;
    getOperation()->walk([&](FunctionOpInterface func) {
      if (isa<gpu::GPUFuncOp, func::FuncOp>(func))
        funcs.push_back(func);
    });
    for (FunctionOpInterface func : funcs)
      if (failed(runOnFunction(func)))
        return signalPassFailure();
  }

private:
  /// A pipelined loop and the ops the pipeliner put before it.
  struct Prologue {
    scf::ForOp loop;
    SmallVector<Operation *> ops;
  };
  /// The current function's pipelined loops, in the order rewritten.
  SmallVector<Prologue> prologues;

  LogicalResult runOnFunction(FunctionOpInterface func);
  LogicalResult rewriteLoop(RewriterBase &rewriter, CopyLoop &match);
  void swizzleAllocs(CopyLoop &match);
  LogicalResult pipeline(RewriterBase &rewriter, scf::ForOp loop,
                         ArrayRef<nvgpu::DeviceAsyncWaitOp> waits);
  void hoistPrologues(RewriterBase &rewriter, gpu::GPUFuncOp func);
  void makeWorkgroupAttributions(RewriterBase &rewriter, gpu::GPUFuncOp func,
                                 ArrayRef<memref::AllocOp> allocs);
};

LogicalResult PipelineAsyncCopies::runOnFunction(FunctionOpInterface func) {
  // Post-order: an inner loop is rewritten before the loop around it, which
  // then sees async ops and is left alone.
  SmallVector<scf::ForOp> loops;
  func->walk<WalkOrder::PostOrder>(
      [&](scf::ForOp loop) { loops.push_back(loop); });
  IRRewriter rewriter(func.getContext());
  SmallVector<memref::AllocOp> rewrittenAllocs;
  prologues.clear();
  for (scf::ForOp loop : loops) {
    FailureOr<CopyLoop> match = matchCopyLoop(loop);
    if (failed(match) || match->copies.empty())
      continue;
    if (failed(rewriteLoop(rewriter, *match)))
      return failure();
    for (memref::AllocOp alloc : match->allocs)
      alignForCpAsync(alloc);
    llvm::append_range(rewrittenAllocs, match->allocs);
  }
  auto gpuFunc = dyn_cast<gpu::GPUFuncOp>(*func);
  if (gpuFunc && workgroupAttributions)
    makeWorkgroupAttributions(rewriter, gpuFunc, rewrittenAllocs);
  // Once buffers that share a slot are one attribution, which the
  // hoisting's buffer check must see.
  if (gpuFunc && gpuFunc.isKernel() && hoistPrologue)
    hoistPrologues(rewriter, gpuFunc);
  return success();
}

/// Each loop's first copies move up to the kernel's first memory access,
/// in the order the loops were rewritten (inner loops first, then program
/// order), so the groups keep their relative order; a commit that moves
/// earlier only makes the waits that count it conservative.
void PipelineAsyncCopies::hoistPrologues(RewriterBase &rewriter,
                                         gpu::GPUFuncOp func) {
  Operation *hoistPoint = getFirstEffectfulOp(func.getBody().front());
  for (Prologue &prologue : prologues)
    if (std::optional<StringRef> why = hoistPrologueCopies(
            rewriter, prologue.loop, prologue.ops, hoistPoint))
      prologue.loop.emitRemark("prologue copies not hoisted: ") << *why;
}

/// Async copies first (before multi-buffering, so that swizzling still sees
/// the plain alloc), then multi-buffering and pipelining. A failure of the
/// later steps leaves correct async copies behind: every wait waits for all
/// groups.
LogicalResult PipelineAsyncCopies::rewriteLoop(RewriterBase &rewriter,
                                               CopyLoop &match) {
  scf::ForOp loop = match.loop;
  llvm::SmallSetVector<Operation *, 4> reads;
  for (Operation *copy : match.copies)
    reads.insert(nvgpu::getValueStored(copy).getDefiningOp());
  nvgpu::createAsyncGroups(rewriter, loop, bypassL1);
  // createAsyncGroups leaves the global reads behind; they would be
  // re-executed, unpredicated, in the last stage.
  for (Operation *read : reads)
    if (read->use_empty())
      rewriter.eraseOp(read);

  SmallVector<nvgpu::DeviceAsyncWaitOp> waits(
      loop.getBody()->getOps<nvgpu::DeviceAsyncWaitOp>());
  for (nvgpu::DeviceAsyncWaitOp wait : waits)
    wait.setNumGroups(0);
  if (waits.empty()) {
    loop.emitRemark("copies not pipelined: none is a contiguous 4, 8 or "
                    "16-byte vector copy that cp.async supports");
    match.allocs.clear();
    return success();
  }
  for (Operation &op : *loop.getBody())
    if (isGlobalToSharedCopy(&op))
      op.emitRemark("copy stays synchronous: cp.async needs a contiguous 4, "
                    "8 or 16-byte vector");
  if (stages == 1)
    return success();

  auto reject = [&](const Twine &why) {
    loop.emitRemark("async copies not pipelined: ") << why;
    return success();
  };
  // Besides the copies, the slice may read memory the loop never writes:
  // the per-row tables an indirect component's row is computed from.
  auto isFetchOrInvariantLoad = [&](Operation *op) {
    return isAsyncFetch(op) || isLoadOfLoopInvariantMemory(op, loop);
  };
  if (std::optional<StringRef> why =
          checkFetchSlice(loop, collectStage0(loop), isFetchOrInvariantLoad))
    return reject(*why);
  if (!yieldsBodyValues(loop))
    return reject("a loop-carried value is not computed in the loop body");
  if (swizzle)
    swizzleAllocs(match);
  for (memref::AllocOp &alloc : match.allocs) {
    FailureOr<memref::AllocOp> multi =
        memref::multiBuffer(rewriter, alloc, stages,
                            /*skipOverrideAnalysis=*/true);
    if (failed(multi))
      return reject("memref::multiBuffer failed on a shared alloc");
    alloc = *multi;
  }
  return pipeline(rewriter, loop, waits);
}

void PipelineAsyncCopies::swizzleAllocs(CopyLoop &match) {
  for (memref::AllocOp alloc : match.allocs) {
    if (alloc.getType().getRank() < 2)
      continue;
    if (failed(nvgpu::optimizeSharedMemoryReadsAndWrites(match.loop, alloc)))
      alloc.emitRemark("shared alloc not swizzled: its accesses do not "
                       "qualify (nvgpu::optimizeSharedMemoryReadsAndWrites)");
  }
}

/// Copies at stage 0, the rest at stage N-1 (computing on iteration i before
/// issuing the copies of iteration i+N-1 in the kernel), predicated epilogue.
LogicalResult
PipelineAsyncCopies::pipeline(RewriterBase &rewriter, scf::ForOp loop,
                              ArrayRef<nvgpu::DeviceAsyncWaitOp> waits) {
  unsigned lastStage = stages - 1;
  llvm::SetVector<Operation *> stage0 = collectStage0(loop);

  // Group k of G per iteration: when iteration i waits for it, the groups of
  // iterations <= i+N-2 are committed, and G-1-k of iteration i plus
  // G*(N-2) of later iterations may still be in flight. The waits are
  // cloned only into the kernel (no peeled epilogue), so they are set here
  // rather than by an annotation hook.
  int64_t perIteration = waits.size();
  for (auto [k, wait] : llvm::enumerate(waits))
    nvgpu::DeviceAsyncWaitOp(wait).setNumGroups(perIteration * lastStage - 1 -
                                                k);

  // The copies of a later iteration last: they overwrite buffers the
  // earlier stages may still read before the iteration's barrier.
  Location loc = loop.getLoc();
  Operation *before = loop->getPrevNode();
  Block *block = loop->getBlock();
  FailureOr<scf::ForOp> pipelined = pipelineFetches(
      rewriter, loop, stage0, stages, FetchOrder::Last, predicateOp);
  if (failed(pipelined))
    return failure();
  if (!*pipelined) {
    for (nvgpu::DeviceAsyncWaitOp wait : waits)
      wait.setNumGroups(0);
    loop.emitRemark("async copies not pipelined: scf::pipelineForLoop "
                    "rejected the loop");
    return success();
  }
  Prologue &prologue = prologues.emplace_back();
  prologue.loop = *pipelined;
  for (Operation *op = before ? before->getNextNode() : &block->front();
       op != pipelined->getOperation(); op = op->getNextNode())
    prologue.ops.push_back(op);
  OpBuilder::InsertionGuard guard(rewriter);
  // The last iterations commit zero-filling groups nobody waits for; an
  // empty group gives the drain its token operand.
  rewriter.setInsertionPointAfter(*pipelined);
  auto tokenType = nvgpu::DeviceAsyncTokenType::get(rewriter.getContext());
  Value drained =
      nvgpu::DeviceAsyncCreateGroupOp::create(rewriter, loc, tokenType, {});
  nvgpu::DeviceAsyncWaitOp::create(rewriter, loc, drained,
                                   rewriter.getI32IntegerAttr(0));
  return success();
}

/// Upstream has no lowering for a shared memref.alloc in a gpu.func, but
/// lowers workgroup attributions to shared globals (aligned by `llvm.align`).
void PipelineAsyncCopies::makeWorkgroupAttributions(
    RewriterBase &rewriter, gpu::GPUFuncOp func,
    ArrayRef<memref::AllocOp> allocs) {
  // Allocs of one exclusive slot and type share one attribution.
  DenseMap<std::pair<Attribute, Type>, BlockArgument> slots;
  for (memref::AllocOp alloc : allocs) {
    for (Operation *user : llvm::make_early_inc_range(alloc->getUsers()))
      if (isa<memref::DeallocOp>(user))
        rewriter.eraseOp(user);
    Attribute slot = alloc->getAttr(kExclusiveSlotAttrName);
    BlockArgument &buffer = slots[{slot, alloc.getType()}];
    if (!slot || !buffer) {
      buffer = func.addWorkgroupAttribution(alloc.getType(), alloc.getLoc());
      func.setWorkgroupAttributionAttr(
          func.getNumWorkgroupAttributions() - 1,
          LLVM::LLVMDialect::getAlignAttrName(),
          rewriter.getI64IntegerAttr(alloc.getAlignment().value_or(0)));
    }
    rewriter.replaceOp(alloc, buffer);
  }
}

} // namespace
