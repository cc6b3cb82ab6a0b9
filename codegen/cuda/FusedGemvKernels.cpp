//===- FusedGemvKernels.cpp - fused decode dispatches ---------------------===//
#include "codegen/cuda/GeneratorContext.h"
#include "codegen/cuda/MMAMatmul.h"
#include "codegen/cuda/MatmulKernelsInternal.h"

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
#include "llvm/ADT/SmallBitVector.h"
#include "llvm/ADT/TypeSwitch.h"

#include <algorithm>

using namespace mlir;
using namespace mlir::mixq;
using namespace mlir::mixq::cuda;

//===----------------------------------------------------------------------===//
// Fused decode GEMV: rms_norm prologue, sibling matmuls, rope / SwiGLU /
// residual epilogues (--mixq-form-dispatches fuse-decode)
//===----------------------------------------------------------------------===//

namespace mlir::mixq::cuda::gen {
using namespace matmul;

namespace {

/// How a segment's epilogue turns the f32 sums of a task's rows into
/// output elements.
enum class Epilogue { Store, Residual, Rope, SwiGLU };

/// The output rows of one weight (or of gate and up) that a range of the
/// fused kernel's blocks computes. Its rows are grouped in tasks of `slots`
/// rows that one epilogue combines: a rope pair of rows of one weight, or
/// gate row i with up row i. A block always holds whole tasks, so its
/// epilogue finds every row of a task in the block's shared memory.
struct Segment {
  Epilogue epilogue = Epilogue::Store;
  /// The weight per slot (one for every epilogue but SwiGLU's two).
  SmallVector<MatmulOperands, 2> weights;
  /// Each weight's mixq.quantize_act of x, or null: the rows of that weight
  /// read x quantized for it (buildStagedInputs).
  SmallVector<QuantizeActOp, 2> quantizers;
  int64_t slots = 1;
  int64_t tasks = 0;
  Value output, residual;
  mutable llm::RopeOp rope; // Op accessors are not const
};

/// The weight row that slot `slot` of task `task` reads.
Value getSlotRow(KernelBuilder &kb, const Segment &segment, Value task,
                 Value slot) {
  if (segment.epilogue != Epilogue::Rope)
    return task;
  int64_t headDim = segment.rope.getHeadDim(), half = headDim / 2;
  if (segment.rope.getLayout() == llm::RopeLayout::Interleaved)
    return kb.add(kb.mul(task, kb.index(2)), slot);
  // Rotate-half: pair i of head h is (h*Dh + i, h*Dh + i + Dh/2).
  Value head = kb.divU(task, kb.index(half));
  Value pair = kb.remU(task, kb.index(half));
  return kb.add(kb.add(kb.mul(head, kb.index(headDim)), pair),
                kb.mul(slot, kb.index(half)));
}

/// Whether any slot has a quantize_act.
bool hasQuantizer(ArrayRef<QuantizeActOp> quantizers) {
  return llvm::any_of(quantizers,
                      [](QuantizeActOp quantizer) { return bool(quantizer); });
}

/// The x that slot `slot`'s rows read: the slot's own staged copy where
/// the segment has one per slot, the single one otherwise.
Value getSlotInput(ValueRange inputs, int64_t slot) {
  return inputs[std::min<int64_t>(slot, inputs.size() - 1)];
}

/// Output element(s) of task `task` from its rows' f32 sums `sums`. Each
/// matmul result is rounded to T first, as the unfused graph stores it, and
/// the epilogue computes exactly what its own kernel would.
LogicalResult storeTask(KernelBuilder &kb, GeneratorContext &ctx,
                        const Segment &segment, Value task, ValueRange sums,
                        Value freqs) {
  OpBuilder &b = kb.b;
  Location loc = kb.loc;
  FloatType type = segment.weights.front().elementType;
  auto rounded = [&](Value sum) {
    return buildExtendToF32(b, loc, buildTruncateFromF32(b, loc, sum, type));
  };
  Value token = kb.index(0);
  switch (segment.epilogue) {
  case Epilogue::Store:
    kb.storeF32(sums[0], segment.output, {token, task});
    return success();
  case Epilogue::Residual:
    kb.storeF32(
        kb.addF(kb.loadF32(segment.residual, {token, task}), rounded(sums[0])),
        segment.output, {token, task});
    return success();
  case Epilogue::SwiGLU:
    kb.storeF32(buildSwiGLU(b, loc, rounded(sums[0]), rounded(sums[1])),
                segment.output, {token, task});
    return success();
  case Epilogue::Rope: {
    FailureOr<Value> position = buildRopePositionF32(segment.rope, ctx, token);
    if (failed(position))
      return failure();
    int64_t half = segment.rope.getHeadDim() / 2;
    Value pair = kb.remU(task, kb.index(half));
    Value freq = memref::LoadOp::create(b, loc, freqs, ValueRange{pair});
    Value angle = kb.mulF(*position, freq);
    Value cos = math::CosOp::create(b, loc, angle);
    Value sin = math::SinOp::create(b, loc, angle);
    Value first = rounded(sums[0]), second = rounded(sums[1]);
    Value isTrue = arith::ConstantIntOp::create(b, loc, b.getI1Type(), 1);
    Value isFalse = arith::ConstantIntOp::create(b, loc, b.getI1Type(), 0);
    kb.storeF32(buildRopeElement(b, loc, first, second, cos, sin, isTrue),
                segment.output,
                {token, getSlotRow(kb, segment, task, kb.index(0))});
    kb.storeF32(buildRopeElement(b, loc, second, first, cos, sin, isFalse),
                segment.output,
                {token, getSlotRow(kb, segment, task, kb.index(1))});
    return success();
  }
  }
  return success();
}

/// After the block's barrier, one thread per task of the block adds the
/// split-K slices of its rows' sums (`sums`: slice-major, rowsPerBlock rows
/// each, task-major within) in a fixed order, as the unfused GEMV, and
/// applies the epilogue.
LogicalResult storeBlockTasks(GeneratorContext &ctx, const Segment &segment,
                              const GemvShape &shape, Value block, Value sums,
                              Value freqs) {
  KernelBuilder &kb = ctx.kb;
  int64_t slots = segment.slots, splitK = shape.splitK;
  int64_t rowsPerBlock = shape.rowsPerBlock;
  int64_t tasksPerBlock = rowsPerBlock / slots;
  Value tid = kb.threadId();
  Value task = kb.add(kb.mul(block, kb.index(tasksPerBlock)), tid);
  Value storer = arith::AndIOp::create(
      kb.b, kb.loc,
      kb.cmp(arith::CmpIPredicate::ult, tid, kb.index(tasksPerBlock)),
      kb.cmp(arith::CmpIPredicate::ult, task, kb.index(segment.tasks)));
  LogicalResult result = success();
  kb.ifThen(storer, [&] {
    SmallVector<Value> taskSums;
    for (int64_t s = 0; s < slots; ++s) {
      Value row = kb.add(kb.mul(tid, kb.index(slots)), kb.index(s));
      taskSums.push_back(sumSplitKSlices(kb, sums, row, rowsPerBlock, splitK));
    }
    result = storeTask(kb, ctx, segment, task, taskSums, freqs);
  });
  return result;
}

/// The segment's part of the kernel, for its block `block`: the warps
/// compute their rows' sums into shared memory, and after a barrier (the
/// caller's branch is uniform over the block) one thread per task of the
/// block applies the epilogue.
LogicalResult buildSegment(GeneratorContext &ctx, const Segment &segment,
                           GemvShape shape, Value block, ValueRange inputs,
                           StringRef suffix) {
  KernelBuilder &kb = ctx.kb;
  const MatmulOperands &ops = segment.weights.front();
  allocateResidentTiles(kb, ops, shape.tiling);
  Value freqs;
  if (segment.rope)
    freqs = buildRopeFrequencyTable(kb, segment.rope, suffix);
  int64_t splitK = shape.splitK, rowsPerWarp = shape.rowsPerWarp;
  int64_t rowsPerBlock = shape.rowsPerBlock, slots = segment.slots;
  int64_t rows = segment.tasks * slots;
  Value sums = kb.sharedArray(splitK * rowsPerBlock);
  ThreadIds ids = getThreadIds(kb, splitK);
  Value tid = ids.tid, warp = ids.warp, lane = ids.lane, slice = ids.slice;
  Value rowInBlock =
      kb.mul(kb.divU(warp, kb.index(splitK)), kb.index(rowsPerWarp));
  Value firstRow = kb.add(kb.mul(block, kb.index(rowsPerBlock)), rowInBlock);
  // The warp's rows for slot `forced` of a warp with one row, or for the
  // slots its rows' positions give.
  auto getWarpRows = [&](std::optional<int64_t> forced) {
    SmallVector<WarpRow> warpRows;
    for (int64_t j = 0; j < rowsPerWarp; ++j) {
      // Segment row v = task * slots + slot; past the end, the last row is
      // recomputed and never stored.
      Value v = kb.minU(kb.add(firstRow, kb.index(j)), kb.index(rows - 1));
      Value task = kb.divU(v, kb.index(slots));
      std::optional<int64_t> known = forced;
      if (rowsPerWarp % slots == 0) // rowsPerBlock too: v % slots == j % slots
        known = j % slots;
      Value slot = known ? kb.index(*known) : kb.remU(v, kb.index(slots));
      SmallVector<Value> components = segment.weights.front().components;
      Value input = inputs.front();
      if (known && segment.weights.size() > 1) {
        components = segment.weights[*known].components;
        input = getSlotInput(inputs, *known);
      }
      warpRows.push_back(
          {components, getSlotRow(kb, segment, task, slot),
           kb.add(kb.mul(warp, kb.index(rowsPerWarp)), kb.index(j)), input});
    }
    return warpRows;
  };
  auto buildRows = [&](ArrayRef<WarpRow> warpRows) {
    // Staging tiles per loop (--mixq-pipeline-async-copies multi-buffers an
    // alloc only used in one loop), sharing memory across the loops: the
    // gate and up loops of one block run at once, but each warp touches
    // only its own tile rows.
    MatmulTiling tiling = shape.tiling;
    allocateStagingTiles(kb, ops, tiling, /*exclusive=*/true);
    for (const WarpRow &row : warpRows)
      loadResidentRows(kb, ops, tiling, row.components, row.loadRow,
                       row.tileRow, lane);
    SmallVector<Value> accs =
        buildKLoop(kb, ops, tiling, warpRows, inputs.front(), {kb.index(0)},
                   lane, slice, splitK);
    for (int64_t j = 0; j < rowsPerWarp; ++j) {
      Value total = kb.warpReduce(Reduction::Sum, accs[j]);
      Value at = kb.add(kb.mul(slice, kb.index(rowsPerBlock)),
                        kb.add(rowInBlock, kb.index(j)));
      kb.ifThen(kb.cmp(arith::CmpIPredicate::eq, lane, kb.index(0)), [&] {
        memref::StoreOp::create(kb.b, kb.loc, total, sums, ValueRange{at});
      });
    }
  };
  kb.ifThen(kb.cmp(arith::CmpIPredicate::ult, firstRow, kb.index(rows)), [&] {
    // A warp with one row of a two-weight segment (SwiGLU) learns its
    // weight at run time: one loop per weight, so that the loop addresses
    // one weight's components (selecting between them cost mixed 27 more
    // registers).
    if (rowsPerWarp % slots == 0 || segment.weights.size() == 1)
      return buildRows(getWarpRows(std::nullopt));
    Value slot = kb.remU(firstRow, kb.index(slots));
    for (int64_t s = 0; s < slots; ++s)
      kb.ifThen(kb.cmp(arith::CmpIPredicate::eq, slot, kb.index(s)),
                [&] { buildRows(getWarpRows(s)); });
  });
  gpu::BarrierOp::create(kb.b, kb.loc);
  return storeBlockTasks(ctx, segment, shape, block, sums, freqs);
}

/// The tensor-core form of buildSegment (GemvShape::mma): each warp group
/// computes 16 tasks' rows of one slot (gate or up, a rope pair's first or
/// second row), so that the loop reads one weight; split-K over the warps
/// of a group; then the same epilogue. Resident tiles come from `shared`
/// where a segment before had one of the same type.
LogicalResult buildMmaSegment(GeneratorContext &ctx, const Segment &segment,
                              GemvShape shape, Value block, ValueRange inputs,
                              StringRef suffix, const MmaGemvLayout &layout,
                              SharedResidentTiles &shared,
                              const InputPermutation *xPermutation) {
  KernelBuilder &kb = ctx.kb;
  const MatmulOperands &ops = segment.weights.front();
  shape.tiling.blockPublishesResidentRows = true; // the barrier below
  allocateResidentTiles(kb, ops, shape.tiling, kMmaGemvResidentBytes, &shared);
  Value freqs;
  if (segment.rope)
    freqs = buildRopeFrequencyTable(kb, segment.rope, suffix);
  int64_t splitK = shape.splitK, rowsPerBlock = shape.rowsPerBlock;
  int64_t slots = segment.slots, tasksPerBlock = rowsPerBlock / slots;
  // One group per slot: the groups share their tasks, so the branch below
  // is uniform over the block and its barrier legal.
  assert(kMatmulWarps / splitK == slots && "one warp group per slot");
  Value sums = kb.sharedArray(splitK * rowsPerBlock);
  ThreadIds ids = getThreadIds(kb, splitK);
  Value tid = ids.tid, warp = ids.warp, lane = ids.lane, slice = ids.slice;
  Value group = kb.divU(warp, kb.index(splitK));
  // Groups g * slots .. g * slots + slots - 1 share 16 tasks.
  Value firstTaskInBlock =
      kb.mul(kb.divU(group, kb.index(slots)), kb.index(kMmaGemvRows));
  Value firstTask =
      kb.add(kb.mul(block, kb.index(tasksPerBlock)), firstTaskInBlock);
  Value groupSlot = kb.remU(group, kb.index(slots));
  Value firstResidentRow = kb.mul(group, kb.index(kMmaGemvRows));
  auto getComponents = [&](int64_t slot) -> ValueRange {
    return segment.weights[segment.weights.size() > 1 ? slot : 0].components;
  };
  auto getRowOf = [&](int64_t slot) {
    return [&, slot](Value m) {
      // Past the last task, the last one is recomputed and never stored.
      Value task = kb.minU(kb.add(firstTask, m), kb.index(segment.tasks - 1));
      return getSlotRow(kb, segment, task, kb.index(slot));
    };
  };
  // Slot by slot, each warp group in the branch of its own slot (one loop
  // per weight: selecting between weights cost mixed 27 more registers).
  auto forEachSlot = [&](function_ref<void(int64_t)> body) {
    if (slots == 1)
      return body(0);
    for (int64_t slot = 0; slot < slots; ++slot)
      kb.ifThen(kb.cmp(arith::CmpIPredicate::eq, groupSlot, kb.index(slot)),
                [&] { body(slot); });
  };
  // The groups of a block share its tasks: the branch is uniform over the
  // block, so the barrier publishing the resident rows is legal.
  kb.ifThen(
      kb.cmp(arith::CmpIPredicate::ult, firstTask, kb.index(segment.tasks)),
      [&] {
        if (shape.tiling.hasResidentRows()) {
          forEachSlot([&](int64_t slot) {
            loadMmaResidentRows(kb, ops, shape.tiling, getComponents(slot),
                                getRowOf(slot), firstResidentRow, lane, slice,
                                splitK);
          });
          gpu::BarrierOp::create(kb.b, kb.loc);
        }
        forEachSlot([&](int64_t slot) {
          MatmulTiling tiling = shape.tiling;
          allocateStagingTiles(kb, ops, tiling, /*exclusive=*/true);
          Value base = kb.add(kb.mul(slice, kb.index(rowsPerBlock)),
                              kb.add(kb.mul(firstTaskInBlock, kb.index(slots)),
                                     kb.index(slot)));
          buildMmaRows(kb, ops, tiling, layout, getComponents(slot),
                       getRowOf(slot), getSlotInput(inputs, slot), kb.index(0),
                       firstResidentRow, warp, lane, slice, splitK,
                       {sums, base, slots}, xPermutation);
        });
      });
  gpu::BarrierOp::create(kb.b, kb.loc);
  return storeBlockTasks(ctx, segment, shape, block, sums, freqs);
}

/// The ops a fused GEMV computes a segment of.
bool isMatmulLike(Operation *op) {
  return isa<MatmulOp, llm::LinearOp, llm::LogitsOp>(op);
}

/// The mixq.quantize_act of the dispatch that gives matmul `op` its x, or
/// null.
QuantizeActOp getQuantizer(Operation *op, ArrayRef<Operation *> group) {
  auto quantizer = op->getOperand(0).getDefiningOp<QuantizeActOp>();
  return quantizer && llvm::is_contained(group, quantizer.getOperation())
             ? quantizer
             : QuantizeActOp();
}

/// The x a matmul of the dispatch reads before any quantize_act of it.
Value getSourceInput(Operation *op, ArrayRef<Operation *> group) {
  if (QuantizeActOp quantizer = getQuantizer(op, group))
    return quantizer.getInput();
  return op->getOperand(0);
}

/// The sole user of `op`'s result inside the dispatch, if any.
Operation *getEpilogueOp(Operation *op, ArrayRef<Operation *> group) {
  Value result = op->getResult(0);
  if (!result.hasOneUse())
    return nullptr;
  Operation *user = *result.getUsers().begin();
  return llvm::is_contained(group, user) ? user : nullptr;
}

/// The segments of a fused dispatch, one per matmul (gate and up share
/// one), in order.
FailureOr<SmallVector<Segment, 3>> getSegments(ArrayRef<Operation *> group,
                                               GeneratorContext &ctx) {
  SmallVector<Segment, 3> segments;
  llvm::SmallPtrSet<Operation *, 8> covered;
  for (Operation *op : group) {
    if (!isMatmulLike(op))
      continue;
    FailureOr<MatmulOperands> ops = getWeightOperands(op, ctx);
    if (failed(ops))
      return failure();
    covered.insert(op);
    Segment segment;
    segment.weights.push_back(*ops);
    segment.quantizers.push_back(getQuantizer(op, group));
    segment.tasks = ops->rows;
    Operation *user = getEpilogueOp(op, group);
    Value result = op->getResult(0);
    if (auto add = dyn_cast_or_null<llm::AddOp>(user)) {
      segment.epilogue = Epilogue::Residual;
      Value residual = add.getLhs() == result ? add.getRhs() : add.getLhs();
      if (failed(requireValues(add, ctx.values, {residual})))
        return failure();
      segment.residual = ctx.values.lookup(residual);
      result = add.getResult();
    } else if (auto rope = dyn_cast_or_null<llm::RopeOp>(user)) {
      segment.epilogue = Epilogue::Rope;
      segment.rope = rope;
      segment.slots = 2;
      segment.tasks = ops->rows / 2;
      result = rope.getResult();
    } else if (auto swiglu = dyn_cast_or_null<llm::SwiGLUOp>(user)) {
      if (swiglu.getGate() != result)
        continue; // gate's segment holds up too
      Operation *up = swiglu.getUp().getDefiningOp();
      FailureOr<MatmulOperands> upOps =
          up ? getWeightOperands(up, ctx) : FailureOr<MatmulOperands>();
      if (!up || failed(upOps) ||
          up->getOperand(1).getType() != op->getOperand(1).getType())
        return swiglu.emitError() << "CUDA codegen: a fused SwiGLU needs gate "
                                     "and up matmuls with weights of one type";
      segment.epilogue = Epilogue::SwiGLU;
      segment.weights.push_back(*upOps);
      segment.quantizers.push_back(getQuantizer(up, group));
      segment.slots = 2;
      result = swiglu.getResult();
      covered.insert(up);
    }
    if (user)
      covered.insert(user);
    for (QuantizeActOp quantizer : segment.quantizers)
      if (quantizer)
        covered.insert(quantizer);
    FailureOr<Value> output = getOutput(op, ctx.values, result);
    if (failed(output))
      return failure();
    segment.output = *output;
    segments.push_back(std::move(segment));
  }
  for (Operation *op : group)
    if (!covered.contains(op) && !isa<llm::RMSNormOp>(op))
      return op->emitError() << "CUDA codegen: this op does not fit a fused "
                                "decode GEMV (norm and quantize_act "
                                "prologues, matmuls, residual/rope/SwiGLU "
                                "epilogues)";
  return segments;
}

/// The permutation of x every segment of a fused kernel takes, or none:
/// the segments share one staged x, so all must be tensor-core GEMVs whose
/// weights want the same one.
InputPermutation getSharedInputPermutation(ArrayRef<Segment> segments,
                                           ArrayRef<GemvShape> shapes) {
  std::optional<InputPermutation> shared;
  for (auto [segment, shape] : llvm::zip(segments, shapes))
    for (const MatmulOperands &weight : segment.weights) {
      InputPermutation permutation =
          getMmaInputPermutation(weight, shape.mma, shape.tiling.tileCols);
      if (!permutation || (shared && *shared != permutation))
        return {};
      shared = std::move(permutation);
    }
  return shared.value_or(InputPermutation());
}

/// Where a fused GEMV's x comes from: a row of T in global memory,
/// normalized by an rms_norm prologue or taken as is, and the order the
/// GEMVs want it in.
struct InputPrologue {
  mutable llm::RMSNormOp norm; // Op accessors are not const
  Value global, normWeight;
  InputPermutation permutation;
  /// Elements a 16-byte piece of x (and of the norm's weight) holds.
  int64_t piece = 1;
};

/// x[0, d .. d + n) in f32 as the unfused graph hands it on: normalized,
/// T(x * r * w), after a norm (`rounded`: widened back from T, as the
/// quantize_act kernel reads it; otherwise the store rounds).
SmallVector<Value> loadPrologueValues(KernelBuilder &kb,
                                      const InputPrologue &prologue, Value r,
                                      Value d, int64_t n, bool rounded) {
  Value row = kb.index(0);
  auto type = cast<FloatType>(KernelBuilder::getElementType(prologue.global));
  SmallVector<Value> values;
  for (int64_t first = 0; first < n; first += prologue.piece) {
    Value at = kb.add(d, kb.index(first));
    SmallVector<Value> xs =
        kb.loadF32s(prologue.global, {row, at}, prologue.piece);
    if (!prologue.norm) {
      llvm::append_range(values, xs);
      continue;
    }
    SmallVector<Value> ws =
        kb.loadF32s(prologue.normWeight, {at}, prologue.piece);
    for (auto [x, w] : llvm::zip(xs, ws)) {
      Value normalized = kb.mulF(kb.mulF(x, r), w);
      if (rounded)
        normalized = buildExtendToF32(
            kb.b, kb.loc, buildTruncateFromF32(kb.b, kb.loc, normalized, type));
      values.push_back(normalized);
    }
  }
  return values;
}

/// The norm's scale r = 1 / rms(x): each block sums the squares of the row
/// itself (in another order than the norm kernel; x comes from L2).
Value buildNormScale(KernelBuilder &kb, const InputPrologue &prologue,
                     Value scratch) {
  auto type = cast<MemRefType>(prologue.global.getType());
  int64_t dim = type.getDimSize(1), piece = prologue.piece;
  constexpr int64_t kBlock = kMatmulWarps * kWarpSize;
  Value partial = kb.f32(0.0f);
  forEachBlockPiece(kb, dim / piece, piece, [&](Value d, Value valid) {
    Value squares = kb.f32(0.0f);
    for (Value x : kb.loadF32s(prologue.global, {kb.index(0), d}, piece))
      squares = kb.addF(squares, kb.mulF(x, x));
    if (valid)
      squares =
          arith::SelectOp::create(kb.b, kb.loc, valid, squares, kb.f32(0.0f));
    partial = kb.addF(partial, squares);
  });
  Value sum = kb.blockReduce(Reduction::Sum, partial, scratch, kBlock);
  return buildRMSNormScale(kb.b, kb.loc, sum, dim,
                           prologue.norm.getEps().convertToFloat());
}

/// The range [lo, hi] of `quantizer`'s activation codes over x, as the
/// quantize_act kernel finds it: min(0, min x) and max(0, max x) over the
/// columns its weight does not pass through, reduced over the block.
std::pair<Value, Value> buildActivationRange(GeneratorContext &ctx,
                                             const InputPrologue &prologue,
                                             Value r, QuantizeActOp quantizer,
                                             Value scratch) {
  KernelBuilder &kb = ctx.kb;
  auto type = cast<MemRefType>(prologue.global.getType());
  int64_t dim = type.getDimSize(1), piece = prologue.piece;
  constexpr int64_t kBlock = kMatmulWarps * kWarpSize;
  auto weightType = cast<QTensorType>(quantizer.getWeight().getType());
  QuantSchemeAttrInterface scheme = weightType.getScheme();
  ComponentReader reader(ctx.values.lookupAll(quantizer.getWeight()));
  // A loop, not unrolled as the norm's pass: the column map's 16-bit
  // entries of every piece of a thread, hoisted together, cost 10-20
  // registers more than the K loop takes.
  SmallVector<Value> bounds = kb.loop(
      kb.threadId(), kb.index(dim / piece), kb.index(kBlock),
      ValueRange{kb.f32(0.0f), kb.f32(0.0f)}, [&](Value p, ValueRange acc) {
        Value d = kb.mul(p, kb.index(piece));
        SmallVector<Value> xs =
            loadPrologueValues(kb, prologue, r, d, piece, /*rounded=*/true);
        Value lo = acc[0], hi = acc[1];
        for (auto [k, x] : llvm::enumerate(xs)) {
          Value passThrough = scheme.buildIsPassthroughColumn(
              kb.b, kb.loc, reader, kb.add(d, kb.index(k)));
          Value value = arith::SelectOp::create(kb.b, kb.loc, passThrough,
                                                kb.f32(0.0f), x);
          lo = kb.combine(Reduction::MinNum, lo, value);
          hi = kb.combine(Reduction::MaxNum, hi, value);
        }
        return SmallVector<Value>{lo, hi};
      });
  Value lo = bounds[0], hi = bounds[1];
  return {kb.blockReduce(Reduction::MinNum, lo, scratch, kBlock),
          kb.blockReduce(Reduction::MaxNum, hi, scratch, kBlock)};
}

/// Stages x for a block's rows into `staged`, one shared row per slot:
/// normalized after a norm, and quantized for slot s by quantizers[s] where
/// that is set (QUIK's activation codes, dequantized: what the unfused
/// graph's quantize_act hands its matmul), permuted for the tensor-core
/// GEMVs; then a barrier. Every block recomputes the norm and the code
/// ranges from x itself (a 4096-wide row is 8 KiB from L2) rather than
/// paying a kernel of their own and a round trip through memory.
void buildStagedInputs(GeneratorContext &ctx, const InputPrologue &prologue,
                       ArrayRef<QuantizeActOp> quantizers, ValueRange staged) {
  KernelBuilder &kb = ctx.kb;
  auto type = cast<MemRefType>(prologue.global.getType());
  int64_t dim = type.getDimSize(1), piece = prologue.piece;
  // Each segment's prologue has its own scratch: one shared by q, k and v
  // saved 256 bytes but cost the q/k/v kernel 8 registers (72 -> 80).
  Value scratch = kb.sharedArray(kWarpSize);
  Value r = prologue.norm ? buildNormScale(kb, prologue, scratch) : Value();
  SmallVector<std::pair<Value, Value>, 2> ranges;
  for (QuantizeActOp quantizer : quantizers)
    ranges.push_back(
        quantizer ? buildActivationRange(ctx, prologue, r, quantizer, scratch)
                  : std::pair<Value, Value>());
  bool quantized = hasQuantizer(quantizers);
  // Stored a block at a time in the permutation's order, if any: the
  // values are only renamed before the packing, no instruction more. A
  // quantized row is stored in column order and permuted in place after,
  // a 16-byte piece at a time: a permutation block's codes (64 of them for
  // QUIK) alive at once cost its kernels 10-20 registers.
  InputPermutation permutation;
  if (!quantized)
    permutation = prologue.permutation;
  int64_t storePiece =
      permutation ? std::max(piece, permutation.blockCols) : piece;
  auto quantize = [&](QuantizeActOp quantizer, std::pair<Value, Value> range,
                      Value d, ArrayRef<Value> xs) {
    auto weightType = cast<QTensorType>(quantizer.getWeight().getType());
    QuantSchemeAttrInterface scheme = weightType.getScheme();
    ComponentReader reader(ctx.values.lookupAll(quantizer.getWeight()));
    SmallVector<Value> codes;
    for (auto [k, x] : llvm::enumerate(xs))
      codes.push_back(scheme.buildQuantizeActivation(
          kb.b, kb.loc, reader, kb.add(d, kb.index(k)), x, range.first,
          range.second, quantizer.getBits()));
    return codes;
  };
  auto store = [&](Value d) {
    SmallVector<Value> xs =
        loadPrologueValues(kb, prologue, r, d, storePiece, quantized);
    for (auto [slot, row] : llvm::enumerate(staged)) {
      SmallVector<Value> values = xs;
      if (slot < quantizers.size() && quantizers[slot])
        values = quantize(quantizers[slot], ranges[slot], d, xs);
      if (permutation)
        values = permuteInputPiece(values, permutation);
      kb.storeF32s(values, row, {kb.index(0), d});
    }
  };
  // Quantizing, a loop for the same reason as buildActivationRange's.
  if (quantized) {
    kb.blockLoop(kb.index(dim / storePiece), kMatmulWarps * kWarpSize,
                 [&](Value p) { store(kb.mul(p, kb.index(storePiece))); });
  } else {
    forEachBlockPiece(kb, dim / storePiece, storePiece,
                      [&](Value d, Value valid) {
                        if (valid)
                          kb.ifThen(valid, [&] { store(d); });
                        else
                          store(d);
                      });
  }
  gpu::BarrierOp::create(kb.b, kb.loc);
  if (!quantized || !prologue.permutation)
    return;
  for (Value row : staged)
    copyRowInPieces(kb, row, kb.index(0), row, dim, prologue.permutation);
  gpu::BarrierOp::create(kb.b, kb.loc);
}

/// The inputs a fused GEMV's quantize_act prologues need: one staged row
/// per slot of its widest quantized segment.
int64_t getQuantizedCopies(ArrayRef<Segment> segments) {
  int64_t copies = 0;
  for (const Segment &segment : segments)
    if (hasQuantizer(segment.quantizers))
      copies = std::max<int64_t>(copies, segment.quantizers.size());
  return copies;
}
} // namespace

LogicalResult buildFusedGemv(ArrayRef<Operation *> group,
                             GeneratorContext &ctx) {
  KernelBuilder &kb = ctx.kb;
  FailureOr<SmallVector<Segment, 3>> segments = getSegments(group, ctx);
  if (failed(segments))
    return failure();
  if (segments->empty())
    return group.front()->emitError()
           << "CUDA codegen: a fused dispatch without a matmul";
  // The matmuls' common input, normalized and quantized in the prologue or
  // read as is.
  Operation *firstMatmul = *llvm::find_if(group, isMatmulLike);
  Value x = getSourceInput(firstMatmul, group);
  for (Operation *op : group)
    if (isMatmulLike(op) && getSourceInput(op, group) != x)
      return op->emitError()
             << "CUDA codegen: the fused matmuls must share one input";
  auto norm = x.getDefiningOp<llm::RMSNormOp>();
  if (norm && !llvm::is_contained(group, norm.getOperation()))
    norm = nullptr;
  Value source = norm ? norm.getInput() : x;
  if (failed(requireValues(norm ? norm : firstMatmul, ctx.values, {source})))
    return failure();
  if (cast<RankedTensorType>(source.getType()).getDimSize(0) != 1)
    return group.front()->emitError()
           << "CUDA codegen: a fused decode GEMV computes a single token row";
  Value global = ctx.values.lookup(source);
  // Each segment's shape, once (a staged x has the input's element type,
  // so staging does not change them).
  SmallVector<GemvShape, 3> shapes;
  for (const Segment &segment : *segments)
    shapes.push_back(chooseGemvShape(segment.weights.front(), global,
                                     segment.tasks * segment.slots,
                                     segment.slots, /*decode=*/true));
  InputPrologue prologue;
  prologue.norm = norm;
  prologue.global = global;
  prologue.permutation = getSharedInputPermutation(*segments, shapes);
  auto globalType = cast<MemRefType>(global.getType());
  int64_t dim = globalType.getDimSize(1);
  prologue.piece = KernelBuilder::getVectorWidth({global}, dim);
  if (norm) {
    if (failed(requireValues(norm, ctx.values, {norm.getWeight()})))
      return failure();
    prologue.normWeight = ctx.values.lookup(norm.getWeight());
    prologue.piece =
        KernelBuilder::getVectorWidth({global, prologue.normWeight}, dim);
  }
  // x as the segments read it: rows staged in shared memory (a quantized
  // copy per slot, filled in each segment's blocks), or global memory.
  SmallVector<Value, 2> inputs;
  int64_t copies = getQuantizedCopies(*segments);
  int64_t zeroCols = getStagedRowZeroCols(ctx.options.gemvTileFactors);
  Type elementType = globalType.getElementType();
  if (copies > 0) {
    int64_t bytes =
        copies * (dim + zeroCols) * elementType.getIntOrFloatBitWidth() / 8;
    if (bytes > kMaxStagedInputBytes)
      return group.front()->emitError()
             << "CUDA codegen: a fused quantize_act prologue keeps " << copies
             << (copies == 1 ? " quantized copy" : " quantized copies")
             << " of x on chip, " << bytes
             << " bytes of shared memory, over the " << kMaxStagedInputBytes
             << " it may take (--mixq-form-dispatches "
                "max-quantized-row-bytes fuses less)";
    for (int64_t copy = 0; copy < copies; ++copy)
      inputs.push_back(allocateStagedRow(kb, elementType, dim, zeroCols));
  } else if (norm) {
    inputs.push_back(allocateStagedRow(kb, elementType, dim, zeroCols));
    buildStagedInputs(ctx, prologue, {}, inputs);
  } else if (llvm::any_of(shapes,
                          [](const GemvShape &shape) { return shape.mma; })) {
    // Tensor-core segments read x from shared memory, as after a norm.
    Value row = kb.index(0);
    inputs.push_back(stageInputRow(kb, global, row, kMaxStagedInputBytes,
                                   prologue.permutation, zeroCols));
  } else {
    inputs.push_back(global);
  }
  bool staged = inputs.front() != global;
  const InputPermutation *xPermutation =
      prologue.permutation && staged ? &prologue.permutation : nullptr;
  // Indirect tiles (mixed's extra codes) only where x, the staging tiles
  // and the resident ones fit static shared memory together.
  int64_t xBytes = 0;
  if (staged)
    for (Value input : inputs)
      xBytes += KernelBuilder::getByteSize(cast<MemRefType>(input.getType()));
  for (auto [segment, shape] : llvm::zip(*segments, shapes))
    dropIndirectTilesOver(segment.weights.front(), shape.tiling,
                          kMmaGemvSharedBytes - kFusedResidentReserve - xBytes);

  // Segment i takes blocks [first_i, first_i + blocks_i). The tensor-core
  // segments share their resident tiles (sized for two-row tasks in all of
  // them, so that q, k and v find one type).
  SharedResidentTiles sharedResident;
  sharedResident.bytesLeft = kMmaGemvResidentBytes;
  Value block = kb.blockId(gpu::Dimension::x);
  int64_t first = 0, weightsPerWarpIteration = 0, weightsPerWarp = 0;
  for (auto [index, segment] : llvm::enumerate(*segments)) {
    GemvShape &shape = shapes[index];
    FailureOr<MmaGemvLayout> layout = failure();
    if (shape.mma) {
      shape.tiling.residentRowsPerBlock = 2 * kMmaGemvRows;
      layout =
          getMmaGemvLayout(kb.b, kb.loc, segment.weights.front().elementType);
      if (failed(layout))
        return failure();
    }
    boundMatmulRegisters(kb, ctx.options.gemvTileFactors);
    Value inside = kb.cmp(arith::CmpIPredicate::ult, block,
                          kb.index(first + shape.blocks));
    if (first > 0)
      inside = arith::AndIOp::create(
          kb.b, kb.loc, inside,
          kb.cmp(arith::CmpIPredicate::uge, block, kb.index(first)));
    LogicalResult built = success();
    kb.ifThen(inside, [&] {
      Value segmentBlock = kb.sub(block, kb.index(first));
      std::string suffix = ("_freqs" + Twine(index)).str();
      // The branch is uniform over the block: the prologue's barriers are
      // legal here.
      ValueRange segmentInputs = inputs;
      if (copies > 0) {
        segmentInputs =
            ValueRange(inputs).take_front(segment.quantizers.size());
        buildStagedInputs(ctx, prologue, segment.quantizers, segmentInputs);
      }
      built = shape.mma ? buildMmaSegment(ctx, segment, shape, segmentBlock,
                                          segmentInputs, suffix, *layout,
                                          sharedResident, xPermutation)
                        : buildSegment(ctx, segment, shape, segmentBlock,
                                       segmentInputs, suffix);
    });
    if (failed(built))
      return failure();
    first += shape.blocks;
    // Gate and up share their block range and shape: one record each.
    for (const MatmulOperands &weight : segment.weights)
      ctx.launch.gemvs.push_back(
          describeGemv(shape, weight.rows, weight.cols, ctx.options));
    // A tensor-core lane takes two rows' tiles per step.
    int64_t laneRows = shape.mma ? kMmaGemvStagingRows : shape.rowsPerWarp;
    int64_t perIteration = kWarpSize * shape.tiling.tileCols * laneRows;
    if (perIteration > weightsPerWarpIteration) {
      weightsPerWarpIteration = perIteration;
      weightsPerWarp =
          shape.rowsPerWarp * segment.weights.front().cols / shape.splitK;
    }
  }
  ctx.launch.block = {kMatmulWarps * kWarpSize, 1, 1};
  ctx.launch.weightsPerWarpIteration = weightsPerWarpIteration;
  ctx.launch.weightsPerWarp = weightsPerWarp;
  ctx.launch.grid[0] = GridDim{first, 0};
  ctx.launch.grid[1] = GridDim{1, 0};
  return success();
}
} // namespace mlir::mixq::cuda::gen
