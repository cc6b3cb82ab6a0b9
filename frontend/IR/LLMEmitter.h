//===- LLMEmitter.h - Build the llm IR of a loaded model --------*- C++ -*-===//
//
// Turns a ModelConfig into an `llm` module with two functions:
//
//   func.func @prefill(%tokens: tensor<?xi32>, %start_pos: index,
//                      %k_cache0, %v_cache0, ..., %k_cacheN, %v_cacheN)
//       -> (tensor<1xVxf32>, caches...)        // last token's logits
//   func.func @decode(%token: tensor<1xi32>, %pos: index, caches...)
//       -> (tensor<1xVxf32>, caches...)
//
// Caches are per layer, tensor<max_seq_len x (n_kv_heads*head_dim) x T>.
// Weights are `llm.weight @name` symbol references into the WeightStore,
// never data. T is the model's weight dtype; the WeightStore converts any
// tensor stored in another float type (GGUF keeps norms in f32) when the
// package is written.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_FRONTEND_IR_LLMEMITTER_H
#define MIXQ_FRONTEND_IR_LLMEMITTER_H

#include "frontend/ModelConfig.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

namespace mixq {

/// Registers the dialects the emitted IR uses (llm, func, arith, tensor).
void registerEmitterDialects(mlir::MLIRContext &context);

/// Builds the module; the result verifies. `source` is recorded as the
/// module's `llm.source` attribute.
mlir::OwningOpRef<mlir::ModuleOp> emitLLMModule(mlir::MLIRContext &context,
                                                const Model &model);

} // namespace mixq

#endif // MIXQ_FRONTEND_IR_LLMEMITTER_H
