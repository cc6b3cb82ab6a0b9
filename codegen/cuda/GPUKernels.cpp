//===- GPUKernels.cpp - one gpu.func per L2 kernel ------------------------===//
#include "codegen/cuda/GPUKernels.h"
#include "codegen/cuda/GeneratorContext.h"

#include "dialect/LLM/LLMOps.h"
#include "dialect/MixQ/MixQOps.h"
#include "passes/Dispatch.h"
#include "passes/LLMFormulas.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "llvm/ADT/TypeSwitch.h"

#include <limits>

using namespace mlir;
using namespace mlir::mixq;
using namespace mlir::mixq::cuda;
using namespace mlir::mixq::cuda::gen;

namespace {

//===----------------------------------------------------------------------===//
// Dispatch
//===----------------------------------------------------------------------===//

/// The compute ops of the kernel, in order.
SmallVector<Operation *> getComputeOps(func::FuncOp kernel) {
  SmallVector<Operation *> ops;
  for (Operation &op : kernel.getBody().front())
    if (isComputeOp(&op))
      ops.push_back(&op);
  return ops;
}

LogicalResult buildBody(func::FuncOp kernel, GeneratorContext &ctx) {
  SmallVector<Operation *> ops = getComputeOps(kernel);
  if (ops.empty())
    return kernel.emitError() << "CUDA codegen: kernel has no compute op";
  Operation *anchor = ops.front();
  llm::AddOp epilogue;
  if (ops.size() == 2 && isa<MatmulOp, llm::LinearOp>(anchor))
    epilogue = dyn_cast<llm::AddOp>(ops[1]);
  // Anything else with several ops is a fused decode dispatch: norm and
  // quantize_act prologues, sibling matmuls and their epilogues.
  if (ops.size() > 1 && !epilogue) {
    if (!isa<llm::RMSNormOp, QuantizeActOp, MatmulOp, llm::LinearOp>(anchor))
      return ops[1]->emitError()
             << "CUDA codegen: a kernel holds one op, a matmul and its "
                "residual add, or a fused decode GEMV";
    return buildFusedGemv(ops, ctx);
  }

  return llvm::TypeSwitch<Operation *, LogicalResult>(anchor)
      .Case<MatmulOp, llm::LinearOp, llm::LogitsOp>(
          [&](Operation *op) { return buildMatmul(op, epilogue, ctx); })
      .Case<llm::EmbedOp>([&](auto op) { return buildEmbed(op, ctx); })
      .Case<llm::RMSNormOp>([&](auto op) { return buildRMSNorm(op, ctx); })
      .Case<llm::RopeOp>([&](auto op) { return buildRope(op, ctx); })
      .Case<llm::AttentionOp>([&](auto op) { return buildAttention(op, ctx); })
      .Case<QuantizeActOp>([&](auto op) { return buildQuantizeAct(op, ctx); })
      .Case<llm::SwiGLUOp>([&](auto op) {
        return buildElementwise(op, ctx, [&](ValueRange in) {
          return buildSwiGLU(ctx.kb.b, ctx.kb.loc, in[0], in[1]);
        });
      })
      .Case<llm::AddOp>([&](auto op) {
        return buildElementwise(
            op, ctx, [&](ValueRange in) { return ctx.kb.addF(in[0], in[1]); });
      })
      .Default([&](Operation *op) {
        return op->emitError()
               << "CUDA codegen: no GPU kernel generator for this op";
      });
}

//===----------------------------------------------------------------------===//
// Argmax
//===----------------------------------------------------------------------===//

/// The better of two (logit, index) candidates: the larger logit, the lower
/// index on ties (the host sampler's greedy rule).
std::pair<Value, Value> pickBetter(KernelBuilder &kb, Value value, Value index,
                                   Value otherValue, Value otherIndex) {
  Value greater = arith::CmpFOp::create(kb.b, kb.loc, arith::CmpFPredicate::OGT,
                                        otherValue, value);
  Value equal = arith::CmpFOp::create(kb.b, kb.loc, arith::CmpFPredicate::OEQ,
                                      otherValue, value);
  Value lower = arith::CmpIOp::create(kb.b, kb.loc, arith::CmpIPredicate::slt,
                                      otherIndex, index);
  Value takeOther = arith::OrIOp::create(
      kb.b, kb.loc, greater, arith::AndIOp::create(kb.b, kb.loc, equal, lower));
  return {arith::SelectOp::create(kb.b, kb.loc, takeOther, otherValue, value),
          arith::SelectOp::create(kb.b, kb.loc, takeOther, otherIndex, index)};
}

std::pair<Value, Value> warpArgmax(KernelBuilder &kb, Value value,
                                   Value index) {
  for (int32_t offset = kWarpSize / 2; offset > 0; offset /= 2) {
    auto shuffle = [&](Value v) {
      return gpu::ShuffleOp::create(kb.b, kb.loc, v, offset, kWarpSize,
                                    gpu::ShuffleMode::XOR)
          .getShuffleResult();
    };
    std::tie(value, index) =
        pickBetter(kb, value, index, shuffle(value), shuffle(index));
  }
  return {value, index};
}
} // namespace

