//===- Passes.h - mixq passes -----------------------------------*- C++ -*-===//
#ifndef MIXQ_PASSES_PASSES_H
#define MIXQ_PASSES_PASSES_H

#include "dialect/MixQ/MixQDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir::mixq {

#define GEN_PASS_DECL
#include "passes/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/Passes.h.inc"

/// Registers the named pipelines (e.g. `--mixq-reference-to-llvm`).
void registerMixQPipelines();

/// Registers every mixq pass and pipeline.
inline void registerAllMixQPasses() {
  registerMixQPasses();
  registerMixQPipelines();
}

} // namespace mlir::mixq

#endif // MIXQ_PASSES_PASSES_H
