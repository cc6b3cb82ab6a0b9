//===- mixq-compile.cpp - Checkpoint to .mixq package ---------------------===//
//
// mixq-compile CHECKPOINT -o OUT.mixq [--scheme=SPEC] [--target=cpu|cuda|all]
// mixq-compile CHECKPOINT --emit=llm|mixq|l2|plan|llvm|gpu|ptx [-o FILE]
//
// Loads a GGUF file, a Hugging Face folder (config.json + safetensors) or a
// llama2.c .bin, quantizes its weights (--mixq-quantize), forms dispatches,
// compiles the kernels and writes one package with the host plan and the
// packed weights. --emit stops at a level and prints it.
//===----------------------------------------------------------------------===//

#include "PackageOutput.h"
#include "codegen/HostPlan.h"
#include "codegen/cpu/CPUBackend.h"
#include "codegen/cuda/CUDABackend.h"
#include "frontend/Checkpoint.h"
#include "frontend/IR/LLMEmitter.h"
#include "frontend/IR/WeightQuantizer.h"
#include "passes/AllocateBits.h"
#include "passes/Passes.h"
#include "passes/SchemeSpec.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Tools/Plugins/DialectPlugin.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/WithColor.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <optional>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

using namespace llvm;

namespace {

enum class EmitLevel { LLM, MixQ, L2, Plan, LLVM, GPU, PTX };
enum class Target { CPU, CUDA, All };

cl::OptionCategory category("mixq-compile options");

cl::opt<std::string> checkpointPath(cl::Positional, cl::desc("<checkpoint>"),
                                    cl::cat(category));
cl::list<std::string> schemePlugins(
    "load-scheme-plugin",
    cl::desc("Load a quantization scheme plugin (a dialect plugin built "
             "against the installed MixQ package, docs/schemes-tutorial.md); "
             "its schemes become --scheme names"),
    cl::value_desc("libX.so"), cl::cat(category));
cl::opt<bool> listSchemes(
    "list-schemes",
    cl::desc("Print the schemes a --scheme SPEC can name, with their keys, "
             "and exit"),
    cl::init(false), cl::cat(category));
cl::opt<std::string> outputPath("o",
                                cl::desc("Output package, or the file --emit "
                                         "prints to (default: stdout)"),
                                cl::value_desc("file"), cl::init("-"),
                                cl::cat(category));
cl::opt<EmitLevel> emitLevel(
    "emit", cl::desc("Stop at this level and print it"), cl::Optional,
    cl::values(clEnumValN(EmitLevel::LLM, "llm",
                          "the llm dialect model graph (prefill and decode)"),
               clEnumValN(EmitLevel::MixQ, "mixq",
                          "after --mixq-quantize: quantized weights as "
                          "mixq.weight qtensors"),
               clEnumValN(EmitLevel::L2, "l2",
                          "after --mixq-form-dispatches: kernel functions "
                          "and the host plan as IR"),
               clEnumValN(EmitLevel::Plan, "plan",
                          "the host plan as the package stores it (JSON)"),
               clEnumValN(EmitLevel::LLVM, "llvm",
                          "the optimized LLVM IR of the CPU kernels"),
               clEnumValN(EmitLevel::GPU, "gpu",
                          "the CUDA kernels as gpu.func (gpu dialect), "
                          "before pipelining and NVVM lowering"),
               clEnumValN(EmitLevel::PTX, "ptx",
                          "the PTX of every --gpu-arch chip")),
    cl::cat(category));
cl::opt<Target> target(
    "target", cl::desc("Code to put in the package"), cl::init(Target::CPU),
    cl::values(clEnumValN(Target::CPU, "cpu", "host CPU kernels (default)"),
               clEnumValN(Target::CUDA, "cuda", "PTX kernels for NVIDIA GPUs"),
               clEnumValN(Target::All, "all", "every target this build has")),
    cl::cat(category));
cl::list<std::string> gpuArchs(
    "gpu-arch",
    cl::desc("NVIDIA chips to generate PTX for (default: sm_80, sm_86, "
             "sm_89, sm_90)"),
    cl::value_desc("sm_XX,..."), cl::CommaSeparated, cl::cat(category));
cl::opt<unsigned> pipelineStages(
    "pipeline-stages",
    cl::desc("Software-pipelining depth of the CUDA matmuls' global->shared "
             "copies (--mixq-pipeline-async-copies)"),
    cl::value_desc("N"), cl::init(3), cl::cat(category));
cl::opt<bool> tensorCoreGemv(
    "tensor-core-gemv",
    cl::desc("Run f16/bf16 decode matmuls on tensor cores (mma.sync, f32 "
             "accumulators); =false: an f32 FMA per weight"),
    cl::init(true), cl::cat(category));
cl::opt<bool> stageGemvWeights(
    "stage-gemv-weights",
    cl::desc("Copy the CUDA GEMVs' weight codes to shared memory with "
             "software-pipelined cp.async; =false: 16-byte loads straight "
             "into registers (fewer instructions, prefetched "
             "--prefetch-stages deep)"),
    cl::init(true), cl::cat(category));
cl::opt<unsigned> prefetchStages(
    "prefetch-stages",
    cl::desc("Register-prefetch depth of the CUDA GEMV loops that load "
             "their weights straight into registers "
             "(--mixq-prefetch-loads; 1: no prefetch)"),
    cl::value_desc("N"), cl::init(2), cl::cat(category));
cl::opt<bool> gemvTileFactors(
    "gemv-tile-factors",
    cl::desc("Tensor-core decode GEMVs whose steps span several scale "
             "runs (mixed) apply the scales per lane tile to the sums: "
             "fewer instructions, more registers (default false)"),
    cl::init(false), cl::cat(category));
cl::opt<bool> biasedGemvTiles(
    "biased-gemv-tiles",
    cl::desc("Tensor-core decode GEMVs whose scales are applied to their "
             "sums (affine, QUIK) take the codes as 2^(10-k) + q, one LOP3 "
             "a pair, and subtract the biases and zero point once a step "
             "with a second mma (default true)"),
    cl::init(true), cl::cat(category));
cl::opt<bool> shareGemvCopies(
    "share-gemv-copies",
    cl::desc("Tensor-core decode GEMVs stage weight slices that are not a "
             "multiple of 16 bytes (3-bit codes) by 16-byte cp.async pieces "
             "the lanes of a row copy together; sm_90+ only (default "
             "false)"),
    cl::init(false), cl::cat(category));
cl::opt<bool> programmaticLaunch(
    "programmatic-launch",
    cl::desc("The sm_90+ PTX's kernels use programmatic dependent launch "
             "(griddepcontrol): in the decode graph each kernel's blocks "
             "start while its predecessor finishes (default false)"),
    cl::init(false), cl::cat(category));
cl::opt<std::string> cpuName(
    "cpu",
    cl::desc("CPU to generate host code for: 'native' (this machine) or an "
             "LLVM CPU name such as x86-64-v3"),
    cl::value_desc("name"), cl::init("native"), cl::cat(category));
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
             "(--list-schemes, docs/schemes.md)"),
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
cl::opt<double> bitBudget(
    "budget",
    cl::desc("Choose each weight's scheme among --candidates so that the "
             "average exact bits/weight stays within this budget "
             "(--mixq-allocate-bits); --scheme/--overrides then apply only "
             "to weights the allocation does not cover"),
    cl::value_desc("bits"), cl::init(0), cl::cat(category));
