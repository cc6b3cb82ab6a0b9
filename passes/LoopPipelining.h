//===- LoopPipelining.h - shared by the pipelining passes ------*- C++ -*-===//
//
// --mixq-pipeline-async-copies and --mixq-prefetch-loads both hand a loop to
// upstream's scf::pipelineForLoop with a two-part schedule: the ops that
// fetch an iteration's data (and whatever they are computed from) in stage
// 0, the rest in the last stage. These are the checks that keep such a
// schedule valid.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_PASSES_LOOPPIPELINING_H
#define MIXQ_PASSES_LOOPPIPELINING_H

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/SetVector.h"

#include <optional>

namespace mlir::mixq {

/// Whether `value` is a memref in the GPU's shared (workgroup) memory: what
/// a fetch writes (cp.async) or does not read (a register prefetch).
bool isSharedMemRef(Value value);

/// The body ops of `loop` that `seeds` (body ops) are computed from,
/// transitively, seeds included: the stage-0 ops of a schedule that fetches
/// in stage 0.
llvm::SetVector<Operation *> collectFetchSlice(scf::ForOp loop,
                                               ArrayRef<Operation *> seeds);

/// Why ops of `slice` cannot run an iteration early, or past the end of the
/// loop: an op other than a fetch (`isFetch`) that has side effects, or one
/// that reads a loop-carried value.
std::optional<StringRef>
checkFetchSlice(scf::ForOp loop, const llvm::SetVector<Operation *> &slice,
                function_ref<bool(Operation *)> isFetch);

/// Whether `effects` declares a write to a value `isTarget` accepts, or to
/// an unknown value.
bool declaresWriteTo(MemoryEffectOpInterface effects,
                     function_ref<bool(Value)> isTarget);

/// The memref a chain of views (subview, view, casts, ...) is a view of,
/// or `memref` itself: the buffer an access touches.
Value getViewRoot(Value memref);

/// Whether `op` (not one with recursive effects) may write the memory of
/// `root`: a write effect on it or on an unknown value; for an op without
/// an effect interface (the nvgpu async copies and waits, barriers), any
/// effect at all with `root` among its operands.
bool mayWrite(Operation *op, Value root);

/// Whether `pred` holds for an op of `loop`'s body, nested ones included,
/// other than the ops whose effects are those of their regions (visited
/// instead).
bool anyMemoryOpInLoop(scf::ForOp loop, function_ref<bool(Operation *)> pred);

/// The memref a vector.load or memref.load reads; null for other ops.
Value getLoadedMemRef(Operation *op);

/// Whether `op` is a load from memory that no op of `loop` writes (a
/// weight, or a per-row table staged into shared memory before the loop):
/// it returns the same value in any iteration, so a fetch's address may be
/// computed from it stages early.
bool isLoadOfLoopInvariantMemory(Operation *op, scf::ForOp loop);

/// Predication of a load run for an iteration past the end: its indices
/// computed in its block become `select(pred, index, 0)`, so it reads
/// element 0 of its memref instead (the value is never used; every memref
/// a kernel loads from has one). Indices from outside the block are loop
/// invariant and stay.
void clampLoadIndices(RewriterBase &rewriter, Operation *load, Value pred);

/// Whether every value the loop yields is computed in its body: the
/// pipeliner keeps only loop-carried values of distance 1.
bool yieldsBodyValues(scf::ForOp loop);

/// Where a two-part schedule puts the fetches of a later iteration: before
/// the ops of the current one (in flight while it computes), or after them
/// (issued once it is done with the buffers they overwrite).
enum class FetchOrder { First, Last };

/// Software-pipelines `loop` over `stages` stages with upstream's
/// scf::pipelineForLoop: `stage0` in stage 0, the other body ops in the
/// last stage, each part in body order; a predicated (not peeled)
/// epilogue, so dynamic trip counts work, with `predicate` as the hook.
/// Returns the new loop; a null loop when the pipeliner rejected `loop`
/// without touching it; failure (with an error) when it failed after
/// changing it.
FailureOr<scf::ForOp>
pipelineFetches(RewriterBase &rewriter, scf::ForOp loop,
                const llvm::SetVector<Operation *> &stage0, unsigned stages,
                FetchOrder order,
                scf::PipeliningOption::PredicateOpFn predicate);

/// Moves the copies and groups of `loop`'s pipeline prologue (`prologue`:
/// the ops the pipeliner put before it) to just before `hoistPoint`, an op
/// of the kernel's entry block, under the scf.if conditions the loop runs
/// under: the first tiles' copies are then in flight while the kernel
/// stages its other inputs. Their tokens become `ub.poison` (the pipelined
/// waits ignore them). Returns why it did not, with the kernel unchanged:
/// a loop encloses `loop`, an address or condition is computed from
/// memory, a copy reads memory the kernel may write, or an op that may run
/// between `hoistPoint` and the loop touches a copy's shared buffer.
std::optional<StringRef> hoistPrologueCopies(RewriterBase &rewriter,
                                             scf::ForOp loop,
                                             ArrayRef<Operation *> prologue,
                                             Operation *hoistPoint);

/// The first op of `entry` that has memory effects or regions (or its
/// terminator): where hoisted copies go, after the kernel's index math.
Operation *getFirstEffectfulOp(Block &entry);

} // namespace mlir::mixq

#endif // MIXQ_PASSES_LOOPPIPELINING_H
