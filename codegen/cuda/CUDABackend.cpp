//===- CUDABackend.cpp - kernels to PTX for NVIDIA GPUs -------------------===//
#include "codegen/cuda/CUDABackend.h"

#include "codegen/cuda/CUDAPasses.h"
#include "codegen/cuda/GPUKernels.h"
#include "codegen/cuda/KernelBuilder.h"
#include "dialect/LLM/LLMOps.h"
#include "passes/Dispatch.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>
#include <mutex>
#include <optional>

using namespace mlir;
using namespace mlir::mixq;
using namespace mlir::mixq::cuda;

namespace {

llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message.str());
}

/// PTX ISA 8.0 (CUDA 12.0) is the oldest that knows every supported chip.
constexpr const char *kPTXFeatures = "+ptx80";

/// libdevice inside a CUDA toolkit.
constexpr const char *kLibdevicePath = "nvvm/libdevice/libdevice.10.bc";

/// The libdevice MLIR's NVVM target should link explicitly: none when the
/// environment names a toolkit (MLIR then links its libdevice itself:
/// $CUDA_ROOT, $CUDA_HOME, $CUDA_PATH), else the one of the toolkit CMake
/// found or of /usr/local/cuda. Without any, MLIR would silently leave the
/// math functions (exp, sqrt, round, ...) as unresolved __nv_* calls.
std::optional<std::string> findFallbackLibdevice() {
  for (const char *variable : {"CUDA_ROOT", "CUDA_HOME", "CUDA_PATH"})
    if (const char *value = std::getenv(variable); value && *value)
      return std::nullopt;
  std::vector<std::string> toolkits = {"/usr/local/cuda"};
#ifdef MIXQ_CUDA_TOOLKIT_DIR
  toolkits.insert(toolkits.begin(), MIXQ_CUDA_TOOLKIT_DIR);
#endif
  for (const std::string &toolkit : toolkits) {
    std::string path = toolkit + "/" + kLibdevicePath;
    if (llvm::sys::fs::exists(path))
      return path;
  }
  return std::nullopt;
}

/// Adds the fallback libdevice (findFallbackLibdevice) to the link list of
/// every NVVM target of the module's gpu.modules, right before the lowering
/// to PTX, so that the IR --emit=gpu prints does not depend on the machine.
void linkFallbackLibdevice(ModuleOp module) {
  std::optional<std::string> libdevice = findFallbackLibdevice();
  if (!libdevice)
    return;
  Builder b(module.getContext());
  module.walk([&](gpu::GPUModuleOp gpuModule) {
    SmallVector<Attribute> targets;
    for (Attribute attr : gpuModule.getTargetsAttr()) {
      auto target = cast<NVVM::NVVMTargetAttr>(attr);
      targets.push_back(NVVM::NVVMTargetAttr::get(
          module.getContext(), target.getO(), target.getTriple(),
          target.getChip(), target.getFeatures(), target.getFlags(),
          b.getStrArrayAttr({*libdevice})));
    }
    gpuModule.setTargetsAttr(b.getArrayAttr(targets));
  });
}

/// An error when `ptx` still declares a libdevice function (its body was
/// never linked): ptxas and the CUDA driver reject such PTX.
llvm::Error checkLibdeviceLinked(const std::string &chip, llvm::StringRef ptx) {
  size_t at = ptx.find(".extern .func");
  for (; at != llvm::StringRef::npos; at = ptx.find(".extern .func", at + 1)) {
    size_t name = ptx.find("__nv_", at);
    size_t end = ptx.find('\n', at);
    if (name == llvm::StringRef::npos || name > end)
      continue;
    llvm::StringRef function = ptx.substr(name).take_while(
        [](char c) { return isalnum(c) || c == '_'; });
    return makeError("the " + chip + " PTX calls libdevice's " + function +
                     ", but no libdevice was linked: set CUDA_HOME to a CUDA "
                     "toolkit (" +
                     kLibdevicePath +
                     " supplies exp, sqrt, "
                     "round and the other math functions)");
  }
  return llvm::Error::success();
}

