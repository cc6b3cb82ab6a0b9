//===- LoopPipelining.h - what the software-pipelining passes share -*- C++
//-*-===//
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
#include "llvm/ADT/SetVector.h"

#include <optional>

namespace mlir::mixq {

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

/// Whether every value the loop yields is computed in its body: the
/// pipeliner keeps only loop-carried values of distance 1.
bool yieldsBodyValues(scf::ForOp loop);

} // namespace mlir::mixq

#endif // MIXQ_PASSES_LOOPPIPELINING_H