cl::opt<std::string> budgetCandidates(
    "candidates",
    cl::desc("Candidate SPECs for --budget, separated by ';'"),
    cl::value_desc("list"),
    cl::init("affine:bits=2,group=64;affine:bits=3,group=64;"
             "affine:bits=4,group=64;affine:bits=8,group=64;mixed"),
    cl::cat(category));
cl::opt<std::string> calibrationPath(
    "calibration",
    cl::desc("Calibration statistics (per-layer input E[x^2] and max|x|, "
             "MIXQCAL format) the quantizers use as sensitivity"),
    cl::value_desc("file"), cl::cat(category));
enum class WeightData { All, None };
cl::opt<WeightData> weightData(
    "weights", cl::desc("Weight bytes to write into the package"),
    cl::init(WeightData::All),
    cl::values(
        clEnumValN(WeightData::All, "all", "every weight blob (default)"),
        clEnumValN(WeightData::None, "none",
                   "none: a weightless package that records every weight's "
                   "components and sizes but holds no weight bytes, for "
                   "mixq-bench --dummy-weights on a machine the full package "
                   "would not reach (a llama2-7b package of a few MiB); "
                   "quantization still runs, since sizes depend on the data")),
    cl::cat(category));
cl::list<unsigned> decodeWidths(
    "widths",
    cl::desc("Progressive decoding: one decode plan per width over one copy "
             "of a nested-width scheme's weights (bitplane), the default "
             "first, e.g. --widths=4,3,2 (--mixq-decode-widths); mixq-run "
             "--schedule switches between them"),
    cl::value_desc("W,..."), cl::CommaSeparated, cl::cat(category));