/// Fast code conversion, then software pipelining of the global->shared
/// copies, which also turns the staging allocs into workgroup attributions
/// (the kernels' final shared memory), and of the K loops' direct global
/// loads (a register prefetch), then one lop3 per masked OR (last: nothing
/// sees through its asm).
std::string getPipeliningPipeline(const CUDAOptions &options) {
  // Unrolled by the prefetch depth, the prefetched registers rotate
  // through the copies of the body instead of being moved every iteration.
  std::string prefetchStages = std::to_string(options.prefetchStages);
  return "gpu.module(gpu.func(mixq-magic-int-to-float,"
         "mixq-pipeline-async-copies{hoist-prologue=1 stages=" +
         std::to_string(options.pipelineStages) +
         "},mixq-prefetch-loads{stages=" + prefetchStages +
         " unroll=" + prefetchStages + "},mixq-fuse-lop3))";
}

/// gpu.module -> NVVM -> PTX. Loop counters and index math proven to fit 32
/// bits go to i32 (index is 64 bits on NVPTX); async copies (nvgpu) lower
/// before the GPU ops; memrefs are passed as bare pointers (the kernel ABI);
/// libdevice supplies the math functions the GPU lowering maps to it, LLVM
/// intrinsics the rest (ctpop).
constexpr const char *kToPTXPipeline =
    "gpu.module(expand-strided-metadata,lower-affine,"
    "mixq-narrow-loop-indices,"
    "arith-int-range-narrowing{int-bitwidths-supported=32},convert-scf-to-cf,"
    "convert-nvgpu-to-nvvm,"
    "convert-gpu-to-nvvm{use-bare-ptr-memref-call-conv=1},"
    "convert-math-to-llvm,canonicalize,cse),"
    "reconcile-unrealized-casts,gpu-module-to-binary{format=isa}";

LogicalResult runPipeline(ModuleOp module, const std::string &text,
                          std::string &errors) {
  PassManager pm(module.getContext());
  llvm::raw_string_ostream errorStream(errors);
  if (failed(parsePassPipeline(text, pm, errorStream))) {
    errors = "invalid built-in CUDA pipeline: " + errors;
    return failure();
  }
  if (failed(pm.run(module))) {
    errors = "lowering the kernels to PTX failed (see the diagnostics above)";
    return failure();
  }
  return success();
}

llvm::Error checkOptions(const CUDAOptions &options) {
  if (options.chips.empty())
    return makeError("no GPU architecture requested (--gpu-arch)");
  for (const std::string &chip : options.chips)
    if (!llvm::is_contained(getSupportedChips(), chip))
      return makeError("unsupported GPU architecture '" + chip +
                       "'; expected one of " +
                       llvm::join(getSupportedChips(), ", "));
  if (options.maxTokens <= 0)
    return makeError("the CUDA backend needs the context length (maxTokens)");
  if (options.programmaticLaunch &&
      llvm::none_of(options.chips, [](const std::string &chip) {
        return hasProgrammaticLaunch(chip);
      }))
    return makeError("programmatic dependent launch needs an sm_90 or newer "
                     "chip among the GPU architectures (griddepcontrol is "
                     "sm_90+); got " +
                     llvm::join(options.chips, ", "));
  // On sm_80 ptxas spills the fused lut3 kernels of shared copies at the
  // 128-register bound (q/k/v 56 bytes, gate/up 24); sm_90's take 58-66.
  if (options.shareGemvCopies &&
      !llvm::all_of(options.chips, [](const std::string &chip) {
        return hasProgrammaticLaunch(chip);
      }))
    return makeError("--share-gemv-copies is for sm_90 and newer chips only "
                     "(on sm_80 the fused lut3 GEMVs spill); got " +
                     llvm::join(options.chips, ", "));
  return llvm::Error::success();
}

/// The static shared memory a kernel may declare: above it, loading the
/// module fails on every chip (more needs a dynamic allocation and an
/// opt-in, which the runtime does not make).
constexpr int64_t kMaxStaticSharedBytes = 48 * 1024;

