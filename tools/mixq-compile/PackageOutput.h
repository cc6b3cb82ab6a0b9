//===- PackageOutput.h - mixq-compile's package assembly --------*- C++ -*-===//
//
// Collects what the compiler produced (model config, tokenizer, packed and
// raw weights, host plan, CPU kernels, CUDA PTX and launches, quantization
// report) into a manifest and blobs and writes the .mixq package (format:
// docs/package.md).
//===----------------------------------------------------------------------===//
#ifndef MIXQ_TOOLS_MIXQ_COMPILE_PACKAGEOUTPUT_H
#define MIXQ_TOOLS_MIXQ_COMPILE_PACKAGEOUTPUT_H

#include "codegen/cpu/CPUBackend.h"
#include "codegen/cuda/CUDABackend.h"
#include "frontend/Checkpoint.h"
#include "frontend/IR/WeightQuantizer.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

namespace mixq {

struct PackageContents {
  const Model *model = nullptr;
  mlir::ModuleOp module; ///< dispatch-formed (L2)
  nlohmann::json plan;   ///< buildHostPlan(module)
  /// The manifest's "widths" (describeDecodeWidths), or null.
  nlohmann::json widths;
  const mlir::mixq::cpu::CompiledKernels *cpu = nullptr;
  const mlir::mixq::cuda::CompiledCUDA *cuda = nullptr;
  const std::vector<WeightReport> *reports = nullptr;
  std::string producer; ///< the command line
  /// --weights=none: every weight blob is recorded with its size but left
  /// out of the file (a weightless package, for mixq-bench --dummy-weights).
  bool withoutWeights = false;
};

/// The manifest's "widths" section of a module that --mixq-decode-widths
/// gave several decode entries (null otherwise): per width its plan, the
/// bits per weight its quantized matrices read and the weight bytes one
/// decode step reads; and the prefill width. Call it on the quantized
/// module, before dispatches are formed (the embedding's one-row reads are
/// still visible then).
nlohmann::json describeDecodeWidths(mlir::ModuleOp module);

using ByteProgress = std::function<void(uint64_t done, uint64_t total)>;

/// Writes `contents` to `path` atomically; errors name the weight or file.
llvm::Error writePackage(const std::string &path,
                         const PackageContents &contents,
                         const ByteProgress &progress);

} // namespace mixq

#endif // MIXQ_TOOLS_MIXQ_COMPILE_PACKAGEOUTPUT_H
