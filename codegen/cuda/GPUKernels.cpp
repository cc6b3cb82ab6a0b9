//===- GPUKernels.cpp - one gpu.func per L2 kernel ------------------------===//
#include "codegen/cuda/GPUKernels.h"
#include "codegen/cuda/KernelBuilder.h"
#include "codegen/cuda/MMAMatmul.h"

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

#include <limits>

using namespace mlir;
using namespace mlir::mixq;
using namespace mlir::mixq::cuda;

namespace {

/// Threads of the row and attention kernels.
constexpr int64_t kRowBlock = 128;
/// rms_norm's block: its row is one reduction, so one block per token; 1024
/// threads keep a 4096-wide row's loads in flight at once (128 threads took
/// 17.7 us on the H200, no warp eligible 98% of cycles).
constexpr int64_t kNormBlock = 1024;
/// Warps (= output rows) per block of the matmul kernel.
constexpr int64_t kMatmulWarps = 4;
/// Tokens one matmul block computes: every dequantized weight is used for
/// this many rows of x (decode has 1).
constexpr int64_t kMatmulTokens = 8;
/// The static shared memory every chip from sm_80 on gives without opt-in.
constexpr int64_t kMaxStaticShared = 48 * 1024;
/// Decode matmuls with at most this many output rows split K over the warps
/// of a block (split-K), so that small layers still fill the GPU.
constexpr int64_t kSplitKMaxRows = 2048;
/// The launch grid a gpu.func records: [[count, tokens_per_block] x 3].
constexpr const char *kGridAttrName = "mixq.grid";

/// The kernel's values in the gpu.func: per L2 argument its memref (or
/// component memrefs of a qtensor, or the i64->index of `start_pos`), per L2
/// result its output memref, and the call's token count.
struct Signature {
  SmallVector<SmallVector<Value, 1>> args;
  SmallVector<Value> results;
  Value workspace; ///< memref<W x f32>, when the kernel has a workspace
  Value tokens;
};

//===----------------------------------------------------------------------===//
// Signatures
//===----------------------------------------------------------------------===//

MemRefType getBufferType(RankedTensorType type, int64_t maxTokens) {
  SmallVector<int64_t> shape(type.getShape());
  for (int64_t &dim : shape)
    if (ShapedType::isDynamic(dim))
      dim = maxTokens;
  return MemRefType::get(shape, type.getElementType());
}

/// (result index -> argument index) of the kernel's `mixq.tied` pairs.
DenseMap<unsigned, unsigned> getTiedResults(func::FuncOp kernel) {
  DenseMap<unsigned, unsigned> tied;
  if (auto attr = kernel->getAttrOfType<DenseI64ArrayAttr>(kTiedAttrName))
    for (size_t i = 0; i + 1 < attr.size(); i += 2)
      tied[attr[i]] = attr[i + 1];
  return tied;
}

/// Creates the gpu.func of `kernel` with the CUDA kernel ABI and maps its
/// arguments. Fails on argument types the ABI has no form for.
FailureOr<gpu::GPUFuncOp> createGPUFunc(OpBuilder &b, func::FuncOp kernel,
                                        const CUDAOptions &options,
                                        StringRef name, int64_t workspaceFloats,
                                        Signature &signature) {
  Location loc = kernel.getLoc();
  SmallVector<Type> argTypes;
  SmallVector<unsigned> argCounts;
  for (Type type : kernel.getArgumentTypes()) {
    if (auto qtensor = dyn_cast<QTensorType>(type)) {
      for (const ComponentSpec &component : qtensor.getComponents())
        argTypes.push_back(
            MemRefType::get(component.shape, component.elementType));
      argCounts.push_back(qtensor.getComponents().size());
    } else if (auto tensor = dyn_cast<RankedTensorType>(type)) {
      argTypes.push_back(getBufferType(tensor, options.maxTokens));
      argCounts.push_back(1);
    } else if (type.isIndex()) {
      argTypes.push_back(b.getI64Type());
      argCounts.push_back(1);
    } else {
      return kernel.emitError()
             << "the CUDA kernel ABI has no form for argument type " << type;
    }
  }
  DenseMap<unsigned, unsigned> tied = getTiedResults(kernel);
  for (auto [index, type] : llvm::enumerate(kernel.getResultTypes())) {
    if (tied.count(index))
      continue;
    auto tensor = dyn_cast<RankedTensorType>(type);
    if (!tensor)
      return kernel.emitError()
             << "the CUDA kernel ABI has no form for result type " << type;
    argTypes.push_back(getBufferType(tensor, options.maxTokens));
  }
  if (workspaceFloats > 0) // scratch between a kernel's entries
    argTypes.push_back(MemRefType::get({workspaceFloats}, b.getF32Type()));
  argTypes.push_back(b.getI64Type()); // the token count S

  auto func =
      gpu::GPUFuncOp::create(b, loc, name, b.getFunctionType(argTypes, {}));
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  Block &entry = func.getBody().front();
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&entry);
  unsigned next = 0;
  for (auto [type, count] : llvm::zip(kernel.getArgumentTypes(), argCounts)) {
    SmallVector<Value, 1> values;
    for (unsigned i = 0; i < count; ++i)
      values.push_back(entry.getArgument(next++));
    if (type.isIndex())
      values.front() =
          arith::IndexCastOp::create(b, loc, b.getIndexType(), values.front());
    signature.args.push_back(values);
  }
  for (unsigned index = 0; index < kernel.getNumResults(); ++index) {
    auto it = tied.find(index);
    signature.results.push_back(it != tied.end()
                                    ? signature.args[it->second].front()
                                    : entry.getArgument(next++));
  }
  if (workspaceFloats > 0)
    signature.workspace = entry.getArgument(next++);
  signature.tokens = arith::IndexCastOp::create(b, loc, b.getIndexType(),
                                                entry.getArgument(next));
  gpu::ReturnOp::create(b, loc);
  return func;
}

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
  /// For generators that need a second entry point (same ABI, launched
  /// after the first): the L2 kernel and where to put its launch.
  func::FuncOp kernel;
  std::vector<KernelLaunch> &followUps;
};

LogicalResult requireValues(Operation *op, const ValueMap &values,
                            ValueRange operands) {
  for (Value operand : operands)
    if (values.lookupAll(operand).empty())
      return op->emitError()
             << "CUDA codegen: an operand of this op is computed inside the "
                "kernel by an op the CUDA generators do not fuse";
  return success();
}

/// The kernel output an op's result is stored to.
FailureOr<Value> getOutput(Operation *op, const ValueMap &values,
                           Value result) {
  Value output = values.lookup(result);
  if (!output)
    return op->emitError() << "CUDA codegen: this op's result is not returned "
                              "by its kernel";
  return output;
}

