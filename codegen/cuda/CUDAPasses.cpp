//===- CUDAPasses.cpp - --mixq-build-gpu-kernels --------------------------===//
#include "codegen/cuda/CUDAPasses.h"
#include "codegen/cuda/CUDABackend.h"

namespace mlir::mixq::cuda {
#define GEN_PASS_DEF_MIXQBUILDGPUKERNELS
#include "codegen/cuda/CUDAPasses.h.inc"
} // namespace mlir::mixq::cuda

using namespace mlir;
using namespace mlir::mixq::cuda;

namespace {

struct BuildGPUKernels
    : mlir::mixq::cuda::impl::MixQBuildGPUKernelsBase<BuildGPUKernels> {
  using MixQBuildGPUKernelsBase::MixQBuildGPUKernelsBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    CUDAOptions options;
    options.maxTokens = maxTokens;
    options.useTensorCores = tensorCores;
    options.tensorCoreGemv = tensorCoreGemv;
    options.stageGemvWeights = stageGemvWeights;
    options.gemvTileFactors = gemvTileFactors;
    options.biasedGemvTiles = biasedGemvTiles;
    options.shareGemvCopies = shareGemvCopies;
    if (!chips.empty())
      options.chips.assign(chips.begin(), chips.end());
    std::vector<KernelLaunch> launches;
    auto gpuModule = buildGPUModule(module, options, launches);
    if (!gpuModule) {
      std::string message = llvm::toString(gpuModule.takeError());
      if (message != kGeneratorsFailedMessage) // else already reported
        module.emitError() << message;
      return signalPassFailure();
    }
    // The module becomes the GPU module: the host side is the runtime's.
    module.getBody()->clear();
    module->setAttrs((**gpuModule)->getAttrDictionary());
    module.getBody()->getOperations().splice(
        module.getBody()->end(), (**gpuModule).getBody()->getOperations());
  }
};

} // namespace
