//===- HoistPrologueCopies.cpp - a pipelined loop's first copies first ----===//
//
// A decode kernel reaches its K loop after a chain of dependent latencies:
// x is read and staged (a barrier), the group parameters are read and
// staged (a barrier), and only then does the pipeline's prologue issue the
// copies of the first weight tiles. Those copies depend on nothing the
// kernel computes, so they can be issued at the kernel's first memory
// access, and their DRAM latency then overlaps the staging (and, with
// programmatic dependent launch, the previous kernel's tail).
//===----------------------------------------------------------------------===//
#include "passes/LoopPipelining.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/UB/IR/UBOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

using namespace mlir;

namespace mlir::mixq {
namespace {

/// Every op that uses `root` or a view of it other than to make a view.
SmallVector<Operation *> getAccesses(Value root) {
  SmallVector<Operation *> accesses;
  SmallVector<Value> worklist{root};
  while (!worklist.empty()) {
    Value value = worklist.pop_back_val();
    for (Operation *user : value.getUsers()) {
      auto view = dyn_cast<ViewLikeOpInterface>(user);
      if (view && view.getViewSource() == value)
        llvm::append_range(worklist, user->getResults());
      else
        accesses.push_back(user);
    }
  }
  return accesses;
}

/// Whether an op may write memory through `root` or a view of it.
bool mayBeWritten(Value root) {
  return llvm::any_of(getAccesses(root), [&](Operation *access) {
    return mayWrite(access, root);
  });
}

/// What a condition says about values it compares with constants: for
/// each, the unsigned interval [lo, hi) it must lie in.
using Intervals = llvm::DenseMap<Value, std::pair<uint64_t, uint64_t>>;

/// The intervals `condition` implies when it is a conjunction (`arith.andi`)
/// of unsigned or equality comparisons with constants; others add nothing.
void collectIntervals(Value condition, Intervals &out) {
  if (auto both = condition.getDefiningOp<arith::AndIOp>()) {
    collectIntervals(both.getLhs(), out);
    collectIntervals(both.getRhs(), out);
    return;
  }
  auto cmp = condition.getDefiningOp<arith::CmpIOp>();
  APInt constant;
  if (!cmp || !matchPattern(cmp.getRhs(), m_ConstantInt(&constant)) ||
      constant.getActiveBits() > 63)
    return;
  uint64_t c = constant.getZExtValue(), max = ~uint64_t(0);
  std::pair<uint64_t, uint64_t> range;
  switch (cmp.getPredicate()) {
  case arith::CmpIPredicate::eq:
    range = {c, c + 1};
    break;
  case arith::CmpIPredicate::ult:
    range = {0, c};
    break;
  case arith::CmpIPredicate::ule:
    range = {0, c + 1};
    break;
  case arith::CmpIPredicate::ugt:
    range = {c + 1, max};
    break;
  case arith::CmpIPredicate::uge:
    range = {c, max};
    break;
  default:
    return;
  }
  auto [it, inserted] = out.try_emplace(cmp.getLhs(), range);
  if (!inserted)
    it->second = {std::max(it->second.first, range.first),
                  std::min(it->second.second, range.second)};
}

/// The scf.ifs `a` and `b` take their then-regions (which hold `inA` and
/// `inB`) for disjoint ranges of one value (a fused kernel's block ranges,
/// a kernel's warp halves): no thread runs both.
bool haveExclusiveConditions(Operation *a, Operation *b, Operation *inA,
                             Operation *inB) {
  auto ifA = dyn_cast<scf::IfOp>(a), ifB = dyn_cast<scf::IfOp>(b);
  if (!ifA || !ifB || !ifA.getThenRegion().isAncestor(inA->getParentRegion()) ||
      !ifB.getThenRegion().isAncestor(inB->getParentRegion()))
    return false;
  Intervals ofA, ofB;
  collectIntervals(ifA.getCondition(), ofA);
  collectIntervals(ifB.getCondition(), ofB);
  for (auto &[value, range] : ofA) {
    auto it = ofB.find(value);
    if (it != ofB.end() &&
        (range.second <= it->second.first || it->second.second <= range.first))
      return true;
  }
  return false;
}

/// Whether `x` may run after the kernel passes `hoistPoint` (an op of the
/// entry block) and before it reaches `loop`.
bool mayRunBetween(Operation *x, Operation *hoistPoint, scf::ForOp loop) {
  if (loop->isAncestor(x))
    return false;
  Block *entry = hoistPoint->getBlock();
  Operation *xTop = entry->findAncestorOpInBlock(*x);
  Operation *loopTop = entry->findAncestorOpInBlock(*loop);
  if (xTop->isBeforeInBlock(hoistPoint))
    return false;
  if (xTop != loopTop)
    return xTop->isBeforeInBlock(loopTop) &&
           !haveExclusiveConditions(xTop, loopTop, x, loop);
  // Both inside one top-level op: compare them where their ancestors meet.
  for (Operation *a = x; a; a = a->getParentOp()) {
    Operation *b = a->getBlock()->findAncestorOpInBlock(*loop);
    if (!b)
      continue;
    if (b == a) // a holds both, in different regions (or a holds the loop)
      return a == x || !isa<scf::IfOp>(a);
    if (b->isBeforeInBlock(a))
      return false;
    return !haveExclusiveConditions(a, b, x, loop);
  }
  return true;
}

/// The scf.if conditions under which `op` runs (value, taken branch),
/// innermost first; failure when another region op encloses it below
/// `entry`.
FailureOr<SmallVector<std::pair<Value, bool>>> getPathConditions(Operation *op,
                                                                 Block *entry) {
  SmallVector<std::pair<Value, bool>> conditions;
  while (op->getBlock() != entry) {
    auto ifOp = dyn_cast<scf::IfOp>(op->getParentOp());
    if (!ifOp)
      return failure();
    conditions.push_back({ifOp.getCondition(), ifOp.getThenRegion().isAncestor(
                                                   op->getParentRegion())});
    op = ifOp;
  }
  return conditions;
}

/// Clones what `value` is computed from before the builder's insertion
/// point, where only the entry block's arguments and its ops before
/// `hoistPoint` are available. Fails on anything but side-effect-free ops
/// without regions.
FailureOr<Value> materialize(Value value, OpBuilder &b, IRMapping &map,
                             Operation *hoistPoint) {
  if (Value mapped = map.lookupOrNull(value))
    return mapped;
  Block *entry = hoistPoint->getBlock();
  if (auto arg = dyn_cast<BlockArgument>(value))
    return arg.getOwner() == entry ? FailureOr<Value>(value)
                                   : FailureOr<Value>(failure());
  Operation *def = value.getDefiningOp();
  if (def->getBlock() == entry && def->isBeforeInBlock(hoistPoint))
    return value;
  if (!isMemoryEffectFree(def) || def->getNumRegions() != 0)
    return failure();
  for (Value operand : def->getOperands())
    if (failed(materialize(operand, b, map, hoistPoint)))
      return failure();
  Operation *clone = b.clone(*def, map);
  return clone->getResult(cast<OpResult>(value).getResultNumber());
}

/// Why the copies of `prologue` cannot run at `hoistPoint`.
std::optional<StringRef> checkHoistable(scf::ForOp loop,
                                        ArrayRef<Operation *> moved,
                                        Operation *hoistPoint) {
  for (Operation *op : moved) {
    auto copy = dyn_cast<nvgpu::DeviceAsyncCopyOp>(op);
    if (!copy)
      continue;
    Value source = getViewRoot(copy.getSrc());
    auto arg = dyn_cast<BlockArgument>(source);
    if (!arg || arg.getOwner() != hoistPoint->getBlock() ||
        mayBeWritten(source))
      return "a copy reads memory the kernel may write";
    for (Operation *access : getAccesses(getViewRoot(copy.getDst())))
      if (!llvm::is_contained(moved, access) &&
          mayRunBetween(access, hoistPoint, loop))
        return "the kernel touches a copy's shared buffer before the loop";
  }
  return std::nullopt;
}

/// The condition under which the loop runs, at the builder's insertion
/// point (null when it always runs).
FailureOr<Value> buildPathCondition(OpBuilder &b, Location loc,
                                    ArrayRef<std::pair<Value, bool>> conditions,
                                    IRMapping &map, Operation *hoistPoint) {
  Value all;
  for (auto [condition, taken] : conditions) {
    FailureOr<Value> value = materialize(condition, b, map, hoistPoint);
    if (failed(value))
      return failure();
    Value term = *value;
    if (!taken)
      term = arith::XOrIOp::create(b, loc, term,
                                   arith::ConstantIntOp::create(b, loc, 1, 1));
    all = all ? arith::AndIOp::create(b, loc, all, term).getResult() : term;
  }
  return all;
}

} // namespace

std::optional<StringRef> hoistPrologueCopies(RewriterBase &rewriter,
                                             scf::ForOp loop,
                                             ArrayRef<Operation *> prologue,
                                             Operation *hoistPoint) {
  SmallVector<Operation *> moved;
  for (Operation *op : prologue) {
    if (isa<nvgpu::DeviceAsyncWaitOp>(op))
      return "the prologue waits for copies";
    if (isa<nvgpu::DeviceAsyncCopyOp, nvgpu::DeviceAsyncCreateGroupOp>(op))
      moved.push_back(op);
  }
  if (moved.empty())
    return "the prologue has no copies";
  FailureOr<SmallVector<std::pair<Value, bool>>> conditions =
      getPathConditions(loop, hoistPoint->getBlock());
  if (failed(conditions))
    return "a loop encloses the pipelined loop";
  if (std::optional<StringRef> why = checkHoistable(loop, moved, hoistPoint))
    return why;

  // Everything is cloned first and the originals replaced only once all
  // operands materialized, so that a failure leaves the kernel unchanged.
  Location loc = loop.getLoc();
  OpBuilder b(hoistPoint);
  IRMapping map;
  SmallVector<Operation *> created;
  auto undo = [&] {
    for (Operation *op : llvm::reverse(created))
      op->erase();
  };
  Block *entry = hoistPoint->getBlock();
  Operation *firstNew = hoistPoint->getPrevNode();
  auto collectCreated = [&] {
    created.clear();
    Operation *op = firstNew ? firstNew->getNextNode() : &entry->front();
    for (; op != hoistPoint; op = op->getNextNode())
      created.push_back(op);
  };
  FailureOr<Value> condition =
      buildPathCondition(b, loc, *conditions, map, hoistPoint);
  if (failed(condition)) {
    collectCreated();
    undo();
    return "a condition the loop runs under is computed from memory";
  }
  if (*condition) {
    auto ifOp = scf::IfOp::create(b, loc, *condition, /*withElse=*/false);
    b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
  }
  for (Operation *op : moved) {
    for (Value operand : op->getOperands()) {
      if (failed(materialize(operand, b, map, hoistPoint))) {
        collectCreated();
        undo();
        return "a copy's address is computed from memory";
      }
    }
    b.clone(*op, map);
  }

  // The pipelined loop threads the groups' tokens through to its waits,
  // which lower to `cp.async.wait_group N` and ignore them.
  rewriter.setInsertionPoint(moved.front());
  auto poison = ub::PoisonOp::create(
      rewriter, loc, nvgpu::DeviceAsyncTokenType::get(loop.getContext()));
  for (Operation *op : llvm::reverse(moved)) {
    rewriter.replaceAllUsesWith(
        op->getResults(),
        SmallVector<Value>(op->getNumResults(), poison.getResult()));
    rewriter.eraseOp(op);
  }
  return std::nullopt;
}

Operation *getFirstEffectfulOp(Block &entry) {
  for (Operation &op : entry)
    if (!isMemoryEffectFree(&op) || op.getNumRegions() != 0 ||
        op.hasTrait<OpTrait::IsTerminator>())
      return &op;
  return nullptr;
}

} // namespace mlir::mixq