/// Each kernel's static shared memory once the pipelining has multi-buffered
/// its tiles; an error naming the kernel where it is over
/// kMaxStaticSharedBytes, rather than a module that fails to load on the GPU.
llvm::Error recordSharedMemory(ModuleOp module,
                               std::vector<KernelLaunch> &launches,
                               unsigned pipelineStages) {
  llvm::StringMap<int64_t> bytes;
  module.walk([&](gpu::GPUFuncOp func) {
    bytes[func.getName()] = KernelBuilder::getWorkgroupBytes(func);
  });
  for (KernelLaunch &launch : launches)
    if (auto it = bytes.find(launch.entry); it != bytes.end())
      launch.sharedBytes = it->second;
  for (const auto &[name, total] : bytes)
    if (total > kMaxStaticSharedBytes)
      return makeError(
          "CUDA codegen: kernel " + name.str() + " needs " +
          llvm::Twine(total) + " bytes of static shared memory, over the " +
          llvm::Twine(kMaxStaticSharedBytes) + " a kernel may have" +
          (pipelineStages > 1
               ? "; compile with a smaller --pipeline-stages (now " +
                     llvm::Twine(pipelineStages) + ")"
               : llvm::Twine("")));
  return llvm::Error::success();
}

/// What --mixq-prefetch-loads did to each entry: a K loop it unrolled
/// covers that many of the generator's steps an iteration (the manifest's
/// weights per warp iteration, what the SASS report divides the loop's
/// instructions by, follow), and unstaged weights are prefetched as deep
/// as it pipelined them (not at all where it declined).
void recordPrefetching(ModuleOp module, std::vector<KernelLaunch> &launches) {
  auto attrOf = [](gpu::GPUFuncOp func, StringRef name) -> int64_t {
    auto attr = func->getAttrOfType<IntegerAttr>(name);
    return attr ? attr.getInt() : 1;
  };
  llvm::StringMap<std::pair<int64_t, int64_t>> done; // unroll, depth
  module.walk([&](gpu::GPUFuncOp func) {
    done[func.getName()] = {attrOf(func, kLoopUnrollAttrName),
                            attrOf(func, kPrefetchStagesAttrName)};
  });
  for (KernelLaunch &launch : launches) {
    auto it = done.find(launch.entry);
    if (it == done.end())
      continue;
    auto [unroll, depth] = it->second;
    launch.weightsPerWarpIteration *= unroll;
    for (GemvChoice &choice : launch.gemvs)
      if (!choice.staged)
        choice.pipelineDepth = depth;
  }
}

/// The chips of the gpu.modules --mixq-programmatic-launch instrumented.
std::vector<std::string> getProgrammaticLaunchChips(ModuleOp module) {
  std::vector<std::string> chips;
  for (auto gpuModule : module.getOps<gpu::GPUModuleOp>())
    if (gpuModule->hasAttr(kProgrammaticLaunchAttrName))
      for (Attribute target : gpuModule.getTargetsAttr())
        chips.push_back(cast<NVVM::NVVMTargetAttr>(target).getChip().str());
  llvm::sort(chips);
  return chips;
}

/// Reads each target's PTX out of the gpu.binary that
/// gpu-module-to-binary left.
llvm::Error collectPTX(ModuleOp module, CompiledCUDA &out) {
  for (auto binary : module.getOps<gpu::BinaryOp>())
    for (Attribute attr : binary.getObjects()) {
      auto object = cast<gpu::ObjectAttr>(attr);
      auto target = dyn_cast<NVVM::NVVMTargetAttr>(object.getTarget());
      if (!target)
        continue;
      if (llvm::Error error = checkLibdeviceLinked(
              target.getChip().str(), object.getObject().getValue()))
        return error;
      out.ptx[target.getChip().str()] = object.getObject().getValue().str();
    }
  if (out.ptx.empty())
    return makeError("gpu-module-to-binary produced no PTX");
  return llvm::Error::success();
}

/// The vocabulary of the model's logits (the last dimension of an
/// llm.logits result), if the module computes any.
std::optional<int64_t> getVocabSize(ModuleOp module) {
  std::optional<int64_t> vocab;
  module.walk([&](llm::LogitsOp op) {
    vocab = op.getType().getDimSize(1);
    return WalkResult::interrupt();
  });
  return vocab;
}

} // namespace

