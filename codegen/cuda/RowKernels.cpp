//===- RowKernels.cpp - embed, rms_norm, rope, swiglu, add, quantize_act --===//
#include "codegen/cuda/GeneratorContext.h"

#include "dialect/LLM/LLMOps.h"
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

/// Elementwise work over the columns of row blockIdx.x, `width` columns at
/// a time (16-byte vector accesses where the row allows), split across
/// blockIdx.y: a thread takes one piece of each block-sized stride, so a
/// decode step's single row fills several blocks (a 4096-wide row was one
/// block of 128 threads, 6% of an H200's occupancy). `body` gets the first
/// column of its piece. Each element is computed as before, so the numerics
/// do not change.
void columnLoop(KernelBuilder &kb, KernelLaunch &launch, int64_t dim,
                int64_t width, function_ref<void(Value)> body) {
  int64_t pieces = dim / width;
  int64_t blocks = std::max<int64_t>((pieces + kRowBlock - 1) / kRowBlock, 1);
  int64_t perBlock = (pieces + blocks - 1) / blocks;
  Value base = kb.mul(kb.blockId(gpu::Dimension::y), kb.index(perBlock));
  Value end = kb.minU(kb.add(base, kb.index(perBlock)), kb.index(pieces));
  kb.loop(kb.add(base, kb.threadId()), end, kb.index(kRowBlock),
          [&](Value piece) { body(kb.mul(piece, kb.index(width))); });
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
        /*constant=*/true, /*alignment=*/b.getI64IntegerAttr(16));
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
  int64_t width = KernelBuilder::getVectorWidth({table, *out}, dim);
  Value row = kb.blockId(gpu::Dimension::x);
  Value id = memref::LoadOp::create(kb.b, kb.loc, tokens, ValueRange{row});
  Value tableRow =
      arith::IndexCastOp::create(kb.b, kb.loc, kb.b.getIndexType(), id);
  // The row copied bit for bit, a 16-byte piece at a time.
  Type element = cast<MemRefType>(table.getType()).getElementType();
  auto pieceType = VectorType::get({width}, element);
  llvm::Align alignment(width * element.getIntOrFloatBitWidth() / 8);
  columnLoop(kb, ctx.launch, dim, width, [&](Value d) {
    Value piece = vector::LoadOp::create(kb.b, kb.loc, pieceType, table,
                                         ValueRange{tableRow, d},
                                         /*nontemporal=*/false, alignment);
    vector::StoreOp::create(kb.b, kb.loc, piece, *out, ValueRange{row, d},
                            /*nontemporal=*/false, alignment);
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
  int64_t width = KernelBuilder::getVectorWidth({input, weight, *out}, dim);
  Value pieces = kb.index(dim / width);
  Value scratch = kb.sharedArray(kWarpSize);
  Value row = kb.blockId(gpu::Dimension::x);
  Value partial =
      kb.blockLoop(pieces, kNormBlock, kb.f32(0.0f), [&](Value p, Value acc) {
        Value d = kb.mul(p, kb.index(width));
        for (Value x : kb.loadF32s(input, {row, d}, width))
          acc = kb.addF(acc, kb.mulF(x, x));
        return acc;
      });
  Value sum = kb.blockReduce(Reduction::Sum, partial, scratch, kNormBlock);
  Value r =
      buildRMSNormScale(kb.b, kb.loc, sum, dim, op.getEps().convertToFloat());
  kb.blockLoop(pieces, kNormBlock, [&](Value p) {
    Value d = kb.mul(p, kb.index(width));
    SmallVector<Value> xs = kb.loadF32s(input, {row, d}, width);
    SmallVector<Value> ws = kb.loadF32s(weight, {d}, width);
    SmallVector<Value> normalized;
    for (auto [x, w] : llvm::zip(xs, ws))
      normalized.push_back(kb.mulF(kb.mulF(x, r), w));
    kb.storeF32s(normalized, *out, {row, d});
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
  SmallVector<Value> operands = {*out};
  for (Value operand : op->getOperands())
    operands.push_back(ctx.values.lookup(operand));
  int64_t width = KernelBuilder::getVectorWidth(operands, dim);
  Value row = kb.blockId(gpu::Dimension::x);
  columnLoop(kb, ctx.launch, dim, width, [&](Value d) {
    SmallVector<SmallVector<Value>> inputs;
    for (Value operand : ArrayRef(operands).drop_front())
      inputs.push_back(kb.loadF32s(operand, {row, d}, width));
    SmallVector<Value> results;
    for (int64_t j = 0; j < width; ++j) {
      SmallVector<Value> element;
      for (const SmallVector<Value> &input : inputs)
        element.push_back(input[j]);
      results.push_back(computeF32(element));
    }
    kb.storeF32s(results, *out, {row, d});
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
  // A piece holds whole pairs (interleaved) or lies in one half of its
  // head (rotate-half), so its partners are one vector too.
  int64_t width = KernelBuilder::getVectorWidth({input, *out}, dim);
  while (width > 1 && (interleaved ? headDim % width != 0 || width % 2 != 0
                                   : half % width != 0))
    width /= 2;
  if (interleaved && width == 1)
    width = 2; // head_dim is even, so is D
  auto rotate = [&](Value self, Value other, Value freq, Value isFirst) {
    Value angle = kb.mulF(*positionF32, freq);
    Value cos = math::CosOp::create(b, loc, angle);
    Value sin = math::SinOp::create(b, loc, angle);
    return buildRopeElement(b, loc, self, other, cos, sin, isFirst);
  };
  Value isTrue = arith::ConstantIntOp::create(b, loc, b.getI1Type(), 1);
  Value isFalse = arith::ConstantIntOp::create(b, loc, b.getI1Type(), 0);
  columnLoop(kb, ctx.launch, dim, width, [&](Value col) {
    Value j = kb.remU(col, kb.index(headDim));
    SmallVector<Value> self = kb.loadF32s(input, {row, col}, width);
    SmallVector<Value> results;
    if (interleaved) {
      // Element 2p and 2p + 1 of the piece are pair j/2 + p.
      SmallVector<Value> freqs = kb.loadF32s(
          table, {arith::ShRUIOp::create(b, loc, j, kb.index(1))}, width / 2);
      for (int64_t k = 0; k < width; ++k)
        results.push_back(rotate(self[k], self[k ^ 1], freqs[k / 2],
                                 k % 2 == 0 ? isTrue : isFalse));
    } else {
      Value halfValue = kb.index(half);
      Value isFirst = kb.cmp(arith::CmpIPredicate::ult, j, halfValue);
      Value pair =
          arith::SelectOp::create(b, loc, isFirst, j, kb.sub(j, halfValue));
      Value partner = arith::SelectOp::create(
          b, loc, isFirst, kb.add(col, halfValue), kb.sub(col, halfValue));
      SmallVector<Value> other = kb.loadF32s(input, {row, partner}, width);
      SmallVector<Value> freqs = kb.loadF32s(table, {pair}, width);
      for (int64_t k = 0; k < width; ++k)
        results.push_back(rotate(self[k], other[k], freqs[k], isFirst));
    }
    kb.storeF32s(results, *out, {row, col});
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
  QuantSchemeAttrInterface scheme = weightType.getScheme();
  Value input = ctx.values.lookup(op.getInput());
  ComponentReader reader(ctx.values.lookupAll(op.getWeight()));
  int64_t dim = op.getInput().getType().getDimSize(1);
  Value row = kb.blockId(gpu::Dimension::x);
  Value scratch = kb.sharedArray(kWarpSize);
  int64_t width = KernelBuilder::getVectorWidth({input, *out}, dim);
  Value pieces = kb.index(dim / width);
  // x in 16-byte pieces; the outlier test stays per column.
  auto columnOf = [&](Value first, int64_t k) {
    return kb.add(first, kb.index(k));
  };
  // lo = min(0, min x), hi = max(0, max x) over the quantized columns, in
  // one pass.
  SmallVector<Value> partial = kb.loop(
      kb.threadId(), pieces, kb.index(kRowBlock),
      ValueRange{kb.f32(0.0f), kb.f32(0.0f)}, [&](Value p, ValueRange acc) {
        Value first = kb.mul(p, kb.index(width));
        SmallVector<Value> xs = kb.loadF32s(input, {row, first}, width);
        Value lo = acc[0], hi = acc[1];
        for (int64_t k = 0; k < width; ++k) {
          Value passThrough = scheme.buildIsPassthroughColumn(
              kb.b, kb.loc, reader, columnOf(first, k));
          Value x = arith::SelectOp::create(kb.b, kb.loc, passThrough,
                                            kb.f32(0.0f), xs[k]);
          lo = kb.combine(Reduction::MinNum, lo, x);
          hi = kb.combine(Reduction::MaxNum, hi, x);
        }
        return SmallVector<Value>{lo, hi};
      });
  Value lo = kb.blockReduce(Reduction::MinNum, partial[0], scratch, kRowBlock);
  Value hi = kb.blockReduce(Reduction::MaxNum, partial[1], scratch, kRowBlock);
  kb.blockLoop(pieces, kRowBlock, [&](Value p) {
    Value first = kb.mul(p, kb.index(width));
    SmallVector<Value> xs = kb.loadF32s(input, {row, first}, width);
    SmallVector<Value> codes;
    for (int64_t k = 0; k < width; ++k)
      codes.push_back(scheme.buildQuantizeActivation(kb.b, kb.loc, reader,
                                                     columnOf(first, k), xs[k],
                                                     lo, hi, op.getBits()));
    kb.storeF32s(codes, *out, {row, first});
  });
  setRowLaunch(ctx.launch, kRowBlock);
  return success();
}
} // namespace mlir::mixq::cuda::gen
