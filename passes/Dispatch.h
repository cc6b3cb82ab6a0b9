//===- Dispatch.h - what dispatch formation and backends share --*- C++ -*-===//
//
// The L2 conventions: kernel functions carry `mixq.kernel`; a kernel result
// that updates an argument in place (the KV caches of llm.attention) is listed
// in `mixq.tied` as (result index, argument index) pairs.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_PASSES_DISPATCH_H
#define MIXQ_PASSES_DISPATCH_H

#include "mlir/IR/Operation.h"

#include <optional>

namespace mlir::mixq {

inline constexpr const char *kKernelAttrName = "mixq.kernel";
inline constexpr const char *kTiedAttrName = "mixq.tied";
/// On a shared memref.alloc: allocs with the same slot never touch the same
/// bytes at the same time (a fused kernel's block ranges run in different
/// blocks; within a block, each warp uses only its own rows of whichever
/// tile its branch takes), so --mixq-pipeline-async-copies gives those of
/// one type one attribution.
inline constexpr const char *kExclusiveSlotAttrName = "mixq.exclusive_slot";
/// On an scf.for: the kernel generator asks --mixq-prefetch-loads to issue
/// the loop's global loads iterations ahead (a register prefetch).
inline constexpr const char *kPrefetchAttrName = "mixq.prefetch";
/// On a function: --mixq-prefetch-loads unrolled its K loops by this factor,
/// so an iteration covers that many of the generator's steps (the manifest's
/// weights per warp iteration follow).
inline constexpr const char *kLoopUnrollAttrName = "mixq.loop_unroll";
/// On a function: --mixq-prefetch-loads pipelined a K loop of it this deep.
inline constexpr const char *kPrefetchStagesAttrName = "mixq.prefetch_stages";
/// Marks the linalg.generic that dequantizes a qtensor (--mixq-lower-to-linalg).
inline constexpr const char *kDequantizeMarker = "mixq.dequantize";

/// llm.weight / mixq.weight: references to the WeightStore.
bool isWeightOp(Operation *op);
/// An llm or mixq op that computes (anchors a dispatch).
bool isComputeOp(Operation *op);
/// The operand that result `resultIndex` of `op` updates in place, if any.
std::optional<unsigned> getTiedOperand(Operation *op, unsigned resultIndex);

} // namespace mlir::mixq

#endif // MIXQ_PASSES_DISPATCH_H