const std::vector<std::string> &mlir::mixq::cuda::getSupportedChips() {
  static const std::vector<std::string> chips = {"sm_80", "sm_86", "sm_89",
                                                 "sm_90"};
  return chips;
}

llvm::Expected<OwningOpRef<ModuleOp>>
mlir::mixq::cuda::buildGPUModule(ModuleOp module, const CUDAOptions &options,
                                 std::vector<KernelLaunch> &launches) {
  if (llvm::Error error = checkOptions(options))
    return std::move(error);
  MLIRContext *ctx = module.getContext();
  // The generators create ops of these directly (not through a pass that
  // would declare them as dependent dialects).
  ctx->loadDialect<arith::ArithDialect, gpu::GPUDialect, math::MathDialect,
                   memref::MemRefDialect, NVVM::NVVMDialect,
                   nvgpu::NVGPUDialect, scf::SCFDialect,
                   vector::VectorDialect>();
  OpBuilder b(ctx);
  OwningOpRef<ModuleOp> gpuModule = ModuleOp::create(module.getLoc());
  (*gpuModule)
      ->setAttr(gpu::GPUDialect::getContainerModuleAttrName(), b.getUnitAttr());
  SmallVector<Attribute> targets;
  for (const std::string &chip : options.chips)
    targets.push_back(NVVM::NVVMTargetAttr::get(
        ctx, /*optLevel=*/3, "nvptx64-nvidia-cuda", chip, kPTXFeatures));
  b.setInsertionPointToEnd(gpuModule->getBody());
  auto kernels = gpu::GPUModuleOp::create(b, module.getLoc(), "mixq_kernels",
                                          b.getArrayAttr(targets));

  bool failedAny = false;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (!func->hasAttr(kKernelAttrName) || func.isExternal())
      continue;
    FailureOr<KernelLaunch> launch = buildGPUKernel(func, kernels, options);
    if (failed(launch)) {
      failedAny = true;
      continue;
    }
    launches.push_back(*launch);
  }
  if (failedAny)
    return makeError(kGeneratorsFailedMessage);
  if (std::optional<int64_t> vocab = getVocabSize(module)) {
    FailureOr<KernelLaunch> argmax = buildArgmaxKernel(kernels, *vocab);
    if (failed(argmax))
      return makeError(kGeneratorsFailedMessage);
    launches.push_back(*argmax);
  }
  if (launches.empty())
    return makeError("the module has no mixq.kernel functions (run "
                     "--mixq-form-dispatches first)");
  return std::move(gpuModule);
}

llvm::Expected<CompiledCUDA>
mlir::mixq::cuda::compileKernels(ModuleOp module, const CUDAOptions &options) {
  CompiledCUDA out;
  auto gpuModule = buildGPUModule(module, options, out.kernels);
  if (!gpuModule)
    return gpuModule.takeError();
  if (failed((**gpuModule).verify()))
    return makeError("internal error: the generated GPU module does not "
                     "verify");
  // The textual pipelines name codegen/cuda's own passes.
  static std::once_flag registerOnce;
  std::call_once(registerOnce, [] { registerMixQCUDAPasses(); });
  std::string errors;
  if (failed(runPipeline(**gpuModule, getPipeliningPipeline(options), errors)))
    return makeError(errors);
  if (llvm::Error error =
          recordSharedMemory(**gpuModule, out.kernels, options.pipelineStages))
    return std::move(error);
  recordPrefetching(**gpuModule, out.kernels);
  if (options.programmaticLaunch) {
    if (failed(runPipeline(**gpuModule, "mixq-programmatic-launch", errors)))
      return makeError(errors);
    out.programmaticLaunchChips = getProgrammaticLaunchChips(**gpuModule);
  }
  linkFallbackLibdevice(**gpuModule);
  if (failed(runPipeline(**gpuModule, kToPTXPipeline, errors)))
    return makeError(errors);
  if (llvm::Error error = collectPTX(**gpuModule, out))
    return std::move(error);
  return out;
}
