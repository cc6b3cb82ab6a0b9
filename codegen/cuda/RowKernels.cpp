//===- RowKernels.cpp - embed, rms_norm, rope, swiglu, add, quantize_act --===//
#include "codegen/cuda/GeneratorContext.h"

#include "dialect/LLM/LLMOps.h"
#include "dialect/MixQ/MixQAttrs.h"
#include "dialect/MixQ/MixQOps.h"
#include "dialect/MixQ/MixQTypes.h"
#include "dialect/MixQ/SchemeUtils.h"
#include "passes/Dispatch.h"
#include "passes/LLMFormulas.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::mixq;
using namespace mlir::mixq::cuda;

namespace mlir::mixq::cuda::gen {
namespace {

/// rms_norm's block: its row is one reduction, so one block per token; 1024
/// threads keep a 4096-wide row's loads in flight at once (128 threads took
/// 17.7 us on the H200, no warp eligible 98% of cycles).
constexpr int64_t kNormBlock = 1024;

/// Columns each thread of a column-split row kernel takes (a block of
/// kRowBlock threads covers kRowBlock * kColumnsPerThread columns).
constexpr int64_t kColumnsPerThread = 4;

/// Blocks along y that split a row of `dim` columns.
int64_t columnBlocks(int64_t dim) {
  int64_t perBlock = kRowBlock * kColumnsPerThread;
  return std::max<int64_t>((dim + perBlock - 1) / perBlock, 1);
}

/// Elementwise work over the columns of row blockIdx.x, split across
/// blockIdx.y: a decode step's single row then fills columnBlocks(dim)
/// blocks instead of one (a 4096-wide row was one block of 128 threads,
/// 6% of an H200's occupancy). Each element is computed as before, so the
/// numerics do not change.
void columnLoop(KernelBuilder &kb, KernelLaunch &launch, int64_t dim,
                function_ref<void(Value)> body) {
  int64_t blocks = columnBlocks(dim);
  int64_t perBlock = (dim + blocks - 1) / blocks;
  Value base = kb.mul(kb.blockId(gpu::Dimension::y), kb.index(perBlock));
  Value end = kb.minU(kb.add(base, kb.index(perBlock)), kb.index(dim));
  kb.loop(kb.add(base, kb.threadId()), end, kb.index(kRowBlock), body);
  setRowLaunch(launch, kRowBlock);
  launch.grid[1] = GridDim{blocks, 0};
}

} // namespace

/// The position of token `row`: the kernel's positions are either an
/// argument or rematerialized from start_pos by a `tensor.generate`
/// (--mixq-form-dispatches), whose body is cloned here with its index bound
/// to the row.
FailureOr<Value> buildRopePosition(llm::RopeOp op, GeneratorContext &ctx,
                                   Value row) {
  KernelBuilder &kb = ctx.kb;
  Value positions = op.getPositions();
  if (Value memref = ctx.values.lookup(positions)) {
    Value id = memref::LoadOp::create(kb.b, kb.loc, memref, ValueRange{row});
    return arith::IndexCastOp::create(kb.b, kb.loc, kb.b.getIndexType(), id)
        .getResult();
  }
  auto generate = positions.getDefiningOp<tensor::GenerateOp>();
  if (!generate)
    return op.emitError() << "CUDA codegen: rope positions must be a kernel "
                             "argument or a tensor.generate";
  IRMapping mapping;
  Block &body = generate.getBody().front();
  mapping.map(body.getArgument(0), row);
  for (Operation &inner : body.without_terminator()) {
    for (Value operand : inner.getOperands()) {
      if (mapping.contains(operand) || operand.getParentBlock() == &body)
        continue;
      Value mapped = ctx.values.lookup(operand);
      if (!mapped)
        return op.emitError() << "CUDA codegen: the rope positions use a "
                                 "value the kernel does not pass";
      mapping.map(operand, mapped);
    }
    kb.b.clone(inner, mapping);
  }
  Value id = mapping.lookup(body.getTerminator()->getOperand(0));
  return arith::IndexCastOp::create(kb.b, kb.loc, kb.b.getIndexType(), id)
      .getResult();
}

FailureOr<Value> buildRopePositionF32(llm::RopeOp op, GeneratorContext &ctx,
                                      Value row) {
  FailureOr<Value> position = buildRopePosition(op, ctx, row);
  if (failed(position))
    return failure();
  OpBuilder &b = ctx.kb.b;
  Location loc = ctx.kb.loc;
  return arith::SIToFPOp::create(
             b, loc, b.getF32Type(),
             arith::IndexCastOp::create(b, loc, b.getI32Type(), *position))
      .getResult();
}

Value buildRopeFrequencyTable(KernelBuilder &kb, llm::RopeOp op,
                              StringRef suffix) {
  OpBuilder &b = kb.b;
  Location loc = kb.loc;
  SmallVector<float> freqs = computeRopeFrequencies(op);
  auto tableType = MemRefType::get({int64_t(freqs.size())}, b.getF32Type());
  std::string tableName = (kb.func.getName() + suffix).str();
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(kb.func);
    memref::GlobalOp::create(
        b, loc, tableName, b.getStringAttr("private"), tableType,
        DenseElementsAttr::get(
            RankedTensorType::get({int64_t(freqs.size())}, b.getF32Type()),
            ArrayRef(freqs)),
        /*constant=*/true, /*alignment=*/nullptr);
  }
  return memref::GetGlobalOp::create(b, loc, tableType, tableName);
}

