//===- GPUKernels.h - one gpu.func per L2 kernel ----------------*- C++ -*-===//
//
// The kernel generators of codegen/cuda. Each L2 kernel (a `mixq.kernel`
// func.func on tensors holding one dispatch) is matched by its anchor op and
// rebuilt as a `gpu.func` over memrefs:
//
//   matmul    mixq.matmul / llm.linear / llm.logits (+ a residual llm.add):
//             a fused dequant-GEMV, one warp per output row, the weight
//             dequantized in registers by the scheme's buildDequantTile,
//             x in 16-byte vector loads, fp32 accumulation, a warp-shuffle
//             reduction; the packed codes of the scheme's column-tiled
//             component are staged through shared memory for
//             --mixq-pipeline-async-copies (MatmulKernels.cpp; prefill on
//             the tensor cores in MMAMatmul.cpp).
//   row ops   embed, rope, swiglu, add: tokens along grid x, each row's
//             columns split over grid y; rms_norm, quantize_act: one block
//             per token row, shared-memory block reductions (RowKernels.cpp).
//   attention one block per (query head, token): scores in shared memory,
//             GQA, causal, new K/V read from the inputs and written to the
//             caches by the first query head of each KV group; long decode
//             caches split along the keys (AttentionKernels.cpp).
//
// Arguments follow the CUDA kernel ABI of CUDABackend.h: statically shaped
// memrefs (S-sized dims at the bound CUDAOptions::maxTokens) passed as bare
// pointers, `start_pos` as i64, and a trailing i64 token count.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_CODEGEN_CUDA_GPUKERNELS_H
#define MIXQ_CODEGEN_CUDA_GPUKERNELS_H

#include "codegen/cuda/CUDABackend.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"

namespace mlir::mixq::cuda {

/// Builds the gpu.func of L2 kernel `kernel` at the end of `gpuModule` and
/// returns its launch. Fails with a diagnostic on the kernel's anchor op
/// when it has no CUDA generator.
FailureOr<KernelLaunch> buildGPUKernel(func::FuncOp kernel,
                                       gpu::GPUModuleOp gpuModule,
                                       const CUDAOptions &options);

/// The PTX entry of the greedy-sampling kernel.
inline constexpr const char *kArgmaxEntry = "mixq_argmax";

/// Builds `mixq_argmax(logits: [1 x V] f32, out: [1] i32, S: i64)`: one
/// block of 1024 threads writes the index of the largest logit (the lowest
/// index on ties; NaNs are never picked), so that greedy decoding copies 4
/// bytes back instead of the logits.
FailureOr<KernelLaunch> buildArgmaxKernel(gpu::GPUModuleOp gpuModule,
                                          int64_t vocabSize);

} // namespace mlir::mixq::cuda

#endif // MIXQ_CODEGEN_CUDA_GPUKERNELS_H
