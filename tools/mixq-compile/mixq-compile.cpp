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
#include "frontend/IR/WeightQuantizer.h"
#include "passes/Passes.h"

#include "mlir/Pass/PassManager.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Process.h"
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
    "emit", cl::desc("Stop at this level and print it"), cl::Optional,
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
cl::opt<std::string> reportFormat(
    "report",
    cl::desc("Quantize the weights and print a per-weight report of scheme, "
             "exact bits/weight, relative error and outliers (=json for "
             "JSON); on stdout, or on stderr when --emit prints IR"),
    cl::value_desc("table|json"), cl::ValueOptional, cl::cat(category));
cl::opt<bool> verbose("v", cl::desc("Print load and emit times on stderr"),
                      cl::cat(category));

int fail(const std::string &message) {
  WithColor::error(errs(), "mixq-compile") << message << "\n";
  return 1;
}

/// A one-line progress bar on stderr: redrawn in place on a terminal, a
/// line per 10% otherwise (logs).
class ProgressBar {
public:
  explicit ProgressBar(std::string label)
      : label(std::move(label)), start(std::chrono::steady_clock::now()),
        interactive(sys::Process::StandardErrIsDisplayed()) {}
  void operator()(size_t done, size_t total, const std::string &name) {
    if (total == 0)
      return;
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    unsigned percent = unsigned(100 * done / total);
    if (!interactive) {
      if (percent / 10 == lastDecile && done != total)
        return;
      lastDecile = percent / 10;
    }
    constexpr unsigned width = 30;
    std::string bar(width * done / total, '#');
    bar.resize(width, '.');
    errs() << (interactive ? "\r" : "")
           << formatv("mixq-compile: {0} [{1}] {2,3}% {3}/{4} {5:F1} s {6}",
                      label, bar, percent, done, total, seconds,
                      done == total ? std::string("done") : name);
    if (interactive)
      errs() << "\x1b[K"; // clear the rest of a longer previous line
    if (!interactive || done == total)
      errs() << "\n";
  }

private:
  std::string label;
  std::chrono::steady_clock::time_point start;
  bool interactive;
  unsigned lastDecile = ~0u;
};

/// Prints `module` to -o (default stdout); non-zero on failure.
int printModule(mlir::ModuleOp module) {
  std::string error;
  auto output = mlir::openOutputFile(outputPath, &error);
  if (!output)
    return fail(error);
  module.print(output->os());
  output->os() << "\n";
  output->keep();
  return 0;
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

  bool wantReport = reportFormat.getNumOccurrences() > 0;
  if (wantReport && reportFormat != "" && reportFormat != "table" &&
      reportFormat != "json")
    return fail("--report takes 'table' or 'json', not '" + reportFormat + "'");
  if (!emitLevel.getNumOccurrences() && !wantReport)
    return fail("nothing to do: give --emit=llm|mixq or --report (writing a "
                ".mixq package arrives with the CPU end-to-end issue)");
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

  bool emitting = emitLevel.getNumOccurrences() > 0;
  if (emitting && emitLevel == EmitLevel::LLM)
    if (int rc = printModule(*module))
      return rc;
  if (wantReport || (emitting && emitLevel == EmitLevel::MixQ)) {
    mlir::PassManager pm(&context);
    mlir::mixq::MixQQuantizeOptions quantizeOptions;
    quantizeOptions.scheme = schemeSpec;
    quantizeOptions.overrides = schemeOverrides;
    pm.addPass(mlir::mixq::createMixQQuantize(quantizeOptions));
    if (failed(pm.run(*module)))
      return 1; // the pass reported the error with its location
  }
  if (emitting && emitLevel == EmitLevel::MixQ)
    if (int rc = printModule(*module))
      return rc;
  if (wantReport) {
    // Nothing consumes the packed buffers until the package writer lands.
    auto reports = mixq::quantizeModuleWeights(*module, (*model)->weights,
                                               /*keepPacked=*/false,
                                               ProgressBar("quantizing"));
    if (!reports)
      return fail(toString(reports.takeError()));
    std::string text = reportFormat == "json"
                           ? mixq::formatReportJson(*reports)
                           : mixq::formatReportTable(*reports);
    // stdout carries the IR when --emit is given.
    (emitting ? errs() : outs()) << text;
  }
  if (verbose)
    errs() << formatv("mixq-compile: loaded {0} ({1}, {2} tensors, {3:F1} M "
                      "parameters) in {4:F3} s; total {5:F3} s\n",
                      checkpointPath, (*model)->format,
                      (*model)->weights.size(),
                      (*model)->config.numParameters() / 1e6, loadSeconds,
                      secondsSince(start));
  return 0;
}