void setRowLaunch(KernelLaunch &launch, int64_t blockSize) {
  launch.block = {blockSize, 1, 1};
  launch.grid[0] = GridDim{1, 1}; // one block per token
}

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

//===----------------------------------------------------------------------===//
// Row kernels
//===----------------------------------------------------------------------===//

LogicalResult buildEmbed(llm::EmbedOp op, GeneratorContext &ctx) {
  KernelBuilder &kb = ctx.kb;
  if (failed(requireValues(op, ctx.values, {op.getTable(), op.getTokens()})))
    return failure();
  FailureOr<Value> out = getOutput(op, ctx.values, op.getResult());
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
  if (failed(requireValues(op, ctx.values, {op.getInput(), op.getWeight()})))
    return failure();
  FailureOr<Value> out = getOutput(op, ctx.values, op.getResult());
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
  if (failed(requireValues(op, ctx.values, op->getOperands())))
    return failure();
  FailureOr<Value> out = getOutput(op, ctx.values, op->getResult(0));
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

/// The position of token `row`: the kernel's positions are either an
/// argument or rematerialized from start_pos by a `tensor.generate`
/// (--mixq-form-dispatches), whose body is cloned here with its index bound
/// to the row.
FailureOr<Value> buildPosition(llm::RopeOp op, GeneratorContext &ctx,
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

LogicalResult buildRope(llm::RopeOp op, GeneratorContext &ctx) {
  KernelBuilder &kb = ctx.kb;
  OpBuilder &b = kb.b;
  Location loc = kb.loc;
  if (failed(requireValues(op, ctx.values, {op.getInput()})))
    return failure();
  FailureOr<Value> out = getOutput(op, ctx.values, op.getResult());
  if (failed(out))
    return failure();
  Value input = ctx.values.lookup(op.getInput());
  int64_t dim = op.getInput().getType().getDimSize(1);
  int64_t headDim = op.getHeadDim(), half = headDim / 2;
  bool interleaved = op.getLayout() == llm::RopeLayout::Interleaved;

  // The frequency table is a constant global of the gpu.module.
  SmallVector<float> freqs = computeRopeFrequencies(op);
  auto tableType = MemRefType::get({half}, b.getF32Type());
  std::string tableName = (kb.func.getName() + "_freqs").str();
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(kb.func);
    memref::GlobalOp::create(
        b, loc, tableName, b.getStringAttr("private"), tableType,
        DenseElementsAttr::get(RankedTensorType::get({half}, b.getF32Type()),
                               ArrayRef(freqs)),
        /*constant=*/true, /*alignment=*/nullptr);
  }
  Value table = memref::GetGlobalOp::create(b, loc, tableType, tableName);

  Value row = kb.blockId(gpu::Dimension::x);
  FailureOr<Value> position = buildPosition(op, ctx, row);
  if (failed(position))
    return failure();
  Value positionF32 = arith::SIToFPOp::create(
      b, loc, b.getF32Type(),
      arith::IndexCastOp::create(b, loc, b.getI32Type(), *position));
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
    Value angle = kb.mulF(positionF32, freq);
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
  if (failed(requireValues(op, ctx.values, {op.getInput(), op.getWeight()})))
    return failure();
  FailureOr<Value> out = getOutput(op, ctx.values, op.getResult());
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

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

/// Decode attention over a cache longer than this is split along the keys
/// (flash-decoding): one block per (head, chunk of this many keys).
constexpr int64_t kKeysPerSplit = 256;

/// How an attention kernel is split, decided before its entries are built
/// (the split form has a workspace argument).
struct AttentionSplit {
  int64_t splits = 0; ///< 0: the single-pass kernel
  int64_t workspaceFloats = 0;
};

AttentionSplit getAttentionSplit(func::FuncOp kernel) {
  for (Operation &op : kernel.getBody().front()) {
    auto attention = dyn_cast<llm::AttentionOp>(op);
    if (!attention)
      continue;
    auto q = attention.getQ().getType();
    int64_t keys = attention.getKCache().getType().getDimSize(0);
    // Prefill has S blocks per head already.
    if (q.isDynamicDim(0) || q.getDimSize(0) != 1 || keys <= kKeysPerSplit)
      return {};
    int64_t splits = (keys + kKeysPerSplit - 1) / kKeysPerSplit;
    // Per (head, split): the partial output, its max and its sum.
    return {splits,
            attention.getNumHeads() * splits * (attention.getHeadDim() + 2)};
  }
  return {};
}

/// The pieces of the attention kernels: one block per query head (and token
/// or key chunk) with kRowBlock threads.
class AttentionBuilder {
public:
  AttentionBuilder(llm::AttentionOp op, GeneratorContext &ctx)
      : op(op), ctx(ctx), kb(ctx.kb), b(ctx.kb.b), loc(ctx.kb.loc) {
    heads = op.getNumHeads();
    headDim = op.getHeadDim();
    group = heads / op.getNumKvHeads();
    maxKeys = op.getKCache().getType().getDimSize(0);
  }

  /// Resolves the operands in the current entry's signature.
  LogicalResult bind(const ValueMap &values) {
    if (failed(requireValues(op, values,
                             {op.getQ(), op.getK(), op.getV(), op.getKCache(),
                              op.getVCache(), op.getStartPos()})))
      return failure();
    FailureOr<Value> output = getOutput(op, values, op.getOut());
    if (failed(output))
      return failure();
    out = *output;
    q = values.lookup(op.getQ());
    k = values.lookup(op.getK());
    v = values.lookup(op.getV());
    kCache = values.lookup(op.getKCache());
    vCache = values.lookup(op.getVCache());
    startPos = values.lookup(op.getStartPos());
    return success();
  }

  /// The block's query head and token row.
  void setBlock(Value headValue, Value rowValue) {
    head = headValue;
    row = rowValue;
    Value kvHead = kb.divU(head, kb.index(group));
    kvBase = kb.mul(kvHead, kb.index(headDim));
    qBase = kb.mul(head, kb.index(headDim));
    position = kb.add(startPos, row);
    numKeys = kb.add(position, kb.index(1));
    Value tid = kb.threadId();
    warp = kb.divU(tid, kb.index(kWarpSize));
    lane = kb.remU(tid, kb.index(kWarpSize));
  }

  /// The first query head of each KV group (where `also` holds) writes the
  /// token's K/V rows into the caches. Nobody reads those rows from the
  /// caches in this launch: keys at or after start_pos come from the k/v
  /// inputs instead.
  void writeCacheRows(Value also) {
    Value first = kb.cmp(arith::CmpIPredicate::eq,
                         kb.remU(head, kb.index(group)), kb.index(0));
    kb.ifThen(arith::AndIOp::create(b, loc, first, also), [&] {
      kb.blockLoop(kb.index(headDim), kRowBlock, [&](Value d) {
        Value col = kb.add(kvBase, d);
        for (auto [src, cache] : {std::pair{k, kCache}, std::pair{v, vCache}}) {
          Value value =
              memref::LoadOp::create(b, loc, src, ValueRange{row, col});
          memref::StoreOp::create(b, loc, value, cache,
                                  ValueRange{position, col});
        }
      });
    });
  }

  /// The query head in f32 in shared memory (then a barrier).
  Value loadQuery() {
    Value query = kb.sharedArray(headDim);
    kb.blockLoop(kb.index(headDim), kRowBlock, [&](Value d) {
      memref::StoreOp::create(b, loc, kb.loadF32(q, {row, kb.add(qBase, d)}),
                              query, ValueRange{d});
    });
    gpu::BarrierOp::create(b, loc);
    return query;
  }

  /// Loops over the keys j in [lo, hi) starting `first` into the range with
  /// `step`: those before start_pos from the cache, the call's own from the
  /// k/v input, in two loops so that no element load branches.
  /// `body(source, sourceRow, j, carried)`.
  SmallVector<Value> forEachKey(
      Value lo, Value hi, Value first, int64_t step, Value cache, Value fresh,
      ValueRange inits,
      function_ref<SmallVector<Value>(Value, Value, Value, ValueRange)> body) {
    Value cachedEnd = kb.minU(hi, startPos);
    SmallVector<Value> acc =
        kb.loop(kb.add(lo, first), cachedEnd, kb.index(step), inits,
                [&](Value j, ValueRange carried) {
                  return body(cache, j, j, carried);
                });
    Value freshBegin = arith::MaxUIOp::create(b, loc, lo, startPos);
    return kb.loop(
        kb.add(kb.sub(freshBegin, startPos), first),
        kb.sub(arith::MaxUIOp::create(b, loc, hi, startPos), startPos),
        kb.index(step), acc, [&](Value i, ValueRange carried) {
          return body(fresh, i, kb.add(startPos, i), carried);
        });
  }

  /// scale * q.k_j into scores[j - lo] for j in [lo, hi): one warp per key,
  /// the lanes splitting the head dimension so that key rows are read
  /// coalesced, a shuffle reduction per dot product. Returns each thread's
  /// running max (reduce it over the block; its barriers publish the
  /// scores).
  Value scoreKeys(Value query, Value scores, Value lo, Value hi) {
    float scale = op.getScaleOrDefault();
    Value minusInf = kb.f32(-std::numeric_limits<float>::infinity());
    return forEachKey(
               lo, hi, warp, kRowBlock / kWarpSize, kCache, k,
               ValueRange{minusInf},
               [&](Value source, Value sourceRow, Value j, ValueRange acc) {
                 Value partial =
                     kb.loop(lane, kb.index(headDim), kb.index(kWarpSize),
                             ValueRange{kb.f32(0.0f)},
                             [&](Value d, ValueRange sum) {
                               Value qd = memref::LoadOp::create(b, loc, query,
                                                                 ValueRange{d});
                               Value kd = kb.loadF32(
                                   source, {sourceRow, kb.add(kvBase, d)});
                               return SmallVector<Value>{
                                   kb.addF(sum.front(), kb.mulF(qd, kd))};
                             })
                         .front();
                 Value dot = kb.warpReduce(Reduction::Sum, partial);
                 Value score = kb.mulF(kb.f32(scale), dot);
                 kb.ifThen(kb.cmp(arith::CmpIPredicate::eq, lane, kb.index(0)),
                           [&] {
                             memref::StoreOp::create(b, loc, score, scores,
                                                     ValueRange{kb.sub(j, lo)});
                           });
                 return SmallVector<Value>{
                     kb.combine(Reduction::Max, acc.front(), score)};
               })
        .front();
  }

  /// scores[i] = exp(scores[i] - max) for i in [0, count); returns each
  /// thread's partial sum.
  Value exponentiate(Value scores, Value count, Value max) {
    return kb.blockLoop(
        count, kRowBlock, kb.f32(0.0f), [&](Value i, Value acc) {
          Value score = memref::LoadOp::create(b, loc, scores, ValueRange{i});
          Value e = math::ExpOp::create(
              b, loc, arith::SubFOp::create(b, loc, score, max));
          memref::StoreOp::create(b, loc, e, scores, ValueRange{i});
          return kb.addF(acc, e);
        });
  }

  /// For each element d of the head (one thread each, value rows read
  /// coalesced), sum_j w_j v_j[d] over j in [lo, hi) with w_j = scores[j -
  /// lo] / divisor (or undivided); `emit(d, acc)` stores it.
  void weighValues(Value scores, Value lo, Value hi, Value divisor,
                   function_ref<void(Value, Value)> emit) {
    kb.blockLoop(kb.index(headDim), kRowBlock, [&](Value d) {
      Value col = kb.add(kvBase, d);
      Value acc =
          forEachKey(
              lo, hi, kb.index(0), 1, vCache, v, ValueRange{kb.f32(0.0f)},
              [&](Value source, Value sourceRow, Value j, ValueRange partial) {
                Value w = memref::LoadOp::create(b, loc, scores,
                                                 ValueRange{kb.sub(j, lo)});
                if (divisor)
                  w = arith::DivFOp::create(b, loc, w, divisor);
                Value vd = kb.loadF32(source, {sourceRow, col});
                return SmallVector<Value>{
                    kb.addF(partial.front(), kb.mulF(w, vd))};
              })
              .front();
      emit(d, acc);
    });
  }

  llm::AttentionOp op;
  GeneratorContext &ctx;
  KernelBuilder &kb;
  OpBuilder &b;
  Location loc;
  int64_t heads, headDim, group, maxKeys;
  Value q, k, v, kCache, vCache, startPos, out;
  Value head, row, kvBase, qBase, position, numKeys, warp, lane;
};

/// One block per (query head, token); all the live prefix's scores in
/// shared memory, normalized as the reference does (p = e / sum).
LogicalResult buildSinglePassAttention(AttentionBuilder &ab) {
  KernelBuilder &kb = ab.kb;
  int64_t sharedBytes = (ab.maxKeys + ab.headDim + kWarpSize) * 4;
  if (sharedBytes > kMaxStaticShared)
    return ab.op.emitError()
           << "CUDA codegen: the single-pass attention kernel keeps "
           << ab.maxKeys << " scores in shared memory (" << sharedBytes
           << " bytes), more than the " << kMaxStaticShared
           << " bytes a block may have; compile with a smaller --max-seq-len";
  Value scores = kb.sharedArray(ab.maxKeys);
  Value scratch = kb.sharedArray(kWarpSize);
  ab.setBlock(kb.blockId(gpu::Dimension::x), kb.blockId(gpu::Dimension::y));
  ab.writeCacheRows(kb.cmp(arith::CmpIPredicate::eq, kb.index(0), kb.index(0)));
  Value query = ab.loadQuery();
  Value zero = kb.index(0);
  Value localMax = ab.scoreKeys(query, scores, zero, ab.numKeys);
  Value max = kb.blockReduce(Reduction::Max, localMax, scratch, kRowBlock);
  Value localSum = ab.exponentiate(scores, ab.numKeys, max);
  // The reduction's barriers also publish every thread's exp() values.
  Value sum = kb.blockReduce(Reduction::Sum, localSum, scratch, kRowBlock);
  ab.weighValues(scores, zero, ab.numKeys, sum, [&](Value d, Value acc) {
    kb.storeF32(acc, ab.out, {ab.row, kb.add(ab.qBase, d)});
  });
  ab.ctx.launch.block = {kRowBlock, 1, 1};
  ab.ctx.launch.grid[0] = GridDim{ab.heads, 0};
  ab.ctx.launch.grid[1] = GridDim{1, 1};
  return success();
}

/// Flash-decoding, first entry: block (head, split) takes keys [split *
/// kKeysPerSplit, ...) of the live prefix and writes its unnormalized output
/// sum_j e_j v_j, its max m and its sum l = sum_j e_j (e_j = exp(s_j - m))
/// to workspace[head][split].
LogicalResult buildSplitAttentionPartial(AttentionBuilder &ab, int64_t splits) {
  KernelBuilder &kb = ab.kb;
  OpBuilder &b = ab.b;
  Location loc = ab.loc;
  Value workspace = ab.ctx.signature.workspace;
  Value scores = kb.sharedArray(kKeysPerSplit);
  Value scratch = kb.sharedArray(kWarpSize);
  Value split = kb.blockId(gpu::Dimension::y);
  ab.setBlock(kb.blockId(gpu::Dimension::x), kb.index(0));
  ab.writeCacheRows(kb.cmp(arith::CmpIPredicate::eq, split, kb.index(0)));
  Value query = ab.loadQuery();
  Value lo = kb.mul(split, kb.index(kKeysPerSplit));
  Value hi = kb.minU(kb.add(lo, kb.index(kKeysPerSplit)), ab.numKeys);
  // Splits past the prefix see no keys: m = -inf, l = 0, output 0, which
  // the combine weighs by exp(-inf) = 0.
  Value count = kb.sub(arith::MaxUIOp::create(b, loc, hi, lo), lo);
  Value localMax = ab.scoreKeys(query, scores, lo, hi);
  Value max = kb.blockReduce(Reduction::Max, localMax, scratch, kRowBlock);
  Value localSum = ab.exponentiate(scores, count, max);
  Value sum = kb.blockReduce(Reduction::Sum, localSum, scratch, kRowBlock);
  int64_t stride = ab.headDim + 2;
  Value base = kb.mul(kb.add(kb.mul(ab.head, kb.index(splits)), split),
                      kb.index(stride));
  ab.weighValues(scores, lo, hi, Value(), [&](Value d, Value acc) {
    memref::StoreOp::create(b, loc, acc, workspace,
                            ValueRange{kb.add(base, d)});
  });
  kb.ifThen(kb.cmp(arith::CmpIPredicate::eq, kb.threadId(), kb.index(0)), [&] {
    memref::StoreOp::create(b, loc, max, workspace,
                            ValueRange{kb.add(base, kb.index(ab.headDim))});
    memref::StoreOp::create(b, loc, sum, workspace,
                            ValueRange{kb.add(base, kb.index(ab.headDim + 1))});
  });
  ab.ctx.launch.block = {kRowBlock, 1, 1};
  ab.ctx.launch.grid[0] = GridDim{ab.heads, 0};
  ab.ctx.launch.grid[1] = GridDim{splits, 0};
  return success();
}

/// Flash-decoding, second entry: out[h, d] = sum_i exp(m_i - M) o_i[d] /
/// sum_i exp(m_i - M) l_i over the splits i, M = max_i m_i. Each thread
/// recomputes M and the denominator from the (few) splits it reads.
void buildSplitAttentionCombine(AttentionBuilder &ab, int64_t splits) {
  KernelBuilder &kb = ab.kb;
  OpBuilder &b = ab.b;
  Location loc = ab.loc;
  Value workspace = ab.ctx.signature.workspace;
  Value head = kb.blockId(gpu::Dimension::x);
  int64_t stride = ab.headDim + 2;
  Value headBase = kb.mul(head, kb.index(splits * stride));
  // Element `offset` of split `split`'s record: the output, then m, then l.
  auto at = [&](Value split, Value offset) {
    Value index =
        kb.add(kb.add(headBase, kb.mul(split, kb.index(stride))), offset);
    return memref::LoadOp::create(b, loc, workspace, ValueRange{index})
        .getResult();
  };
  Value maxAt = kb.index(ab.headDim), sumAt = kb.index(ab.headDim + 1);
  Value minusInf = kb.f32(-std::numeric_limits<float>::infinity());
  kb.blockLoop(kb.index(ab.headDim), kRowBlock, [&](Value d) {
    Value max = kb.loop(kb.index(0), kb.index(splits), kb.index(1),
                        ValueRange{minusInf},
                        [&](Value i, ValueRange acc) {
                          return SmallVector<Value>{kb.combine(
                              Reduction::Max, acc.front(), at(i, maxAt))};
                        })
                    .front();
    SmallVector<Value> sums = kb.loop(
        kb.index(0), kb.index(splits), kb.index(1),
        ValueRange{kb.f32(0.0f), kb.f32(0.0f)}, [&](Value i, ValueRange acc) {
          Value weight = math::ExpOp::create(
              b, loc, arith::SubFOp::create(b, loc, at(i, maxAt), max));
          Value l = kb.mulF(weight, at(i, sumAt));
          Value o = kb.mulF(weight, at(i, d));
          return SmallVector<Value>{kb.addF(acc[0], l), kb.addF(acc[1], o)};
        });
    Value result = arith::DivFOp::create(b, loc, sums[1], sums[0]);
    kb.storeF32(result, ab.out,
                {kb.index(0), kb.add(kb.mul(head, kb.index(ab.headDim)), d)});
  });
  ab.ctx.launch.block = {kRowBlock, 1, 1};
  ab.ctx.launch.grid[0] = GridDim{ab.heads, 0};
}

/// Records the launch on the gpu.func (known_block_size, mixq.grid) and its
/// static shared memory before pipelining.
void finishEntry(gpu::GPUFuncOp func, KernelLaunch &launch) {
  OpBuilder b(func.getContext());
  std::array<int32_t, 3> block;
  for (int i = 0; i < 3; ++i)
    block[i] = static_cast<int32_t>(launch.block[i]);
  func.setKnownBlockSizeAttr(b.getDenseI32ArrayAttr(block));
  SmallVector<Attribute> grid;
  for (const GridDim &dim : launch.grid)
    grid.push_back(b.getDenseI64ArrayAttr({dim.count, dim.tokensPerBlock}));
  func->setAttr(kGridAttrName, b.getArrayAttr(grid));
  int64_t bytes = 0;
  for (BlockArgument attribution : func.getWorkgroupAttributions()) {
    auto type = cast<MemRefType>(attribution.getType());
    bytes += type.getNumElements() * type.getElementTypeBitWidth() / 8;
  }
  launch.sharedBytes = bytes;
}

LogicalResult buildAttention(llm::AttentionOp op, GeneratorContext &ctx) {
  AttentionSplit split = getAttentionSplit(ctx.kernel);
  AttentionBuilder partial(op, ctx);
  if (failed(partial.bind(ctx.values)))
    return failure();
  if (split.splits == 0)
    return buildSinglePassAttention(partial);
  if (failed(buildSplitAttentionPartial(partial, split.splits)))
    return failure();

  // The combine entry: same ABI, launched after the partial one.
  OpBuilder b(op.getContext());
  b.setInsertionPointAfter(ctx.kb.func);
  Signature signature;
  std::string name = (ctx.kernel.getSymName() + "_combine").str();
  FailureOr<gpu::GPUFuncOp> func = createGPUFunc(
      b, ctx.kernel, ctx.options, name, split.workspaceFloats, signature);
  if (failed(func))
    return failure();
  b.setInsertionPoint(func->getBody().front().getTerminator());
  KernelBuilder kb(b, ctx.kb.loc, *func);
  ValueMap values(ctx.kernel, signature);
  KernelLaunch launch;
  launch.kernel = ctx.launch.kernel;
  launch.entry = name;
  launch.workspaceBytes = ctx.launch.workspaceBytes;
  GeneratorContext combineCtx{kb,     values,     signature,    ctx.options,
                              launch, ctx.kernel, ctx.followUps};
  AttentionBuilder combine(op, combineCtx);
  if (failed(combine.bind(values)))
    return failure();
  buildSplitAttentionCombine(combine, split.splits);
  finishEntry(*func, launch);
  ctx.followUps.push_back(launch);
  return success();
}

//===----------------------------------------------------------------------===//
// Matmul
//===----------------------------------------------------------------------===//

/// Weights (row, col .. col + tileCols - 1) of a matmul's weight, widened
/// to f32: dequantized by the scheme, or loaded from a plain matrix.
SmallVector<Value> buildWeightTile(KernelBuilder &kb, const MatmulOperands &ops,
                                   const ComponentReader &reader, Value row,
                                   Value col, int64_t tileCols) {
  SmallVector<Value> tile;
  if (ops.scheme) {
    SmallVector<Value> values =
        ops.scheme.buildDequantTile(kb.b, kb.loc, reader, {ops.rows, ops.cols},
                                    row, col, tileCols, ops.elementType);
    for (Value value : values)
      tile.push_back(buildExtendToF32(kb.b, kb.loc, value));
    return tile;
  }
  for (int64_t j = 0; j < tileCols; ++j)
    tile.push_back(buildExtendToF32(
        kb.b, kb.loc,
        reader.load(kb.b, kb.loc, 0, {row, kb.add(col, kb.index(j))})));
  return tile;
}

/// A column-tiled component whose per-lane slice of each step is copied
/// global -> shared (4, 8 or 16 bytes per lane, the sizes cp.async moves).
struct StagedComponent {
  unsigned index = 0;
  int64_t elementsPerLane = 0;
  int64_t rowElements = 0; ///< X of the N x X component
  Value tile;              ///< memref<warps x 32*elementsPerLane>, shared
};

/// The matmul's dequantization tile and what it stages per step.
/// A small per-row component (a LUT, the row's scales) the warp copies into
/// shared memory once, before its K loop.
struct ResidentComponent {
  unsigned index = 0;
  Value tile; ///< memref<warps x X>, shared
};

struct MatmulTiling {
  int64_t tileCols = 1;
  SmallVector<StagedComponent> staged;
  SmallVector<ResidentComponent> resident;
};

/// Per-row components up to this size stay in shared memory for the loop.
constexpr int64_t kMaxResidentRowBytes = 256;

/// A reader that records which components a scheme's dequantization loads.
class RecordingReader : public ComponentReader {
public:
  using ComponentReader::ComponentReader;
  Value load(OpBuilder &builder, Location loc, unsigned index,
             ValueRange indices) const override {
    read.insert(index);
    return ComponentReader::load(builder, loc, index, indices);
  }
  mutable llvm::SmallDenseSet<unsigned> read;
};

/// The components the scheme's dequantization tile actually reads (e.g. a
/// `bitplane` of width k reads only the top k planes), found by building one
/// tile into a scratch block that is thrown away.
llvm::SmallDenseSet<unsigned> getReadComponents(const MatmulOperands &ops,
                                                int64_t tileCols) {
  MLIRContext *ctx = ops.input.getContext();
  auto scratch = std::make_unique<Block>();
  OpBuilder b(ctx); // the block has no region to take the context from
  b.setInsertionPointToStart(scratch.get());
  Location loc = UnknownLoc::get(ctx);
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  RecordingReader reader(ops.components);
  (void)ops.scheme.buildDequantTile(b, loc, reader, {ops.rows, ops.cols}, zero,
                                    zero, tileCols, ops.elementType);
  scratch->dropAllReferences();
  return reader.read;
}

/// The column-tiled components of the weight the dequantization reads: the
/// scheme's that say so, or the plain matrix itself.
SmallVector<std::pair<unsigned, ComponentSpec>>
getColumnTiledComponents(const MatmulOperands &ops) {
  SmallVector<std::pair<unsigned, ComponentSpec>> tiled;
  if (!ops.scheme) {
    auto type = cast<MemRefType>(ops.components.front().getType());
    ComponentSpec plain{"weight", type.getElementType(),
                        SmallVector<int64_t, 2>(type.getShape()), true};
    tiled.push_back({0, plain});
    return tiled;
  }
  llvm::SmallDenseSet<unsigned> read = getReadComponents(ops, 1);
  for (auto [index, component] :
       llvm::enumerate(ops.scheme.getComponents({ops.rows, ops.cols})))
    if (component.columnTiled && component.shape.size() == 2 &&
        read.contains(index))
      tiled.push_back({unsigned(index), component});
  return tiled;
}

/// Picks the widest tile of consecutive weights per lane and step (at most
/// `maxTileCols`) that divides K and gives every column-tiled component a
/// per-lane slice cp.async can copy; without one, the widest tile dividing K
/// and no staging.
MatmulTiling chooseTiling(const MatmulOperands &ops, int64_t maxTileCols) {
  SmallVector<std::pair<unsigned, ComponentSpec>> tiled =
      getColumnTiledComponents(ops);
  int64_t k = ops.cols;
  for (int64_t tileCols : {32, 16, 8, 4, 2}) {
    if (tileCols > maxTileCols || k % tileCols != 0 || tiled.empty())
      continue;
    MatmulTiling tiling{tileCols, {}};
    for (const auto &[index, component] : tiled) {
      int64_t x = component.shape[1];
      int64_t bytes = component.elementType.getIntOrFloatBitWidth() / 8;
      if ((tileCols * x) % k != 0)
        break;
      int64_t perLane = tileCols * x / k;
      int64_t laneBytes = perLane * bytes;
      if ((laneBytes != 4 && laneBytes != 8 && laneBytes != 16) ||
          x % perLane != 0)
        break;
      tiling.staged.push_back({index, perLane, x, Value()});
    }
    if (tiling.staged.size() == tiled.size())
      return tiling;
  }
  for (int64_t tileCols : {8, 4, 2})
    if (tileCols <= maxTileCols && k % tileCols == 0)
      return MatmulTiling{tileCols, {}};
  return MatmulTiling{1, {}};
}

/// Reads the staged components from the lane's slice of their shared tile
/// and everything else from global memory.
class StagedReader : public ComponentReader {
public:
  StagedReader(ValueRange components, KernelBuilder &kb,
               const MatmulTiling &tiling, Value warp, Value lane, Value col,
               int64_t cols)
      : ComponentReader(components), kb(kb), staged(tiling.staged),
        resident(tiling.resident), warp(warp), lane(lane), col(col),
        cols(cols) {}

  Value load(OpBuilder &builder, Location loc, unsigned index,
             ValueRange indices) const override {
    for (const ResidentComponent &component : resident)
      if (component.index == index)
        return memref::LoadOp::create(builder, loc, component.tile,
                                      ValueRange{warp, indices[1]});
    for (const StagedComponent &component : staged) {
      if (component.index != index)
        continue;
      Value offset = builder.createOrFold<arith::SubIOp>(
          loc, indices[1], firstElement(component));
      Value slot =
          kb.add(kb.mul(lane, kb.index(component.elementsPerLane)), offset);
      return memref::LoadOp::create(builder, loc, component.tile,
                                    ValueRange{warp, slot});
    }
    return ComponentReader::load(builder, loc, index, indices);
  }

  /// The component element holding the lane's first weight of this step.
  Value firstElement(const StagedComponent &component) const {
    return kb.divU(kb.mul(col, kb.index(component.rowElements)),
                   kb.index(cols));
  }

private:
  KernelBuilder &kb;
  ArrayRef<StagedComponent> staged;
  ArrayRef<ResidentComponent> resident;
  Value warp, lane, col;
  int64_t cols;
};

/// Allocates one shared tile per staged component (a memref.alloc that
/// --mixq-pipeline-async-copies multi-buffers and turns into a workgroup
/// attribution).
void allocateStagingTiles(KernelBuilder &kb, const MatmulOperands &ops,
                          MatmulTiling &tiling) {
  auto space = gpu::AddressSpaceAttr::get(kb.b.getContext(),
                                          gpu::AddressSpace::Workgroup);
  for (StagedComponent &component : tiling.staged) {
    Type element = cast<MemRefType>(ops.components[component.index].getType())
                       .getElementType();
    auto type =
        MemRefType::get({kMatmulWarps, kWarpSize * component.elementsPerLane},
                        element, MemRefLayoutAttrInterface{}, space);
    component.tile = memref::AllocOp::create(kb.b, kb.loc, type);
  }
}

/// Picks the small per-row components the dequantization reads (not staged
/// ones) and gives each a shared tile: a LUT or the row's group scales is
/// then read from shared memory in the loop instead of through L1.
void allocateResidentTiles(KernelBuilder &kb, const MatmulOperands &ops,
                           MatmulTiling &tiling) {
  if (!ops.scheme)
    return;
  llvm::SmallDenseSet<unsigned> read = getReadComponents(ops, 1);
  auto space = gpu::AddressSpaceAttr::get(kb.b.getContext(),
                                          gpu::AddressSpace::Workgroup);
  for (auto [index, value] : llvm::enumerate(ops.components)) {
    auto type = cast<MemRefType>(value.getType());
    bool staged = llvm::any_of(tiling.staged, [&](const StagedComponent &c) {
      return c.index == index;
    });
    if (staged || !read.contains(index) || type.getRank() != 2 ||
        type.getDimSize(0) != ops.rows ||
        type.getDimSize(1) * type.getElementTypeBitWidth() / 8 >
            kMaxResidentRowBytes)
      continue;
    auto tileType = MemRefType::get({kMatmulWarps, type.getDimSize(1)},
                                    type.getElementType(),
                                    MemRefLayoutAttrInterface{}, space);
    tiling.resident.push_back(
        {unsigned(index), kb.func.addWorkgroupAttribution(tileType, kb.loc)});
  }
}

/// The warp copies its row of every resident component, then synchronizes
/// its lanes (bar.warp.sync: the warp may be alone in this branch).
void loadResidentRows(KernelBuilder &kb, const MatmulOperands &ops,
                      ArrayRef<ResidentComponent> resident, Value row,
                      Value warp, Value lane) {
  if (resident.empty())
    return;
  for (const ResidentComponent &component : resident) {
    Value global = ops.components[component.index];
    int64_t size = cast<MemRefType>(global.getType()).getDimSize(1);
    kb.loop(lane, kb.index(size), kb.index(kWarpSize), [&](Value i) {
      Value value =
          memref::LoadOp::create(kb.b, kb.loc, global, ValueRange{row, i});
      memref::StoreOp::create(kb.b, kb.loc, value, component.tile,
                              ValueRange{warp, i});
    });
  }
  Value allLanes =
      arith::ConstantIntOp::create(kb.b, kb.loc, kb.b.getI32Type(), -1);
  NVVM::SyncWarpOp::create(kb.b, kb.loc, allLanes);
}

/// The lane's slice of each staged component for this step: one vector copy
/// global -> shared.
void stageStep(KernelBuilder &kb, const MatmulOperands &ops,
               const StagedReader &reader, ArrayRef<StagedComponent> staged,
               Value row, Value warp, Value lane) {
  for (const StagedComponent &component : staged) {
    Value global = ops.components[component.index];
    auto vectorType =
        VectorType::get({component.elementsPerLane},
                        cast<MemRefType>(global.getType()).getElementType());
    Value first = reader.firstElement(component);
    Value slice = vector::LoadOp::create(kb.b, kb.loc, vectorType, global,
                                         ValueRange{row, first});
    Value slot = kb.mul(lane, kb.index(component.elementsPerLane));
    vector::StoreOp::create(kb.b, kb.loc, slice, component.tile,
                            ValueRange{warp, slot});
  }
}

struct MatmulSpec {
  MatmulOperands ops;
  /// llm.logits {last_token_only}: only row S - 1, into a [1, N] output.
  bool lastTokenOnly = false;
};

/// x[row, col .. col + tileCols - 1], widened to f32, read in aligned
/// vector loads of 16 bytes (or the whole tile where it is smaller) rather
/// than an element at a time: a lane's weights of one step are consecutive,
/// and so are the x elements they multiply. `col` is a multiple of tileCols
/// and K of tileCols, so every piece is aligned to its size (plan buffers
/// are 256-byte aligned).
SmallVector<Value> loadInputTile(KernelBuilder &kb, Value input, Value row,
                                 Value col, int64_t tileCols) {
  auto elementType =
      cast<FloatType>(cast<MemRefType>(input.getType()).getElementType());
  if (tileCols == 1)
    return {kb.loadF32(input, {row, col})};
  int64_t elementBytes = elementType.getWidth() / 8;
  int64_t piece = std::min<int64_t>(tileCols, 16 / elementBytes);
  SmallVector<Value> values;
  for (int64_t first = 0; first < tileCols; first += piece) {
    Value tile = vector::LoadOp::create(
        kb.b, kb.loc, VectorType::get({piece}, elementType), input,
        ValueRange{row, kb.add(col, kb.index(first))}, /*nontemporal=*/false,
        llvm::Align(piece * elementBytes));
    for (int64_t j = 0; j < piece; ++j)
      values.push_back(buildExtendToF32(
          kb.b, kb.loc, vector::ExtractOp::create(kb.b, kb.loc, tile, j)));
  }
  return values;
}

/// One warp per output row n, kMatmulTokens rows of x per block: every lane
/// dequantizes tileCols consecutive weights of row n per step, multiplies
/// them with the block's x rows in f32 and the warp reduces with shuffles.
void buildMatmulBody(const MatmulSpec &spec, GeneratorContext &ctx,
                     int64_t tokensPerBlock) {
  KernelBuilder &kb = ctx.kb;
  OpBuilder &b = kb.b;
  Location loc = kb.loc;
  const MatmulOperands &ops = spec.ops;
  int64_t n = ops.rows, k = ops.cols;
  // Decode keeps up to 32 weights per lane in registers; prefill 8, since
  // each is multiplied with 8 token rows.
  MatmulTiling tiling = chooseTiling(ops, tokensPerBlock == 1 ? 32 : 8);
  int64_t tileCols = tiling.tileCols;
  allocateStagingTiles(kb, ops, tiling);
  allocateResidentTiles(kb, ops, tiling);
  // Split-K: the block's warps share one row, each taking every
  // splitK-th step of K; their sums meet in shared memory.
  int64_t splitK =
      tokensPerBlock == 1 && n <= kSplitKMaxRows ? kMatmulWarps : 1;
  int64_t rowsPerBlock = kMatmulWarps / splitK;
  Value partials = splitK > 1 ? kb.sharedArray(kMatmulWarps) : Value();
  Value tid = kb.threadId();
  Value warp = kb.divU(tid, kb.index(kWarpSize));
  Value lane = kb.remU(tid, kb.index(kWarpSize));
  Value slice = kb.remU(warp, kb.index(splitK));
  Value outRow =
      kb.add(kb.mul(kb.blockId(gpu::Dimension::x), kb.index(rowsPerBlock)),
             kb.divU(warp, kb.index(splitK)));
  Value tokens = ops.tokens;
  Value lastToken = kb.sub(tokens, kb.index(1));
  Value firstToken = spec.lastTokenOnly ? lastToken
                                        : kb.mul(kb.blockId(gpu::Dimension::y),
                                                 kb.index(tokensPerBlock));
  // Rows past S are clamped for loading (they stay inside the buffers) and
  // never stored.
  SmallVector<Value> xRows;
  for (int64_t t = 0; t < tokensPerBlock; ++t)
    xRows.push_back(kb.minU(kb.add(firstToken, kb.index(t)), lastToken));

  kb.ifThen(kb.cmp(arith::CmpIPredicate::ult, outRow, kb.index(n)), [&] {
    loadResidentRows(kb, ops, tiling.resident, outRow, warp, lane);
    SmallVector<Value> inits(tokensPerBlock, kb.f32(0.0f));
    Value firstCol = kb.mul(kb.add(kb.mul(slice, kb.index(kWarpSize)), lane),
                            kb.index(tileCols));
    SmallVector<Value> accs = kb.loop(
        firstCol, kb.index(k), kb.index(splitK * kWarpSize * tileCols), inits,
        [&](Value col, ValueRange partial) {
          // Lanes only read back their own slice of the staged tiles,
          // so no barrier is needed (nor allowed: rows past N skip the
          // loop).
          StagedReader reader(ops.components, kb, tiling, warp, lane, col, k);
          stageStep(kb, ops, reader, tiling.staged, outRow, warp, lane);
          SmallVector<Value> w =
              buildWeightTile(kb, ops, reader, outRow, col, tileCols);
          SmallVector<Value> next(partial.begin(), partial.end());
          for (int64_t t = 0; t < tokensPerBlock; ++t) {
            SmallVector<Value> x =
                loadInputTile(kb, ops.input, xRows[t], col, tileCols);
            for (int64_t j = 0; j < tileCols; ++j)
              next[t] = math::FmaOp::create(b, loc, x[j], w[j], next[t]);
          }
          return next;
        });
    for (int64_t t = 0; t < tokensPerBlock; ++t) {
      Value total = kb.warpReduce(Reduction::Sum, accs[t]);
      Value storer = kb.cmp(arith::CmpIPredicate::eq, lane, kb.index(0));
      if (splitK > 1) {
        // All warps of the block have this row: the branch is uniform over
        // the block, so the barrier is legal. Warp 0 adds the partial sums
        // in a fixed order.
        kb.ifThen(storer, [&] {
          memref::StoreOp::create(b, loc, total, partials, ValueRange{warp});
        });
        gpu::BarrierOp::create(b, loc);
        total =
            memref::LoadOp::create(b, loc, partials, ValueRange{kb.index(0)});
        for (int64_t i = 1; i < splitK; ++i)
          total =
              kb.addF(total, memref::LoadOp::create(b, loc, partials,
                                                    ValueRange{kb.index(i)}));
        storer = kb.cmp(arith::CmpIPredicate::eq, tid, kb.index(0));
      }
      Value token = kb.add(firstToken, kb.index(t));
      Value stores = arith::AndIOp::create(
          b, loc, storer, kb.cmp(arith::CmpIPredicate::ult, token, tokens));
      kb.ifThen(stores, [&] {
        Value outToken = spec.lastTokenOnly ? kb.index(0) : token;
        auto outType = cast<FloatType>(
            cast<MemRefType>(ops.output.getType()).getElementType());
        Value value = total;
        if (ops.residual) {
          // The matmul's result is rounded to T before the residual add, as
          // in the unfused graph.
          value = buildExtendToF32(
              b, loc, buildTruncateFromF32(b, loc, value, outType));
          value = kb.addF(kb.loadF32(ops.residual, {token, outRow}), value);
        }
        kb.storeF32(value, ops.output, {outToken, outRow});
      });
    }
  });
  ctx.launch.block = {kMatmulWarps * kWarpSize, 1, 1};
  ctx.launch.weightsPerWarpIteration = kWarpSize * tileCols;
  ctx.launch.grid[0] = GridDim{(n + rowsPerBlock - 1) / rowsPerBlock, 0};
  ctx.launch.grid[1] =
      spec.lastTokenOnly ? GridDim{1, 0} : GridDim{1, tokensPerBlock};
}

/// Collects the matmul's operands; `epilogue` is the residual llm.add that
/// consumes its result, if the dispatch fused one.
FailureOr<MatmulSpec> getMatmulSpec(Operation *anchor, llm::AddOp epilogue,
                                    const GeneratorContext &ctx) {
  MatmulSpec spec;
  MatmulOperands &ops = spec.ops;
  Value input, weight, result;
  if (auto matmul = dyn_cast<MatmulOp>(anchor)) {
    input = matmul.getInput();
    weight = matmul.getWeight();
    result = matmul.getResult();
    auto qtensor = cast<QTensorType>(weight.getType());
    ops.scheme = qtensor.getScheme();
    ops.rows = qtensor.getShape()[0];
    ops.cols = qtensor.getShape()[1];
    ops.elementType = cast<FloatType>(matmul.getType().getElementType());
  } else {
    auto linear = dyn_cast<llm::LinearOp>(anchor);
    auto logits = dyn_cast<llm::LogitsOp>(anchor);
    input = linear ? linear.getInput() : logits.getInput();
    weight = linear ? linear.getWeight() : logits.getWeight();
    result = anchor->getResult(0);
    spec.lastTokenOnly = logits && logits.getLastTokenOnly();
    auto type = cast<RankedTensorType>(weight.getType());
    ops.rows = type.getDimSize(0);
    ops.cols = type.getDimSize(1);
    ops.elementType = cast<FloatType>(type.getElementType());
  }
  const ValueMap &values = ctx.values;
  if (failed(requireValues(anchor, values, {input, weight})))
    return failure();
  ops.input = values.lookup(input);
  ArrayRef<Value> weightValues = values.lookupAll(weight);
  ops.components.assign(weightValues.begin(), weightValues.end());
  ops.tokens = ctx.signature.tokens;
  ops.pipelineStages = ctx.options.pipelineStages;
  if (epilogue) {
    Value residual =
        epilogue.getLhs() == result ? epilogue.getRhs() : epilogue.getLhs();
    if (failed(requireValues(epilogue, values, {residual})))
      return failure();
    ops.residual = values.lookup(residual);
    result = epilogue.getResult();
  }
  FailureOr<Value> output = getOutput(anchor, values, result);
  if (failed(output))
    return failure();
  ops.output = *output;
  return spec;
}

LogicalResult buildMatmul(Operation *anchor, llm::AddOp epilogue,
                          GeneratorContext &ctx) {
  FailureOr<MatmulSpec> spec = getMatmulSpec(anchor, epilogue, ctx);
  if (failed(spec))
    return failure();
  int64_t maxRows = cast<MemRefType>(spec->ops.input.getType()).getDimSize(0);
  // Prefill (S may exceed 8) goes to the tensor cores where they apply.
  if (!spec->lastTokenOnly && maxRows >= 16 && ctx.options.useTensorCores &&
      canUseMMAMatmul(spec->ops))
    return buildMMAMatmul(ctx.kb.b, ctx.kb.loc, ctx.kb.func, spec->ops,
                          ctx.launch);
  int64_t tokensPerBlock =
      spec->lastTokenOnly ? 1 : std::min(kMatmulTokens, maxRows);
  buildMatmulBody(*spec, ctx, tokensPerBlock);
  return success();
}

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
  if (ops.size() > 1 && !epilogue)
    return ops[1]->emitError()
           << "CUDA codegen: a kernel holds one op, or a matmul and its "
              "residual add";

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
  SmallVector<Value> best = kb.loop(
      kb.threadId(), kb.index(vocabSize), kb.index(kBlock),
      ValueRange{minusInf, noIndex}, [&](Value i, ValueRange acc) {
        Value logit =
            memref::LoadOp::create(b, loc, logits, ValueRange{kb.index(0), i});
        Value index = arith::IndexCastOp::create(b, loc, b.getI32Type(), i);
        auto [value, at] = pickBetter(kb, acc[0], acc[1], logit, index);
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

FailureOr<std::vector<KernelLaunch>>
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
  std::vector<KernelLaunch> launches(1);
  KernelLaunch &launch = launches.front();
  launch.kernel = kernel.getSymName().str();
  launch.entry = launch.kernel;
  launch.workspaceBytes = workspaceFloats * 4;
  b.setInsertionPoint(func->getBody().front().getTerminator());
  KernelBuilder kb(b, kernel.getLoc(), *func);
  ValueMap values(kernel, signature);
  std::vector<KernelLaunch> followUps;
  GeneratorContext ctx{kb,     values, signature, options,
                       launch, kernel, followUps};
  if (failed(buildBody(kernel, ctx))) {
    func->erase();
    return failure();
  }
  finishEntry(*func, launch);
  launches.insert(launches.end(), followUps.begin(), followUps.end());
  return launches;
}
