//===- GeneratorContext.h - shared by the CUDA generators -------*- C++ -*-===//
//
// The pieces every generator of codegen/cuda uses (the kernel signature, the
// value map, the context a generator receives, launch bookkeeping) and the
// generators' entry points, one file per kind: RowKernels.cpp (embed,
// rms_norm, rope, swiglu, add, quantize_act), AttentionKernels.cpp,
// MatmulKernels.cpp (the decode GEMV; prefill goes to MMAMatmul.cpp where the
// tensor cores apply); GPUKernels.cpp dispatches an L2 kernel to them.
// Internal to codegen/cuda.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_CODEGEN_CUDA_GENERATORCONTEXT_H
#define MIXQ_CODEGEN_CUDA_GENERATORCONTEXT_H

#include "codegen/cuda/CUDABackend.h"
#include "codegen/cuda/KernelBuilder.h"
#include "dialect/LLM/LLMOps.h"
#include "dialect/MixQ/MixQOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"

namespace mlir::mixq::cuda::gen {

/// Threads of the row and attention kernels.
constexpr int64_t kRowBlock = 128;
/// The static shared memory every chip from sm_80 on gives without opt-in.
constexpr int64_t kMaxStaticShared = 48 * 1024;

/// The kernel's values in the gpu.func: per L2 argument its memref (or
/// component memrefs of a qtensor, or the i64->index of `start_pos`), per L2
/// result its output memref, and the call's token count.
struct Signature {
  SmallVector<SmallVector<Value, 1>> args;
  SmallVector<Value> results;
  Value workspace; ///< memref<W x f32>, when the kernel has a workspace
  Value tokens;
};

/// Creates the gpu.func of `kernel` with the CUDA kernel ABI and maps its
/// arguments. Fails on argument types the ABI has no form for.
FailureOr<gpu::GPUFuncOp> createGPUFunc(OpBuilder &b, func::FuncOp kernel,
                                        const CUDAOptions &options,
                                        StringRef name, int64_t workspaceFloats,
                                        Signature &signature);

/// Resolves L2 values to the gpu.func's memrefs: kernel arguments, and the
/// values the kernel returns (their output buffers).
class ValueMap {
public:
  ValueMap(func::FuncOp kernel, const Signature &signature)
      : kernel(kernel), signature(signature) {}

  /// The memref (or first component) of an L2 value, or null.
  Value lookup(Value value) const {
    ArrayRef<Value> values = lookupAll(value);
    return values.empty() ? Value() : values.front();
  }
  ArrayRef<Value> lookupAll(Value value) const {
    if (auto arg = dyn_cast<BlockArgument>(value))
      if (arg.getOwner()->getParentOp() == kernel.getOperation())
        return signature.args[arg.getArgNumber()];
    auto ret = cast<func::ReturnOp>(kernel.getBody().front().getTerminator());
    for (OpOperand &operand : ret->getOpOperands())
      if (operand.get() == value)
        return signature.results[operand.getOperandNumber()];
    return {};
  }

private:
  mutable func::FuncOp kernel; // Op accessors are not const
  const Signature &signature;
};
/// What every generator receives.
struct GeneratorContext {
  KernelBuilder &kb;
  const ValueMap &values;
  const Signature &signature;
  const CUDAOptions &options;
  KernelLaunch &launch;
  /// The L2 kernel being generated.
  func::FuncOp kernel;
};
/// Fails with a diagnostic when an operand of `op` is no kernel value (it is
/// computed inside the kernel by an op the generators do not fuse).
LogicalResult requireValues(Operation *op, const ValueMap &values,
                            ValueRange operands);

/// The kernel output an op's result is stored to.
FailureOr<Value> getOutput(Operation *op, const ValueMap &values, Value result);
/// The same, after requireValues(op, values, operands): what a row
/// kernel's generator checks first.
FailureOr<Value> getOutput(Operation *op, const ValueMap &values,
                           ValueRange operands, Value result);

/// One block of `blockSize` threads per token (grid x).
void setRowLaunch(KernelLaunch &launch, int64_t blockSize);

/// Records the launch on the gpu.func (known_block_size, mixq.grid) and its
/// static shared memory before pipelining.
void finishEntry(gpu::GPUFuncOp func, KernelLaunch &launch);

// Row kernels (RowKernels.cpp).
LogicalResult buildEmbed(llm::EmbedOp op, GeneratorContext &ctx);
LogicalResult buildRMSNorm(llm::RMSNormOp op, GeneratorContext &ctx);
/// An elementwise op over [S, D] operands, `computeF32` on the f32 inputs.
LogicalResult buildElementwise(Operation *op, GeneratorContext &ctx,
                               function_ref<Value(ValueRange)> computeF32);
LogicalResult buildRope(llm::RopeOp op, GeneratorContext &ctx);
/// The position of token `row` of a rope: its positions argument, or the
/// `tensor.generate` that --mixq-form-dispatches rematerialized, cloned with
/// its index bound to the row.
FailureOr<Value> buildRopePosition(llm::RopeOp op, GeneratorContext &ctx,
                                   Value row);
/// The same as f32 (the angle's factor).
FailureOr<Value> buildRopePositionF32(llm::RopeOp op, GeneratorContext &ctx,
                                      Value row);
/// The rope's frequencies freq_i (i < head_dim / 2) as a constant global of
/// the gpu.module named after the kernel plus `suffix` (unique per rope of
/// the kernel), 16-byte aligned for vector loads.
Value buildRopeFrequencyTable(KernelBuilder &kb, llm::RopeOp op,
                              StringRef suffix);
LogicalResult buildQuantizeAct(QuantizeActOp op, GeneratorContext &ctx);

// Attention (AttentionKernels.cpp).
/// How an attention kernel is split, decided before its entries are built
/// (the split form has a workspace argument).
struct AttentionSplit {
  int64_t splits = 0; ///< 0: the single-pass kernel
  int64_t workspaceFloats = 0;
};
/// The split of the kernel's attention (no split when it has none).
AttentionSplit getAttentionSplit(func::FuncOp kernel);
LogicalResult buildAttention(llm::AttentionOp op, GeneratorContext &ctx);

// Matmuls (MatmulKernels.cpp): mixq.matmul, llm.linear or llm.logits, with
// the residual llm.add `epilogue` fused when the dispatch has one.
LogicalResult buildMatmul(Operation *anchor, llm::AddOp epilogue,
                          GeneratorContext &ctx);
/// A fused decode dispatch (--mixq-form-dispatches fuse-decode): an
/// optional rms_norm prologue, matmuls sharing one input, and residual add,
/// rope and SwiGLU epilogues, as one GEMV kernel whose block ranges are the
/// matmuls.
LogicalResult buildFusedGemv(ArrayRef<Operation *> group,
                             GeneratorContext &ctx);

} // namespace mlir::mixq::cuda::gen

#endif // MIXQ_CODEGEN_CUDA_GENERATORCONTEXT_H