cl::opt<unsigned> prefillWidth(
    "prefill-width",
    cl::desc("With --widths: the width of the prefill plan (default: the "
             "scheme's own width)"),
    cl::value_desc("W"), cl::init(0), cl::cat(category));
cl::opt<bool> verbose("v", cl::desc("Print load and emit times on stderr"),
                      cl::cat(category));
cl::opt<cl::boolOrDefault> fuseDecode(
    "fuse-decode",
    cl::desc("Fuse each decode layer into 5 kernels: norms as matmul "
             "prologues, q/k/v and gate/up as one kernel each, rope and "
             "SwiGLU as epilogues (--mixq-form-dispatches fuse-decode). "
             "Default: on when the package has CUDA kernels (it saves 8 "
             "launches a layer), off for a CPU-only package (the fused CPU "
             "kernels decode about 9% slower); the CPU runs either plan"),
    cl::cat(category));
cl::opt<int64_t> maxQuantizedRowBytes(
    "max-quantized-row-bytes",
    cl::desc("With fused decode and a scheme with act-bits (QUIK): the most "
             "bytes of quantized x a fused kernel may keep on chip, over "
             "its copies (one a matmul, two for gate and up); a larger x "
             "keeps its quantize_act a kernel of its own "
             "(--mixq-form-dispatches max-quantized-row-bytes; default "
             "24576, the most the CUDA fused GEMV stages)"),
    cl::value_desc("BYTES"), cl::init(24576), cl::cat(category));
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

/// Prints `text` to -o (default stdout); non-zero on failure.
int printText(const std::string &text) {
  std::string error;
  auto output = mlir::openOutputFile(outputPath, &error);
  if (!output)
    return fail(error);
  output->os() << text;
  output->keep();
  return 0;
}

double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

/// Runs the passes after quantization that every package needs.
mlir::LogicalResult formDispatches(mlir::ModuleOp module, bool fuse) {
  mlir::PassManager pm(module.getContext());
  mlir::mixq::MixQFormDispatchesOptions options;
  options.fuseDecode = fuse;
  options.maxQuantizedRowBytes = maxQuantizedRowBytes;
  pm.addPass(mlir::mixq::createMixQFormDispatches(options));
  return pm.run(module);
}

std::string commandLine(int argc, char **argv) {
  std::string line = "mixq-compile";
  for (int i = 1; i < argc; ++i)
    line += std::string(" ") + argv[i];
  return line;
}