FailureOr<KernelLaunch>
mlir::mixq::cuda::buildArgmaxKernel(gpu::GPUModuleOp gpuModule,
                                    int64_t vocabSize) {
  constexpr int64_t kBlock = 1024;
  OpBuilder b(gpuModule.getContext());
  Location loc = gpuModule.getLoc();
  b.setInsertionPointToEnd(gpuModule.getBody());
  auto logitsType = MemRefType::get({1, vocabSize}, b.getF32Type());
  auto outType = MemRefType::get({1}, b.getI32Type());
  auto func = gpu::GPUFuncOp::create(
      b, loc, kArgmaxEntry,
      b.getFunctionType({logitsType, outType, b.getI64Type()}, {}));
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  func.setKnownBlockSizeAttr(b.getDenseI32ArrayAttr({kBlock, 1, 1}));
  Block &entry = func.getBody().front();
  b.setInsertionPointToStart(&entry);
  gpu::ReturnOp::create(b, loc);
  b.setInsertionPoint(entry.getTerminator());
  KernelBuilder kb(b, loc, func);
  Value logits = entry.getArgument(0), out = entry.getArgument(1);
  Value scratchValues = kb.sharedArray(kWarpSize);
  auto space =
      gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup);
  Value scratchIndices = func.addWorkgroupAttribution(
      MemRefType::get({kWarpSize}, b.getI32Type(), MemRefLayoutAttrInterface{},
                      space),
      loc);
  Value noIndex =
      arith::ConstantIntOp::create(b, loc, b.getI32Type(), int64_t(vocabSize));
  Value minusInf = kb.f32(-std::numeric_limits<float>::infinity());
  // 16-byte loads of consecutive logits; pickBetter's tie rule makes the
  // order a thread visits them in irrelevant.
  int64_t width = KernelBuilder::getVectorWidth({logits}, vocabSize);
  SmallVector<Value> best = kb.loop(
      kb.threadId(), kb.index(vocabSize / width), kb.index(kBlock),
      ValueRange{minusInf, noIndex}, [&](Value piece, ValueRange acc) {
        Value first = kb.mul(piece, kb.index(width));
        SmallVector<Value> values =
            kb.loadF32s(logits, {kb.index(0), first}, width);
        Value value = acc[0], at = acc[1];
        for (int64_t k = 0; k < width; ++k) {
          Value index = arith::IndexCastOp::create(b, loc, b.getI32Type(),
                                                   kb.add(first, kb.index(k)));
          std::tie(value, at) = pickBetter(kb, value, at, values[k], index);
        }
        return SmallVector<Value>{value, at};
      });
  auto [warpValue, warpIndex] = warpArgmax(kb, best[0], best[1]);
  Value tid = kb.threadId();
  Value warp = kb.divU(tid, kb.index(kWarpSize));
  Value lane = kb.remU(tid, kb.index(kWarpSize));
  kb.ifThen(kb.cmp(arith::CmpIPredicate::eq, lane, kb.index(0)), [&] {
    memref::StoreOp::create(b, loc, warpValue, scratchValues, ValueRange{warp});
    memref::StoreOp::create(b, loc, warpIndex, scratchIndices,
                            ValueRange{warp});
  });
  gpu::BarrierOp::create(b, loc);
  Value value = memref::LoadOp::create(b, loc, scratchValues, ValueRange{lane});
  Value index =
      memref::LoadOp::create(b, loc, scratchIndices, ValueRange{lane});
  auto [blockValue, blockIndex] = warpArgmax(kb, value, index);
  (void)blockValue;
  kb.ifThen(kb.cmp(arith::CmpIPredicate::eq, tid, kb.index(0)), [&] {
    memref::StoreOp::create(b, loc, blockIndex, out, ValueRange{kb.index(0)});
  });

  KernelLaunch launch;
  launch.kernel = kArgmaxEntry;
  launch.entry = kArgmaxEntry;
  launch.block = {kBlock, 1, 1};
  launch.sharedBytes = 2 * kWarpSize * 4;
  return launch;
}

FailureOr<KernelLaunch>
mlir::mixq::cuda::buildGPUKernel(func::FuncOp kernel,
                                 gpu::GPUModuleOp gpuModule,
                                 const CUDAOptions &options) {
  OpBuilder b(kernel.getContext());
  b.setInsertionPointToEnd(gpuModule.getBody());
  int64_t workspaceFloats = getAttentionSplit(kernel).workspaceFloats;
  Signature signature;
  FailureOr<gpu::GPUFuncOp> func = createGPUFunc(
      b, kernel, options, kernel.getSymName(), workspaceFloats, signature);
  if (failed(func))
    return failure();
  KernelLaunch launch;
  launch.kernel = kernel.getSymName().str();
  launch.entry = launch.kernel;
  launch.workspaceBytes = workspaceFloats * 4;
  b.setInsertionPoint(func->getBody().front().getTerminator());
  KernelBuilder kb(b, kernel.getLoc(), *func);
  ValueMap values(kernel, signature);
  GeneratorContext ctx{kb, values, signature, options, launch, kernel};
  if (failed(buildBody(kernel, ctx))) {
    func->erase();
    return failure();
  }
  finishEntry(*func, launch);
  return launch;
}
