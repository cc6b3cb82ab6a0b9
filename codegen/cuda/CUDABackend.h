//===- CUDABackend.h - kernels to PTX for NVIDIA GPUs -----------*- C++ -*-===//
//
// codegen/cuda: every `mixq.kernel` function of the dispatch-formed module
// (the same dispatches the CPU backend compiles) becomes one `gpu.func` in a
// `gpu.module`, built by an op-specific generator (GPUKernels.h): the fused
// dequant-GEMV/GEMM for matmuls, generic over QuantSchemeAttrInterface, and
// row-parallel kernels for the other ops. The module is pipelined
// (--mixq-pipeline-async-copies), lowered to NVVM and turned into PTX for
// each requested chip by `gpu-module-to-binary` (LLVM's NVPTX backend).
//
// Kernel ABI (docs/cuda.md): one PTX parameter per plan binding, in plan
// order — a pointer for a buffer, weight component, cache or the tokens, an
// s64 for `start_pos` — then a workspace pointer if the kernel has one, then
// one s64, the call's token count S. Launches are described in the manifest
// (entries in launch order, block size, grid as a function of S, static
// shared memory, workspace bytes).
//===----------------------------------------------------------------------===//
#ifndef MIXQ_CODEGEN_CUDA_CUDABACKEND_H
#define MIXQ_CODEGEN_CUDA_CUDABACKEND_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mlir::mixq::cuda {

/// The chips `--gpu-arch` accepts, oldest first.
const std::vector<std::string> &getSupportedChips();

struct CUDAOptions {
  /// Chips to emit PTX for ("sm_80", ...); each gets its own PTX text.
  std::vector<std::string> chips = getSupportedChips();
  /// The most rows (tokens) a prefill call may have: the static bound of
  /// every S-sized buffer (the model's context length).
  int64_t maxTokens = 0;
  /// Software-pipelining depth of the matmuls' global->shared copies.
  unsigned pipelineStages = 3;
  /// Use the tensor-core (mma.sync) kernel for f16/bf16 prefill matmuls.
  bool useTensorCores = true;
  /// Decode GEMVs over f16/bf16 on mma.sync with f32 accumulators, rather
  /// than an f32 FMA per weight.
  bool tensorCoreGemv = true;
  /// Decode GEMVs copy their weight codes into shared memory with cp.async,
  /// software-pipelined (pipelineStages deep); false: each lane loads its
  /// codes straight into registers (16-byte loads, prefetched
  /// prefetchStages deep), for the comparison the decode GEMV issue asks a
  /// GPU run to make.
  bool stageGemvWeights = true;
  /// Register-prefetch depth of the GEMV K loops that load their weights
  /// straight into registers (--mixq-prefetch-loads): iteration i issues
  /// the loads of iteration i + prefetchStages - 1. 1: no prefetch.
  unsigned prefetchStages = 2;
  /// Tensor-core decode GEMVs whose steps span several scale-factor runs
  /// but whose lane tiles do not (mixed: 64-weight tiles, groups of 64)
  /// split B's columns among the lanes' tiles and apply the factors to the
  /// sums (no f16x2 multiply per pair of weights, more registers); false:
  /// such weights come scaled. For the comparison a GPU run has to make.
  bool gemvTileFactors = false;
  /// Tensor-core decode GEMVs that apply scale factors per step or per row
  /// take a scheme's biased tiles (QuantSchemeAttrInterface::
  /// buildBiasedDequantVectorInAnyOrder: 2^(10 - k) + q, one lop3 a pair of
  /// weights) and subtract sum(bias x) + zero sum(x) once a step, both from
  /// one more mma per mma of the step (MmaGemvKernels.cpp); false: the
  /// unscaled tiles, q - z by one f16x2 op a pair.
  bool biasedGemvTiles = true;
  /// The tensor-core decode GEMVs stage weight slices that are not a
  /// multiple of 16 bytes (32 or 64 three-bit codes: 12 or 24 bytes, a
  /// bitplane's 4-byte planes) by 16-byte cp.async pieces the lanes of a
  /// row copy together, with a bar.warp.sync a step; false: 4- and 8-byte
  /// copies a lane, and 3-bit codes loaded straight into registers. lut3:
  /// every weight load 16 bytes wide and 58-66 registers against 2.02-2.05
  /// -> 2.15-2.33 instructions per weight (sm_90), for a GPU run to weigh.
  /// sm_90+ chips only: on sm_80 ptxas spills the fused lut3 kernels (and
  /// on sm_90 affine3 g64's fused q/k/v, 4 bytes: it is meant for lut3).
  bool shareGemvCopies = false;
  /// The sm_90+ chips' kernels let their successors launch early and wait
  /// for their predecessors in griddepcontrol (--mixq-programmatic-launch);
  /// the runtime then joins their decode graph nodes with programmatic
  /// edges. Needs an sm_90 or newer chip among `chips`.
  bool programmaticLaunch = false;
};

