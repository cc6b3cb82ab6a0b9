//===- NarrowLoopIndices.cpp - --mixq-narrow-loop-indices -----------------===//
//
// Index-typed scf.for loops whose bounds integer range analysis proves to
// lie in [0, 2^31) become i32 loops. The NVPTX lowering makes index 64 bits
// wide, and arith-int-range-narrowing narrows the arithmetic on an
// induction variable but not the loop's own increment and compare, so every
// K loop kept a 64-bit counter: an add with carry and two compares with
// carry a step.
//===----------------------------------------------------------------------===//
#include "codegen/cuda/CUDAPasses.h"

#include "mlir/Analysis/DataFlow/IntegerRangeAnalysis.h"
#include "mlir/Analysis/DataFlow/Utils.h"
#include "mlir/Analysis/DataFlowFramework.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::mixq::cuda {
#define GEN_PASS_DEF_MIXQNARROWLOOPINDICES
#include "codegen/cuda/CUDAPasses.h.inc"
} // namespace mlir::mixq::cuda

using namespace mlir;

namespace {

/// The signed range integer range analysis gives `value`, if it knows one.
std::optional<ConstantIntRanges> getRange(DataFlowSolver &solver, Value value) {
  auto *lattice = solver.lookupState<dataflow::IntegerValueRangeLattice>(value);
  if (!lattice || lattice->getValue().isUninitialized())
    return std::nullopt;
  return lattice->getValue().getValue();
}

/// Whether the loop's induction variable, and its last increment past the
/// upper bound, fit a signed i32: lower bound >= 0, step > 0 and
/// upper bound + step < 2^31.
bool hasI32Bounds(DataFlowSolver &solver, scf::ForOp loop) {
  std::optional<ConstantIntRanges> lower =
      getRange(solver, loop.getLowerBound());
  std::optional<ConstantIntRanges> upper =
      getRange(solver, loop.getUpperBound());
  std::optional<ConstantIntRanges> step = getRange(solver, loop.getStep());
  if (!lower || !upper || !step)
    return false;
  int64_t limit = std::numeric_limits<int32_t>::max();
  return lower->smin().isNonNegative() && step->smin().isStrictlyPositive() &&
         upper->smax().sle(limit) && step->smax().sle(limit) &&
         (upper->smax() + step->smax()).sle(limit);
}

/// Whether narrowing `loop` pays: a reduction (a K loop: results carried
/// through it) of a trip count known only at run time. A loop of a constant
/// trip count LLVM folds or unrolls anyway (narrowed, split attention's
/// combine loop over 8 key chunks stayed a loop in SASS, where ptxas had
/// unrolled it); a loop without results (a strided copy: the staging of x)
/// has its counter strength-reduced into its pointers, and narrowed, such
/// loops moved ptxas's allocation of mixed's fused sm_80 q/k/v kernel into
/// a 4-byte spill at its 128-register bound.
bool isNarrowingCandidate(scf::ForOp loop) {
  return loop.getInductionVar().getType().isIndex() &&
         !loop.getInitArgs().empty() && !loop.getStaticTripCount();
}

/// `loop` over i32: the same body, its induction variable cast back to
/// index (arith-int-range-narrowing then keeps its uses 32 bits wide).
void narrowLoop(RewriterBase &rewriter, scf::ForOp loop) {
  rewriter.setInsertionPoint(loop);
  Location loc = loop.getLoc();
  auto narrow = [&](Value bound) -> Value {
    return rewriter.createOrFold<arith::IndexCastUIOp>(
        loc, rewriter.getI32Type(), bound);
  };
  auto narrowed = scf::ForOp::create(
      rewriter, loc, narrow(loop.getLowerBound()), narrow(loop.getUpperBound()),
      narrow(loop.getStep()), loop.getInitArgs(), /*bodyBuilder=*/nullptr,
      loop.getUnsignedCmp());
  Block *body = narrowed.getBody();
  if (!body->empty())
    rewriter.eraseOp(body->getTerminator());
  rewriter.setInsertionPointToStart(body);
  SmallVector<Value> arguments = {arith::IndexCastUIOp::create(
      rewriter, loc, rewriter.getIndexType(), narrowed.getInductionVar())};
  llvm::append_range(arguments, narrowed.getRegionIterArgs());
  rewriter.mergeBlocks(loop.getBody(), body, arguments);
  rewriter.replaceOp(loop, narrowed.getResults());
}

struct NarrowLoopIndices
    : mixq::cuda::impl::MixQNarrowLoopIndicesBase<NarrowLoopIndices> {
  void runOnOperation() override {
    Operation *root = getOperation();
    DataFlowSolver solver;
    dataflow::loadBaselineAnalyses(solver);
    solver.load<dataflow::IntegerRangeAnalysis>();
    if (failed(solver.initializeAndRun(root)))
      return signalPassFailure();
    SmallVector<scf::ForOp> loops;
    root->walk([&](scf::ForOp loop) {
      if (isNarrowingCandidate(loop) && hasI32Bounds(solver, loop))
        loops.push_back(loop);
    });
    IRRewriter rewriter(root->getContext());
    for (scf::ForOp loop : loops)
      narrowLoop(rewriter, loop);
  }
};

} // namespace