/// A byte-count progress bar for writing the package, in per-mille steps
/// so that small packages show progress too.
mixq::ByteProgress writeProgress(ProgressBar &bar) {
  return [&bar](uint64_t done, uint64_t total) {
    if (total == 0)
      return;
    bar(size_t(done * 1000 / total), 1000,
        formatv("{0:F1} MiB", total / 1048576.0).str());
  };
}

} // namespace

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
#if defined(__GLIBC__)
  // Quantizing a model allocates and frees a few weight-sized float buffers
  // (up to 180 MB) per weight. glibc serves blocks that large with a fresh
  // mmap each time, and faulting in and zeroing those pages took a tenth of
  // a 7B `mixed` run, on one thread. From the heap, and never trimmed, the
  // freed blocks are reused instead; the peak stays a few such buffers.
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, -1);
#endif
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      argc, argv,
      "mixq-compile: compile a Llama checkpoint (GGUF, Hugging Face "
      "safetensors folder or llama2.c .bin) into a .mixq package\n");

  // Plugins first: they register their schemes, which --list-schemes and
  // the SPECs below may name.
  mlir::DialectRegistry registry;
  mlir::mixq::cpu::registerCPUBackendDependencies(registry);
  for (const std::string &path : schemePlugins) {
    llvm::Expected<mlir::DialectPlugin> plugin =
        mlir::DialectPlugin::load(path);
    if (!plugin)
      return fail("--load-scheme-plugin: " +
                  llvm::toString(plugin.takeError()));
    plugin->registerDialectRegistryCallbacks(registry);
  }
  if (listSchemes) {
    mlir::mixq::printSchemeSpecHelp(llvm::outs());
    return 0;
  }
  if (checkpointPath.empty())
    return fail("missing <checkpoint>: a GGUF file, a Hugging Face "
                "safetensors folder or a llama2.c .bin (--help)");
  bool wantReport = reportFormat.getNumOccurrences() > 0;
  bool emitting = emitLevel.getNumOccurrences() > 0;
  if (wantReport && reportFormat != "" && reportFormat != "table" &&
      reportFormat != "json")
    return fail("--report takes 'table' or 'json', not '" + reportFormat + "'");
  bool writingPackage = !emitting && outputPath != "-";
  if (!emitting && !wantReport && !writingPackage)
    return fail("nothing to do: give -o OUT.mixq to write a package, "
                "--emit=llm|mixq|l2|plan|llvm|gpu|ptx or --report");
  if (prefillWidth.getNumOccurrences() && decodeWidths.empty())
    return fail("--prefill-width needs --widths (a multi-width package)");
  if (pipelineStages < 1)
    return fail("--pipeline-stages must be at least 1");
  if (prefetchStages < 1)
    return fail("--prefetch-stages must be at least 1");
  // Checked before the (possibly long) load and quantization.
  for (const std::string &chip : gpuArchs)
    if (!llvm::is_contained(mlir::mixq::cuda::getSupportedChips(), chip))
      return fail("unsupported GPU architecture '" + chip +
                  "'; expected one of " +
                  llvm::join(mlir::mixq::cuda::getSupportedChips(), ", "));
  if (maxSeqLen < 0)
    return fail("--max-seq-len must be positive");
  if (maxQuantizedRowBytes < 0)
    return fail("--max-quantized-row-bytes must be 0 or more, got " +
                std::to_string(maxQuantizedRowBytes));
  // Read before the (possibly long) load, so that a bad file fails fast.
  std::optional<mixq::quant::CalibrationStats> calibration;
  if (!calibrationPath.empty()) {
    auto stats = mixq::quant::readCalibrationStats(calibrationPath);
    if (!stats)
      return fail(stats.message());
    calibration = stats.take();
  }
  auto start = std::chrono::steady_clock::now();
  mixq::LoadOptions options;
  options.tokenizerPath = tokenizerPath;
  options.maxSeqLenOverride = maxSeqLen;
  auto model = mixq::loadCheckpoint(checkpointPath, options);
  if (!model)
    return fail(model.message());
  double loadSeconds = secondsSince(start);

  mlir::MLIRContext context(registry);
  auto module = mixq::emitLLMModule(context, **model);
  if (failed(mlir::verify(*module)))
    return fail("internal error: the emitted llm IR does not verify");

  if (emitting && emitLevel == EmitLevel::LLM)
    return printModule(*module);

  if (bitBudget.getNumOccurrences()) {
    std::vector<std::string> candidates;
    for (StringRef spec : llvm::split(StringRef(budgetCandidates), ';'))
      if (!spec.trim().empty())
        candidates.push_back(spec.trim().str());
    const mixq::WeightStore &store = (*model)->weights;
    auto readWeight =
        [&](StringRef name) -> llvm::Expected<std::vector<float>> {
      const mixq::TensorView *view = store.lookup(name.str());
      if (!view)
        return createStringError(inconvertibleErrorCode(),
                                 "weight '" + name + "' is not in the model");
      auto values = mixq::readAllAsF32(*view);
      if (!values)
        return createStringError(inconvertibleErrorCode(), values.message());
      return values.take();
    };
    auto allocation = mlir::mixq::allocateBits(*module, bitBudget, candidates,
                                               readWeight);
    if (!allocation)
      return fail(toString(allocation.takeError()));
    double bits = 0, params = 0;
    for (const auto &choice : *allocation) {
      errs() << formatv("mixq-compile: budget: {0,-18} {1,8:F4} bits/w  {2}\n",
                        choice.weight, choice.bitsPerWeight, choice.scheme);
      bits += choice.bitsPerWeight * choice.parameters;
      params += choice.parameters;
    }
    errs() << formatv("mixq-compile: budget {0} bits/weight: allocated "
                      "{1:F4} over {2} weights\n",
                      double(bitBudget), params ? bits / params : 0.0,
                      allocation->size());
  }
  {
    // The passes' warnings (a weight quantized with a fallback scheme) go
    // to stderr; errors keep MLIR's default printing.
    mlir::ScopedDiagnosticHandler warnings(
        &context, [](mlir::Diagnostic &diagnostic) {
          if (diagnostic.getSeverity() != mlir::DiagnosticSeverity::Warning)
            return mlir::failure();
          errs() << "mixq-compile: warning: " << diagnostic.str() << "\n";
          return mlir::success();
        });
    mlir::PassManager pm(&context);
    mlir::mixq::MixQQuantizeOptions quantizeOptions;
    quantizeOptions.scheme = schemeSpec;
    quantizeOptions.overrides = schemeOverrides;
    pm.addPass(mlir::mixq::createMixQQuantize(quantizeOptions));
    if (!decodeWidths.empty()) {
      mlir::mixq::MixQDecodeWidthsOptions widthOptions;
      widthOptions.widths.assign(decodeWidths.begin(), decodeWidths.end());
      widthOptions.prefillWidth = prefillWidth;
      pm.addPass(mlir::mixq::createMixQDecodeWidths(widthOptions));
    }
    if (failed(pm.run(*module)))
      return 1; // the pass reported the error with its location
  }
  nlohmann::json widthsManifest = mixq::describeDecodeWidths(*module);
  if (emitting && emitLevel == EmitLevel::MixQ) {
    if (int rc = printModule(*module))
      return rc;
    if (!wantReport)
      return 0;
  }

  // Packing keeps the buffers only when a package will hold them, so that a
  // report on a 7B model needs memory for one weight at a time.
  std::vector<mixq::WeightReport> reports;
  if (wantReport || writingPackage) {
    ProgressBar bar("quantizing");
    auto packed = mixq::quantizeModuleWeights(
        *module, (*model)->weights, /*keepPacked=*/writingPackage,
        std::ref(bar), calibration ? &*calibration : nullptr);
    if (!packed)
      return fail(toString(packed.takeError()));
    reports = std::move(*packed);
    if (wantReport) {
      std::string text = reportFormat == "json"
                             ? mixq::formatReportJson(reports)
                             : mixq::formatReportTable(reports);
      // stdout carries the IR or the package path otherwise.
      (emitting ? errs() : outs()) << text;
    }
    if (!writingPackage && !emitting)
      return 0;
  }
  if (emitting && emitLevel == EmitLevel::MixQ)
    return 0;

  // Fused decode dispatches pay on the GPU; a CPU-only package keeps one
  // kernel per op unless asked.
  bool fuse = fuseDecode == cl::BOU_UNSET
                  ? target != Target::CPU ||
                        (emitting && (emitLevel == EmitLevel::GPU ||
                                      emitLevel == EmitLevel::PTX))
                  : fuseDecode == cl::BOU_TRUE;
  if (failed(formDispatches(*module, fuse)))
    return 1;
  if (emitting && emitLevel == EmitLevel::L2)
    return printModule(*module);

  auto plan = mlir::mixq::buildHostPlan(*module);
  if (!plan)
    return fail(toString(plan.takeError()));
  if (emitting && emitLevel == EmitLevel::Plan)
    return printText(plan->dump(2) + "\n");

  bool wantCUDA = target != Target::CPU ||
                  (emitting && (emitLevel == EmitLevel::GPU ||
                                emitLevel == EmitLevel::PTX));
  bool wantCPU = !wantCUDA || target == Target::All ||
                 (emitting && emitLevel == EmitLevel::LLVM);
  auto codegenStart = std::chrono::steady_clock::now();
  std::optional<mlir::mixq::cuda::CompiledCUDA> cuda;
  if (wantCUDA && !(emitting && emitLevel == EmitLevel::LLVM)) {
    mlir::mixq::cuda::CUDAOptions cudaOptions;
    if (!gpuArchs.empty())
      cudaOptions.chips.assign(gpuArchs.begin(), gpuArchs.end());
    cudaOptions.maxTokens = (*model)->config.maxSeqLen;
    cudaOptions.pipelineStages = pipelineStages;
    cudaOptions.tensorCoreGemv = tensorCoreGemv;
    cudaOptions.stageGemvWeights = stageGemvWeights;
    cudaOptions.prefetchStages = prefetchStages;
    cudaOptions.gemvTileFactors = gemvTileFactors;
    cudaOptions.biasedGemvTiles = biasedGemvTiles;
    cudaOptions.shareGemvCopies = shareGemvCopies;
    cudaOptions.programmaticLaunch = programmaticLaunch;
    if (emitting && emitLevel == EmitLevel::GPU) {
      std::vector<mlir::mixq::cuda::KernelLaunch> launches;
      auto gpuModule =
          mlir::mixq::cuda::buildGPUModule(*module, cudaOptions, launches);
      if (!gpuModule)
        return fail(toString(gpuModule.takeError()));
      return printModule(**gpuModule);
    }
    auto compiled = mlir::mixq::cuda::compileKernels(*module, cudaOptions);
    if (!compiled)
      return fail(toString(compiled.takeError()));
    if (emitting && emitLevel == EmitLevel::PTX) {
      std::string text;
      for (const auto &[chip, ptx] : compiled->ptx)
        text += "// ===== " + chip + " =====\n" + ptx;
      return printText(text);
    }
    cuda = std::move(*compiled);
  }
  std::optional<mlir::mixq::cpu::CompiledKernels> kernels;
  if (wantCPU) {
    mlir::mixq::cpu::CPUOptions cpuOptions;
    cpuOptions.cpu = cpuName;
    cpuOptions.keepLLVMIR = emitting && emitLevel == EmitLevel::LLVM;
    auto compiled = mlir::mixq::cpu::compileKernels(*module, cpuOptions);
    if (!compiled)
      return fail(toString(compiled.takeError()));
    if (emitting)
      return printText(compiled->llvmIR);
    kernels = std::move(*compiled);
  }
  double codegenSeconds = secondsSince(codegenStart);

  mixq::PackageContents contents;
  contents.model = &**model;
  contents.module = *module;
  contents.plan = std::move(*plan);
  contents.widths = std::move(widthsManifest);
  contents.cpu = kernels ? &*kernels : nullptr;
  contents.cuda = cuda ? &*cuda : nullptr;
  contents.reports = &reports;
  contents.producer = commandLine(argc, argv);
  contents.withoutWeights = weightData == WeightData::None;
  ProgressBar writeBar("writing");
  if (llvm::Error error =
          mixq::writePackage(outputPath, contents, writeProgress(writeBar)))
    return fail(toString(std::move(error)));

  double bits = 0, params = 0;
  for (const mixq::WeightReport &report : reports) {
    double n = double(report.rows) * double(report.cols);
    bits += report.bitsPerWeight * n;
    params += n;
  }
  uint64_t fileSize = 0;
  (void)sys::fs::file_size(outputPath, fileSize);
  std::string weights =
      params > 0 ? formatv("{0:F3} bits/weight over {1:F2} M quantized "
                           "weights",
                           bits / params, params / 1e6)
                       .str()
                 : std::string("no quantized weights");
  std::vector<std::string> targets;
  if (kernels)
    targets.push_back(formatv("{0} CPU kernels ({1})", kernels->kernels.size(),
                              kernels->cpu));
  if (cuda) {
    std::vector<std::string> chips;
    for (const auto &entry : cuda->ptx)
      chips.push_back(entry.first);
    targets.push_back(formatv("{0} CUDA kernels ({1})", cuda->kernels.size(),
                              llvm::join(chips, ", ")));
  }
  errs() << formatv("mixq-compile: wrote {0} ({1:F2} MiB{5}): {2} ({3:F2} s "
                    "codegen), {4}\n",
                    outputPath, fileSize / 1048576.0,
                    llvm::join(targets, " and "), codegenSeconds, weights,
                    contents.withoutWeights
                        ? ", weightless: --weights=none left the weight "
                          "bytes out"
                        : "");
  if (verbose)
    errs() << formatv("mixq-compile: loaded {0} ({1}, {2} tensors, {3:F1} M "
                      "parameters) in {4:F3} s; total {5:F3} s\n",
                      checkpointPath, (*model)->format,
                      (*model)->weights.size(),
                      (*model)->config.numParameters() / 1e6, loadSeconds,
                      secondsSince(start));
  return 0;
}