//===----------------------------------------------------------------------===//
// Row kernels
//===----------------------------------------------------------------------===//

LogicalResult buildEmbed(llm::EmbedOp op, GeneratorContext &ctx) {
  KernelBuilder &kb = ctx.kb;
  FailureOr<Value> out = getOutput(
      op, ctx.values, {op.getTable(), op.getTokens()}, op.getResult());
  if (failed(out))
    return failure();
  Value table = ctx.values.lookup(op.getTable());
  Value tokens = ctx.values.lookup(op.getTokens());
  int64_t dim = op.getTable().getType().getDimSize(1);
  Value row = kb.blockId(gpu::Dimension::x);
  Value id = memref::LoadOp::create(kb.b, kb.loc, tokens, ValueRange{row});
  Value tableRow =
      arith::IndexCastOp::create(kb.b, kb.loc, kb.b.getIndexType(), id);
  columnLoop(kb, ctx.launch, dim, [&](Value d) {
    Value value =
        memref::LoadOp::create(kb.b, kb.loc, table, ValueRange{tableRow, d});
    memref::StoreOp::create(kb.b, kb.loc, value, *out, ValueRange{row, d});
  });
  return success();
}

LogicalResult buildRMSNorm(llm::RMSNormOp op, GeneratorContext &ctx) {
  KernelBuilder &kb = ctx.kb;
  FailureOr<Value> out = getOutput(
      op, ctx.values, {op.getInput(), op.getWeight()}, op.getResult());
  if (failed(out))
    return failure();
  Value input = ctx.values.lookup(op.getInput());
  Value weight = ctx.values.lookup(op.getWeight());
  int64_t dim = op.getInput().getType().getDimSize(1);
  Value scratch = kb.sharedArray(kWarpSize);
  Value row = kb.blockId(gpu::Dimension::x);
  Value partial = kb.blockLoop(kb.index(dim), kNormBlock, kb.f32(0.0f),
                               [&](Value d, Value acc) {
                                 Value x = kb.loadF32(input, {row, d});
                                 return kb.addF(acc, kb.mulF(x, x));
                               });
  Value sum = kb.blockReduce(Reduction::Sum, partial, scratch, kNormBlock);
  // r = 1 / sqrt(sum / D + eps), as the reference lowering computes it.
  Value mean = arith::DivFOp::create(kb.b, kb.loc, sum, kb.f32(float(dim)));
  Value shifted = kb.addF(mean, kb.f32(op.getEps().convertToFloat()));
  Value root = math::SqrtOp::create(kb.b, kb.loc, shifted);
  Value r = arith::DivFOp::create(kb.b, kb.loc, kb.f32(1.0f), root);
  kb.blockLoop(kb.index(dim), kNormBlock, [&](Value d) {
    Value x = kb.loadF32(input, {row, d});
    Value w = kb.loadF32(weight, {d});
    kb.storeF32(kb.mulF(kb.mulF(x, r), w), *out, {row, d});
  });
  setRowLaunch(ctx.launch, kNormBlock);
  return success();
}

/// An elementwise op over [S, D] operands: rows along x, columns split
/// along y.
LogicalResult buildElementwise(Operation *op, GeneratorContext &ctx,
                               function_ref<Value(ValueRange)> computeF32) {
  KernelBuilder &kb = ctx.kb;
  FailureOr<Value> out =
      getOutput(op, ctx.values, op->getOperands(), op->getResult(0));
  if (failed(out))
    return failure();
  int64_t dim =
      cast<RankedTensorType>(op->getResult(0).getType()).getDimSize(1);
  Value row = kb.blockId(gpu::Dimension::x);
  columnLoop(kb, ctx.launch, dim, [&](Value d) {
    SmallVector<Value> inputs;
    for (Value operand : op->getOperands())
      inputs.push_back(kb.loadF32(ctx.values.lookup(operand), {row, d}));
    kb.storeF32(computeF32(inputs), *out, {row, d});
  });
  return success();
}

