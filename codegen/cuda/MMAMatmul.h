//===- MMAMatmul.h - tensor-core prefill matmul -----------------*- C++ -*-===//
//
// The prefill (M >= 16) matmul generator: `y = x . W^T` on tensor cores with
// `nvgpu.mma.sync` m16n8k16, the weight tile dequantized into shared memory by
// the scheme's buildDequantTile (QuantSchemeAttrInterface), x tiles copied
// global->shared so that --mixq-pipeline-async-copies can pipeline them.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_CODEGEN_CUDA_MMAMATMUL_H
#define MIXQ_CODEGEN_CUDA_MMAMATMUL_H

#include "codegen/cuda/CUDABackend.h"
#include "dialect/MixQ/MixQInterfaces.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/Builders.h"

#include <optional>

namespace mlir::mixq::cuda {

/// The operands of one matmul kernel, as memrefs of the gpu.func.
struct MatmulOperands {
  /// x: memref<maxTokens x K x T>; rows [0, tokens) are valid.
  Value input;
  /// The weight: a qtensor's component memrefs (scheme non-null), or one
  /// plain memref<N x K x T> (scheme null).
  QuantSchemeAttrInterface scheme;
  SmallVector<Value> components;
  int64_t rows = 0, cols = 0; ///< N, K
  /// The type the weight dequantizes to (= T of x and of the output).
  FloatType elementType;
  /// memref<maxTokens x N x T> added after rounding the product to T, or
  /// null.
  Value residual;
  /// memref<maxTokens x N x T>.
  Value output;
  /// The call's token count S (index).
  Value tokens;
  /// The depth --mixq-pipeline-async-copies will multi-buffer the copied
  /// shared tiles with (CUDAOptions::pipelineStages): the tile sizes are
  /// chosen so that all stages fit in static shared memory.
  int64_t pipelineStages = 3;
  /// CUDAOptions::tensorCoreGemv.
  bool tensorCoreGemv = true;
  /// CUDAOptions::stageGemvWeights.
  bool stageWeights = true;
  /// CUDAOptions::gemvTileFactors.
  bool tileFactors = false;
  /// CUDAOptions::biasedGemvTiles.
  bool biasedTiles = true;
  /// CUDAOptions::shareGemvCopies.
  bool shareCopies = false;
};

/// The per-lane layouts of one mma.sync m16n8k16 step, from upstream
/// MMAUtils (the maps the vector.contract -> nvgpu.mma.sync lowering uses).
struct FragmentLayout {
  /// (lane, value id) -> (row, col) of A [m x k], B [n x k], C [m x n]; value
  /// id v is element [v / 2, v % 2] of the fragment vector.
  AffineMap a, b, c;
  /// lane -> (row, col) of the row address lane supplies to ldmatrix.
  AffineMap ldA, ldB;
  int64_t ldTilesA = 0, ldTilesB = 0;
  VectorType typeA, typeB, typeC; ///< vector<4x2xT>, <2x2xT>, <2x2xf32>
};

/// The fragment layouts for f16 or bf16 operands, checked against the PTX
/// definition of ldmatrix; failure (with a diagnostic) for other types.
FailureOr<FragmentLayout> getMmaFragmentLayout(OpBuilder &b, Location loc,
                                               FloatType elementType);

/// `map`'s results at (lane, `valueId`) as index arithmetic on `lane`.
SmallVector<Value> expandMmaMap(OpBuilder &b, Location loc, AffineMap map,
                                Value lane,
                                std::optional<int64_t> valueId = {});

/// acc + a * b^T on one m16n8k16 tile with f32 accumulators (f16 through
/// nvgpu.mma.sync, bf16 as nvvm.mma.sync).
Value buildMmaSync(OpBuilder &b, Location loc, const FragmentLayout &layout,
                   FloatType elementType, Value a, Value bFrag, Value acc);

/// True when the tensor-core kernel handles these operands: T is f16 or
/// bf16 (x and a plain weight too), K is a multiple of 16 (the MMA's k),
/// x has at least 16 rows and the tiles fit in 48 KiB of shared memory at
/// `pipelineStages`. Any N is handled (edge tiles are masked).
bool canUseMMAMatmul(const MatmulOperands &operands);

/// Builds the body of `func` (at the builder's insertion point, before its
/// gpu.return) and sets `launch`'s block, grid (grid.y over tokens) and
/// nothing else. Returns failure with a diagnostic when it cannot.
///
/// Block tile BM x 64 (BM = 64, 32 or 16 tokens as maxTokens allows) of 4
/// warps; per BK-column step (BK = 32 or 16) the x tile is copied to a
/// shared `memref.alloc` by 4..16-byte vector copies (pipelined into
/// cp.async by --mixq-pipeline-async-copies, which also turns the alloc
/// into a workgroup attribution), the weight tile is dequantized into a
/// shared workgroup attribution (a plain weight is copied like x), and each
/// warp multiplies its fragments (nvgpu.ldmatrix) with nvgpu.mma.sync
/// m16n8k16 into f32 accumulators.
LogicalResult buildMMAMatmul(OpBuilder &b, Location loc, gpu::GPUFuncOp func,
                             const MatmulOperands &operands,
                             KernelLaunch &launch);

} // namespace mlir::mixq::cuda

#endif // MIXQ_CODEGEN_CUDA_MMAMATMUL_H