/// One grid dimension: `count * ceil(S / tokensPerBlock)`, or just `count`
/// when `tokensPerBlock` is 0.
struct GridDim {
  int64_t count = 1;
  int64_t tokensPerBlock = 0;
};

/// How one matmul of a kernel computes its rows (a fused kernel has one per
/// block range): the per-shape choices of the GEMV generator, recorded in
/// the manifest.
struct GemvChoice {
  int64_t rows = 0, cols = 0; ///< the weight matrix, N x K
  int64_t blocks = 0;         ///< the blocks of its range
  /// Output rows a warp computes (on tensor cores, a group of splitK warps
  /// 16 rows), and the warps that split K between them.
  int64_t rowsPerWarp = 1, splitK = 1;
  int64_t tileCols = 1;     ///< columns a lane dequantizes per row and step
  bool tensorCores = false; ///< mma.sync m16n8k16
  /// The weight codes go through shared memory by cp.async (staged), or
  /// straight into registers.
  bool staged = false;
  /// Steps of weight loads in flight: cp.async stages when staged, the
  /// register-prefetch depth otherwise (1: none).
  int64_t pipelineDepth = 1;
};

struct KernelLaunch {
  std::string kernel; ///< the L2 kernel function name
  std::string entry;  ///< the PTX .entry name
  std::array<int64_t, 3> block = {1, 1, 1};
  std::array<GridDim, 3> grid;
  int64_t sharedBytes = 0; ///< static shared memory of the entry
  /// Bytes of f32 scratch passed (as a pointer before S) to every entry of
  /// the kernel; 0 for none.
  int64_t workspaceBytes = 0;
  /// Matmul (GEMV/GEMM-on-CUDA-cores) entries: the weights one warp
  /// dequantizes per iteration of its K loop (lanes x columns per lane x
  /// rows per warp), so that the SASS report can turn the loop body's
  /// instruction count into instructions per weight; 0 for other kernels.
  int64_t weightsPerWarpIteration = 0;
  /// The weights one warp dequantizes over the whole kernel (its rows times
  /// its split-K share of K), so that the SASS report can spread the
  /// instructions outside the loop over them; 0 for other kernels.
  int64_t weightsPerWarp = 0;
  /// Matmul entries: how each of its matmuls computes its rows.
  std::vector<GemvChoice> gemvs;
};

struct CompiledCUDA {
  std::vector<KernelLaunch> kernels;
  std::map<std::string, std::string> ptx; ///< chip -> PTX text
  /// The chips whose PTX kernels use programmatic dependent launch
  /// (CUDAOptions::programmaticLaunch), sorted.
  std::vector<std::string> programmaticLaunchChips;
};

/// Builds and compiles the CUDA kernels of every `mixq.kernel` function of
/// `module` (which is not modified). Errors name the kernel and the op.
llvm::Expected<CompiledCUDA> compileKernels(ModuleOp module,
                                            const CUDAOptions &options);

/// The message of the error buildGPUModule returns after it has reported the
/// problems as diagnostics on the ops at fault.
inline constexpr const char *kGeneratorsFailedMessage =
    "generating the CUDA kernels failed (see the diagnostics above)";

/// Builds only the gpu-dialect module (no NVVM lowering); for lit tests and
/// `--emit=gpu`.
llvm::Expected<OwningOpRef<ModuleOp>>
buildGPUModule(ModuleOp module, const CUDAOptions &options,
               std::vector<KernelLaunch> &launches);

} // namespace mlir::mixq::cuda

#endif // MIXQ_CODEGEN_CUDA_CUDABACKEND_H
