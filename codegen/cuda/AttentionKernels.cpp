//===- AttentionKernels.cpp - causal GQA attention and flash-decoding -----===//
#include "codegen/cuda/GeneratorContext.h"

#include "dialect/LLM/LLMOps.h"
#include "dialect/MixQ/MixQAttrs.h"
#include "dialect/MixQ/MixQOps.h"
#include "dialect/MixQ/MixQTypes.h"
#include "dialect/MixQ/SchemeUtils.h"
#include "passes/Dispatch.h"
#include "passes/LLMFormulas.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
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

/// Decode attention over a cache longer than this is split along the keys
/// (flash-decoding): one block per (head, chunk of this many keys).
constexpr int64_t kKeysPerSplit = 256;
} // namespace

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
    // Per (head, split): the partial output, its max and its sum; then one
    // arrival counter per head.
    int64_t heads = attention.getNumHeads();
    int64_t headDim = attention.getHeadDim();
    return {splits, heads * splits * (headDim + 2) + heads};
  }
  return {};
}
namespace {

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

/// workspace[index], read from L2 (ld.global.cg): a value another block of
/// this launch wrote, which L1 (not coherent between SMs within a launch)
/// could hold stale.
Value loadFromL2(KernelBuilder &kb, Value workspace, Value index) {
  OpBuilder &b = kb.b;
  Location loc = kb.loc;
  Value base =
      memref::ExtractAlignedPointerAsIndexOp::create(b, loc, workspace);
  Value address = arith::IndexCastOp::create(
      b, loc, b.getI64Type(), kb.add(base, kb.mul(index, kb.index(4))));
  return LLVM::InlineAsmOp::create(
             b, loc, b.getF32Type(), ValueRange{address},
             b.getStringAttr("ld.global.cg.f32 $0, [$1];"),
             b.getStringAttr("=f,l"), /*has_side_effects=*/b.getUnitAttr(),
             /*is_align_stack=*/UnitAttr(),
             LLVM::TailCallKindAttr::get(
                 b.getContext(), LLVM::tailcallkind::TailCallKind::None),
             LLVM::AsmDialectAttr::get(b.getContext(),
                                       LLVM::AsmDialect::AD_ATT),
             /*operand_attrs=*/ArrayAttr())
      .getResult(0);
}

/// out[h, d] = sum_i exp(m_i - M) o_i[d] / sum_i exp(m_i - M) l_i over the
/// splits i of head `head`, M = max_i m_i. Each thread recomputes M and the
/// denominator from the (few) splits it reads.
void combineSplits(AttentionBuilder &ab, Value head, int64_t splits) {
  KernelBuilder &kb = ab.kb;
  OpBuilder &b = ab.b;
  Location loc = ab.loc;
  Value workspace = ab.ctx.signature.workspace;
  int64_t stride = ab.headDim + 2;
  Value headBase = kb.mul(head, kb.index(splits * stride));
  // Element `offset` of split `split`'s record: the output, then m, then l.
  auto at = [&](Value split, Value offset) {
    Value index =
        kb.add(kb.add(headBase, kb.mul(split, kb.index(stride))), offset);
    return loadFromL2(kb, workspace, index);
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
}

/// Whether this block is the last of its head's `splits` to finish: thread
/// 0 counts the block in (after a device-scope fence that publishes the
/// block's record, the pattern of cooperative groups' grid sync) and tells
/// the block through shared memory. The last one resets the counter, so
/// that the next launch (the next layer, the next step) finds it at 0 as
/// the executor's zeroed workspace starts it.
Value arriveLast(AttentionBuilder &ab, Value counter, int64_t splits) {
  KernelBuilder &kb = ab.kb;
  OpBuilder &b = ab.b;
  Location loc = ab.loc;
  Value workspace = ab.ctx.signature.workspace;
  Value flag = kb.sharedArray(1);
  gpu::BarrierOp::create(b, loc);
  kb.ifThen(kb.cmp(arith::CmpIPredicate::eq, kb.threadId(), kb.index(0)), [&] {
    NVVM::MembarOp::create(b, loc, NVVM::MemScopeKind::GPU);
    // Counts are small integers, exact in f32.
    Value before = memref::AtomicRMWOp::create(
        b, loc, arith::AtomicRMWKind::addf, kb.f32(1.0f), workspace,
        ValueRange{counter});
    NVVM::MembarOp::create(b, loc, NVVM::MemScopeKind::GPU);
    Value last = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ,
                                       before, kb.f32(float(splits - 1)));
    memref::StoreOp::create(
        b, loc,
        arith::SelectOp::create(b, loc, last, kb.f32(1.0f), kb.f32(0.0f)), flag,
        ValueRange{kb.index(0)});
  });
  gpu::BarrierOp::create(b, loc);
  Value mark = memref::LoadOp::create(b, loc, flag, ValueRange{kb.index(0)});
  return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, mark,
                               kb.f32(1.0f));
}

/// Flash-decoding in one launch: block (head, split) takes keys [split *
/// kKeysPerSplit, ...) of the live prefix and writes its unnormalized output
/// sum_j e_j v_j, its max m and its sum l = sum_j e_j (e_j = exp(s_j - m))
/// to workspace[head][split]; the head's last block to finish combines the
/// records (a second launch for the combine cost a kernel per layer).
LogicalResult buildSplitAttention(AttentionBuilder &ab, int64_t splits) {
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
  Value counter = kb.add(kb.index(ab.heads * splits * stride), ab.head);
  kb.ifThen(arriveLast(ab, counter, splits), [&] {
    combineSplits(ab, ab.head, splits);
    kb.ifThen(kb.cmp(arith::CmpIPredicate::eq, kb.threadId(), kb.index(0)),
              [&] {
                memref::StoreOp::create(b, loc, kb.f32(0.0f), workspace,
                                        ValueRange{counter});
              });
  });
  ab.ctx.launch.block = {kRowBlock, 1, 1};
  ab.ctx.launch.grid[0] = GridDim{ab.heads, 0};
  ab.ctx.launch.grid[1] = GridDim{splits, 0};
  return success();
}
} // namespace

LogicalResult buildAttention(llm::AttentionOp op, GeneratorContext &ctx) {
  AttentionSplit split = getAttentionSplit(ctx.kernel);
  AttentionBuilder builder(op, ctx);
  if (failed(builder.bind(ctx.values)))
    return failure();
  if (split.splits == 0)
    return buildSinglePassAttention(builder);
  return buildSplitAttention(builder, split.splits);
}
} // namespace mlir::mixq::cuda::gen
