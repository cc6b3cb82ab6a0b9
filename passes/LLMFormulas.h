//===- LLMFormulas.h - scalar formulas every backend shares ----*- C++ -*-===//
//
// The per-element arithmetic of the llm and mixq ops, written once: the
// reference linalg lowerings (the executable definition of the ops) and the
// CUDA kernel generators both build their IR from these, so that the GPU
// computes bit-for-bit the same element formulas as the CPU.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_PASSES_LLMFORMULAS_H
#define MIXQ_PASSES_LLMFORMULAS_H

#include "dialect/LLM/LLMOps.h"
#include "dialect/MixQ/MixQInterfaces.h"

#include "mlir/IR/Builders.h"

namespace mlir::mixq {

/// freq_i = theta^(-(2i)/Dh) for i in [0, Dh/2), rescaled by the op's
/// llama3 scaling when present: the power in double precision rounded once
/// to f32, the rescaling in f32.
SmallVector<float> computeRopeFrequencies(llm::RopeOp op);

/// rms_norm's r = 1 / sqrt(sumOfSquares / dim + eps), on f32 scalars.
Value buildRMSNormScale(OpBuilder &b, Location loc, Value sumOfSquares,
                        int64_t dim, float eps);

/// One rope output: self * cos + other * (isFirst ? -sin : sin), on f32
/// scalars, where `other` is the element's partner in its pair and
/// `isFirst` (i1) says whether the element is the pair's first.
Value buildRopeElement(OpBuilder &b, Location loc, Value self, Value other,
                       Value cos, Value sin, Value isFirst);

/// silu(gate) * up = gate / (1 + exp(-gate)) * up, on f32 scalars.
Value buildSwiGLU(OpBuilder &b, Location loc, Value gate, Value up);

} // namespace mlir::mixq

#endif // MIXQ_PASSES_LLMFORMULAS_H
