//===- Pipelines.cpp - named mixq pass pipelines --------------------------===//
#include "passes/Passes.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

namespace {
/// mixq -> linalg on tensors -> buffers -> loops -> LLVM dialect, ready for
/// mlir-runner or mlir-translate. This is the CPU reference path: simple
/// loops, no tiling or vectorization.
constexpr const char *kReferenceToLLVM =
    "mixq-lower-llm-to-linalg,mixq-lower-to-linalg,canonicalize,cse,"
    "one-shot-bufferize{bufferize-function-boundaries},"
    "buffer-deallocation-pipeline,convert-bufferization-to-memref,"
    "convert-linalg-to-loops,convert-scf-to-cf,expand-strided-metadata,"
    "lower-affine,convert-to-llvm,reconcile-unrealized-casts";
} // namespace

void mlir::mixq::registerMixQPipelines() {
  PassPipelineRegistration<>(
      "mixq-reference-to-llvm",
      "Lower mixq through the reference linalg lowering down to the LLVM "
      "dialect (for mlir-runner)",
      [](OpPassManager &pm) {
        // The pipeline text is fixed and covered by lit tests; a parse error
        // can only come from an MLIR upgrade renaming a pass, and is printed.
        if (failed(parsePassPipeline(kReferenceToLLVM, pm, llvm::errs())))
          llvm::errs() << "mixq: invalid built-in pipeline text\n";
      });
}