LogicalResult buildRope(llm::RopeOp op, GeneratorContext &ctx) {
  KernelBuilder &kb = ctx.kb;
  OpBuilder &b = kb.b;
  Location loc = kb.loc;
  FailureOr<Value> out =
      getOutput(op, ctx.values, {op.getInput()}, op.getResult());
  if (failed(out))
    return failure();
  Value input = ctx.values.lookup(op.getInput());
  int64_t dim = op.getInput().getType().getDimSize(1);
  int64_t headDim = op.getHeadDim(), half = headDim / 2;
  bool interleaved = op.getLayout() == llm::RopeLayout::Interleaved;

  Value table = buildRopeFrequencyTable(kb, op, "_freqs");
  Value row = kb.blockId(gpu::Dimension::x);
  FailureOr<Value> positionF32 = buildRopePositionF32(op, ctx, row);
  if (failed(positionF32))
    return failure();
  columnLoop(kb, ctx.launch, dim, [&](Value col) {
    Value j = kb.remU(col, kb.index(headDim));
    Value isFirst, pair, partner;
    if (interleaved) {
      Value one = kb.index(1);
      Value parity = arith::AndIOp::create(b, loc, col, one);
      isFirst = kb.cmp(arith::CmpIPredicate::eq, parity, kb.index(0));
      pair = arith::ShRUIOp::create(b, loc, j, one);
      partner = arith::XOrIOp::create(b, loc, col, one);
    } else {
      Value halfValue = kb.index(half);
      isFirst = kb.cmp(arith::CmpIPredicate::ult, j, halfValue);
      pair = arith::SelectOp::create(b, loc, isFirst, j, kb.sub(j, halfValue));
      partner = arith::SelectOp::create(b, loc, isFirst, kb.add(col, halfValue),
                                        kb.sub(col, halfValue));
    }
    Value freq = memref::LoadOp::create(b, loc, table, ValueRange{pair});
    Value angle = kb.mulF(*positionF32, freq);
    Value cos = math::CosOp::create(b, loc, angle);
    Value sin = math::SinOp::create(b, loc, angle);
    Value self = kb.loadF32(input, {row, col});
    Value other = kb.loadF32(input, {row, partner});
    Value signedSin = arith::SelectOp::create(
        b, loc, isFirst, arith::NegFOp::create(b, loc, sin), sin);
    kb.storeF32(kb.addF(kb.mulF(self, cos), kb.mulF(other, signedSin)), *out,
                {row, col});
  });
  return success();
}

LogicalResult buildQuantizeAct(QuantizeActOp op, GeneratorContext &ctx) {
  KernelBuilder &kb = ctx.kb;
  FailureOr<Value> out = getOutput(
      op, ctx.values, {op.getInput(), op.getWeight()}, op.getResult());
  if (failed(out))
    return failure();
  auto weightType = cast<QTensorType>(op.getWeight().getType());
  auto scheme = dyn_cast<OutlierColsSchemeAttr>(weightType.getScheme());
  if (!scheme)
    return op.emitError() << "CUDA codegen: quantize_act needs an "
                             "#mixq.outlier_cols weight";
  Value input = ctx.values.lookup(op.getInput());
  ComponentReader reader(ctx.values.lookupAll(op.getWeight()));
  int64_t dim = op.getInput().getType().getDimSize(1);
  Value row = kb.blockId(gpu::Dimension::x);
  Value scratch = kb.sharedArray(kWarpSize);
  auto valueOf = [&](Value col) {
    Value isOutlier = scheme.buildIsOutlierColumn(kb.b, kb.loc, reader, col);
    return arith::SelectOp::create(kb.b, kb.loc, isOutlier, kb.f32(0.0f),
                                   kb.loadF32(input, {row, col}))
        .getResult();
  };
  // lo = min(0, min x), hi = max(0, max x) over the quantized columns.
  Value partialLo = kb.blockLoop(
      kb.index(dim), kRowBlock, kb.f32(0.0f), [&](Value col, Value acc) {
        return kb.combine(Reduction::MinNum, acc, valueOf(col));
      });
  Value lo = kb.blockReduce(Reduction::MinNum, partialLo, scratch, kRowBlock);
  Value partialHi = kb.blockLoop(
      kb.index(dim), kRowBlock, kb.f32(0.0f), [&](Value col, Value acc) {
        return kb.combine(Reduction::MaxNum, acc, valueOf(col));
      });
  Value hi = kb.blockReduce(Reduction::MaxNum, partialHi, scratch, kRowBlock);
  kb.blockLoop(kb.index(dim), kRowBlock, [&](Value col) {
    Value value = kb.loadF32(input, {row, col});
    kb.storeF32(buildQuantizeActElement(kb.b, kb.loc, scheme, reader, col,
                                        value, lo, hi, op.getBits()),
                *out, {row, col});
  });
  setRowLaunch(ctx.launch, kRowBlock);
  return success();
}
} // namespace mlir::mixq::cuda::gen
