//===- Pipelines.cpp - named mixq pass pipelines --------------------------===//
#include "passes/Passes.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/raw_ostream.h"

#include <string>

using namespace mlir;

namespace {
/// mixq -> linalg on tensors -> buffers -> loops -> LLVM dialect, ready for
/// mlir-runner or mlir-translate. This is the CPU reference path: simple
/// loops, no tiling; with dequant-vector-width, the matmuls of word-level
/// schemes take the CPU backend's vector form (and its sparse terms).
constexpr const char *kReferenceToLLVMHead = "mixq-lower-llm-to-linalg,";
constexpr const char *kReferenceToLLVMTail =
    ",canonicalize,cse,one-shot-bufferize{bufferize-function-boundaries},"
    "buffer-deallocation-pipeline,convert-bufferization-to-memref,"
    "convert-linalg-to-loops,convert-scf-to-cf,expand-strided-metadata,"
    "lower-affine,convert-vector-to-llvm,convert-to-llvm,"
    "reconcile-unrealized-casts";

struct ReferenceToLLVMOptions
    : public PassPipelineOptions<ReferenceToLLVMOptions> {
  Option<int64_t> dequantVectorWidth{
      *this, "dequant-vector-width",
      llvm::cl::desc("--mixq-lower-to-linalg's dequant-vector-width (0: the "
                     "reference contraction for every matmul)"),
      llvm::cl::init(0)};
  Option<int64_t> vectorSumLanes{
      *this, "vector-sum-lanes",
      llvm::cl::desc("--mixq-lower-to-linalg's vector-sum-lanes (0: the "
                     "tile width)"),
      llvm::cl::init(0)};
  Option<int64_t> registerTableEntries{
      *this, "register-table-entries",
      llvm::cl::desc("--mixq-lower-to-linalg's register-table-entries (0: "
                     "lookups are vector.gathers)"),
      llvm::cl::init(0)};
};
} // namespace

void mlir::mixq::registerMixQPipelines() {
  PassPipelineRegistration<ReferenceToLLVMOptions>(
      "mixq-reference-to-llvm",
      "Lower mixq through the reference linalg lowering down to the LLVM "
      "dialect (for mlir-runner)",
      [](OpPassManager &pm, const ReferenceToLLVMOptions &options) {
        std::string text = kReferenceToLLVMHead;
        text += "mixq-lower-to-linalg{dequant-vector-width=" +
                std::to_string(options.dequantVectorWidth) +
                " vector-sum-lanes=" + std::to_string(options.vectorSumLanes) +
                " register-table-entries=" +
                std::to_string(options.registerTableEntries) + "}";
        text += kReferenceToLLVMTail;
        // The pipeline text is fixed and covered by lit tests; a parse error
        // can only come from an MLIR upgrade renaming a pass, and is printed.
        if (failed(parsePassPipeline(text, pm, llvm::errs())))
          llvm::errs() << "mixq: invalid built-in pipeline text\n";
      });
}
