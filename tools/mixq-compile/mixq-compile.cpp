//===- mixq-compile.cpp - Checkpoint to IR (and, later, package) ----------===//
//
// mixq-compile CHECKPOINT --emit=llm [-o FILE]
//
// Loads a GGUF file, a Hugging Face folder (config.json + safetensors) or a
// llama2.c .bin, and prints the model's `llm` IR: a prefill and a decode
// function over per-layer KV caches, weights as symbols.
//===----------------------------------------------------------------------===//

#include "frontend/Checkpoint.h"
#include "frontend/IR/LLMEmitter.h"
#include "passes/Passes.h"

#include "mlir/Pass/PassManager.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/WithColor.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>

using namespace llvm;

namespace {

enum class EmitLevel { LLM, MixQ };

cl::OptionCategory category("mixq-compile options");

cl::opt<std::string> checkpointPath(cl::Positional, cl::Required,
                                    cl::desc("<checkpoint>"),
                                    cl::cat(category));
cl::opt<std::string> outputPath("o", cl::desc("Output file (default: stdout)"),
                                cl::value_desc("file"), cl::init("-"),
                                cl::cat(category));
cl::opt<EmitLevel> emitLevel(
    "emit", cl::desc("Stop at this level and print it"), cl::Required,
    cl::values(clEnumValN(EmitLevel::LLM, "llm",
                          "the llm dialect model graph (prefill and decode)"),
               clEnumValN(EmitLevel::MixQ, "mixq",
                          "after --mixq-quantize: quantized weights as "
                          "mixq.weight qtensors")),
    cl::cat(category));
cl::opt<std::string>
    tokenizerPath("tokenizer",
                  cl::desc("llama2.c tokenizer.bin to attach to the model"),
                  cl::value_desc("file"), cl::cat(category));
cl::opt<int64_t> maxSeqLen(
    "max-seq-len",
    cl::desc("Context length (KV cache rows) instead of the checkpoint's"),
    cl::value_desc("tokens"), cl::init(0), cl::cat(category));
cl::opt<std::string> schemeSpec(
    "scheme",
    cl::desc("Quantization scheme SPEC, e.g. affine:bits=4,group=128, fp16 "
             "(see docs/passes/MixQPasses.md)"),
    cl::value_desc("spec"), cl::init("affine:bits=4,group=128"),
    cl::cat(category));
cl::opt<std::string> schemeOverrides(
    "overrides",
    cl::desc("Per-weight schemes: REGEX=SPEC entries separated by ';', first "
             "match wins (e.g. 'down_proj=affine:bits=8')"),
    cl::value_desc("list"), cl::cat(category));
cl::opt<bool> verbose("v", cl::desc("Print load and emit times on stderr"),
                      cl::cat(category));

int fail(const std::string &message) {
  WithColor::error(errs(), "mixq-compile") << message << "\n";
  return 1;
}

double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

} // namespace

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      argc, argv,
      "mixq-compile: compile a Llama checkpoint (GGUF, Hugging Face "
      "safetensors folder or llama2.c .bin)\n");

  if (maxSeqLen < 0)
    return fail("--max-seq-len must be positive");
  auto start = std::chrono::steady_clock::now();
  mixq::LoadOptions options;
  options.tokenizerPath = tokenizerPath;
  options.maxSeqLenOverride = maxSeqLen;
  auto model = mixq::loadCheckpoint(checkpointPath, options);
  if (!model)
    return fail(model.message());
  double loadSeconds = secondsSince(start);

  mlir::MLIRContext context;
  auto module = mixq::emitLLMModule(context, **model);
  if (failed(mlir::verify(*module)))
    return fail("internal error: the emitted llm IR does not verify");

  if (emitLevel == EmitLevel::MixQ) {
    mlir::PassManager pm(&context);
    mlir::mixq::MixQQuantizeOptions quantizeOptions;
    quantizeOptions.scheme = schemeSpec;
    quantizeOptions.overrides = schemeOverrides;
    pm.addPass(mlir::mixq::createMixQQuantize(quantizeOptions));
    if (failed(pm.run(*module)))
      return 1; // the pass reported the error with its location
  }

  std::string error;
  auto output = mlir::openOutputFile(outputPath, &error);
  if (!output)
    return fail(error);
  module->print(output->os());
  output->os() << "\n";
  output->keep();
  if (verbose)
    errs() << formatv("mixq-compile: loaded {0} ({1}, {2} tensors, {3:F1} M "
                      "parameters) in {4:F3} s; total {5:F3} s\n",
                      checkpointPath, (*model)->format,
                      (*model)->weights.size(),
                      (*model)->config.numParameters() / 1e6, loadSeconds,
                      secondsSince(start));
  return 0;
}
