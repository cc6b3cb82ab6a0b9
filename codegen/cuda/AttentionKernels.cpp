//===- AttentionKernels.cpp - causal GQA attention and flash-decoding -----===//
#include "codegen/cuda/GeneratorContext.h"

#include "dialect/LLM/LLMOps.h"
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
/// The split decode attention kernel's register bound (nvvm.maxnreg).
constexpr int64_t kSplitAttentionMaxRegisters = 64;
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

  /// scale * q.k_j into scores[j - lo] for j in [lo, hi): in 16-byte pieces
  /// (scoreKeysInPieces) where the head allows, else one warp per key, the
  /// lanes splitting the head dimension an element at a time, a shuffle
  /// reduction per dot product. Returns each thread's running max (reduce
  /// it over the block; its barriers publish the scores).
  Value scoreKeys(Value query, Value scores, Value lo, Value hi) {
    if (int64_t width = getRowPieceWidth())
      return scoreKeysInPieces(query, scores, lo, hi, width);
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

  /// Elements of a K or V row one lane reads at once: 16 bytes, or more
  /// where that leaves more than a warp of lanes per row; 0 when a row does
  /// not split into a power-of-two number of such pieces (the scalar
  /// kernels then read it an element per lane).
  int64_t getRowPieceWidth() {
    int64_t width =
        KernelBuilder::getVectorWidth({kCache, vCache, k, v}, headDim);
    while (headDim / width > kWarpSize && headDim % (width * 2) == 0)
      width *= 2;
    int64_t lanes = headDim / width;
    return lanes <= kWarpSize && llvm::isPowerOf2_64(lanes) ? width : 0;
  }

  /// Like forEachKey, but keys come `perGroup` at a time, lane group `sub`
  /// taking key g + sub of each group start g (from `lo + first` with
  /// `step`), so that a warp's loop is uniform: the last group's keys past
  /// the range are `valid` = false and read the range's last row.
  /// `body(source, sourceRow, key, valid, carried)`.
  SmallVector<Value> forEachKeyGroup(
      Value lo, Value hi, Value first, int64_t step, Value sub, Value cache,
      Value fresh, ValueRange inits,
      function_ref<SmallVector<Value>(Value, Value, Value, Value, ValueRange)>
          body) {
    auto phase = [&](Value source, Value begin, Value end, Value rowOffset,
                     ValueRange carried) {
      return kb.loop(kb.add(begin, first), end, kb.index(step), carried,
                     [&](Value g, ValueRange acc) {
                       Value key = kb.add(g, sub);
                       Value valid =
                           kb.cmp(arith::CmpIPredicate::ult, key, end);
                       Value row = kb.sub(
                           kb.minU(key, kb.sub(end, kb.index(1))), rowOffset);
                       return body(source, row, key, valid, acc);
                     });
    };
    SmallVector<Value> acc =
        phase(cache, lo, kb.minU(hi, startPos), kb.index(0), inits);
    return phase(fresh, arith::MaxUIOp::create(b, loc, lo, startPos),
                 arith::MaxUIOp::create(b, loc, hi, startPos), startPos, acc);
  }

  /// scoreKeys with 16-byte reads of the key rows: `headDim / width` lanes
  /// per key (a warp takes 32 / that many keys at a time), each with its
  /// slice of q in registers, a shuffle reduction within the key's lanes.
  Value scoreKeysInPieces(Value query, Value scores, Value lo, Value hi,
                          int64_t width) {
    int64_t lanes = headDim / width, perWarp = kWarpSize / lanes;
    float scale = op.getScaleOrDefault();
    Value sub = kb.divU(lane, kb.index(lanes));
    Value part = kb.remU(lane, kb.index(lanes));
    Value slice = kb.mul(part, kb.index(width));
    SmallVector<Value> qs;
    for (int64_t e = 0; e < width; ++e)
      qs.push_back(memref::LoadOp::create(
          b, loc, query, ValueRange{kb.add(slice, kb.index(e))}));
    Value col = kb.add(kvBase, slice);
    Value minusInf = kb.f32(-std::numeric_limits<float>::infinity());
    return forEachKeyGroup(
               lo, hi, kb.mul(warp, kb.index(perWarp)),
               kRowBlock / kWarpSize * perWarp, sub, kCache, k,
               ValueRange{minusInf},
               [&](Value source, Value row, Value key, Value valid,
                   ValueRange acc) {
                 SmallVector<Value> ks = kb.loadF32s(source, {row, col}, width);
                 Value partial = kb.f32(0.0f);
                 for (auto [qe, ke] : llvm::zip(qs, ks))
                   partial = kb.addF(partial, kb.mulF(qe, ke));
                 for (int64_t offset = lanes / 2; offset > 0; offset /= 2)
                   partial = kb.addF(
                       partial,
                       gpu::ShuffleOp::create(b, loc, partial, offset,
                                              kWarpSize, gpu::ShuffleMode::XOR)
                           .getShuffleResult());
                 Value score = kb.mulF(kb.f32(scale), partial);
                 Value writes = arith::AndIOp::create(
                     b, loc, valid,
                     kb.cmp(arith::CmpIPredicate::eq, part, kb.index(0)));
                 kb.ifThen(writes, [&] {
                   memref::StoreOp::create(b, loc, score, scores,
                                           ValueRange{kb.sub(key, lo)});
                 });
                 Value max = kb.combine(Reduction::Max, acc.front(), score);
                 return SmallVector<Value>{
                     arith::SelectOp::create(b, loc, valid, max, acc.front())};
               })
        .front();
  }

  /// Thread groups of weighValuesInPieces: a row's lanes each, at most
  /// kMaxValueGroups (a small head would otherwise make 64 groups whose
  /// sums one thread adds up per element).
  static constexpr int64_t kMaxValueGroups = 16;
  int64_t getValueGroups(int64_t width) {
    return std::min(kRowBlock / (headDim / width), kMaxValueGroups);
  }

  /// Shared floats weighValuesInPieces needs (0 with the scalar kernel).
  int64_t getWeighScratchFloats() {
    int64_t width = getRowPieceWidth();
    return width ? getValueGroups(width) * headDim : 0;
  }

  /// weighValues with 16-byte reads of the value rows: `headDim / width`
  /// threads per row, up to kMaxValueGroups groups of them taking every
  /// groups-th key; the groups' partial sums meet in shared memory and one
  /// thread per element adds them in group order.
  void weighValuesInPieces(Value scores, Value lo, Value hi, Value divisor,
                           int64_t width,
                           function_ref<void(Value, Value)> emit) {
    int64_t lanes = headDim / width, groups = getValueGroups(width);
    Value partials = kb.sharedArray(groups * headDim);
    Value tid = kb.threadId();
    Value groupIndex = kb.divU(tid, kb.index(lanes));
    Value slice = kb.mul(kb.remU(tid, kb.index(lanes)), kb.index(width));
    Value col = kb.add(kvBase, slice);
    kb.ifThen(
        kb.cmp(arith::CmpIPredicate::ult, tid, kb.index(groups * lanes)), [&] {
          SmallVector<Value> zeros(width, kb.f32(0.0f));
          SmallVector<Value> sums = forEachKey(
              lo, hi, groupIndex, groups, vCache, v, zeros,
              [&](Value source, Value sourceRow, Value j, ValueRange acc) {
                Value w = memref::LoadOp::create(b, loc, scores,
                                                 ValueRange{kb.sub(j, lo)});
                if (divisor)
                  w = arith::DivFOp::create(b, loc, w, divisor);
                SmallVector<Value> vs =
                    kb.loadF32s(source, {sourceRow, col}, width);
                SmallVector<Value> next;
                for (auto [a, ve] : llvm::zip(acc, vs))
                  next.push_back(kb.addF(a, kb.mulF(w, ve)));
                return next;
              });
          Value base = kb.add(kb.mul(groupIndex, kb.index(headDim)), slice);
          for (auto [e, sum] : llvm::enumerate(sums))
            memref::StoreOp::create(b, loc, sum, partials,
                                    ValueRange{kb.add(base, kb.index(e))});
        });
    gpu::BarrierOp::create(b, loc);
    kb.blockLoop(kb.index(headDim), kRowBlock, [&](Value d) {
      Value total = memref::LoadOp::create(b, loc, partials, ValueRange{d});
      for (int64_t g = 1; g < groups; ++g)
        total =
            kb.addF(total, memref::LoadOp::create(
                               b, loc, partials,
                               ValueRange{kb.add(d, kb.index(g * headDim))}));
      emit(d, total);
    });
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

  /// For each element d of the head, sum_j w_j v_j[d] over j in [lo, hi)
  /// with w_j = scores[j - lo] / divisor (or undivided); `emit(d, acc)`
  /// stores it. In 16-byte pieces (weighValuesInPieces) where the head
  /// allows, else one thread per element, value rows read coalesced.
  void weighValues(Value scores, Value lo, Value hi, Value divisor,
                   function_ref<void(Value, Value)> emit) {
    if (int64_t width = getRowPieceWidth())
      return weighValuesInPieces(scores, lo, hi, divisor, width, emit);
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
  int64_t sharedBytes =
      (ab.maxKeys + ab.headDim + kWarpSize + ab.getWeighScratchFloats()) * 4;
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
  return buildInlinePTX(b, loc, b.getF32Type(), ValueRange{address},
                        "ld.global.cg.f32 $0, [$1];", "=f,l",
                        /*hasSideEffects=*/true);
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
  // m and l first: they are then not live across the value loops (ptxas
  // spilled them there).
  kb.ifThen(kb.cmp(arith::CmpIPredicate::eq, kb.threadId(), kb.index(0)), [&] {
    memref::StoreOp::create(b, loc, max, workspace,
                            ValueRange{kb.add(base, kb.index(ab.headDim))});
    memref::StoreOp::create(b, loc, sum, workspace,
                            ValueRange{kb.add(base, kb.index(ab.headDim + 1))});
  });
  ab.weighValues(scores, lo, hi, Value(), [&](Value d, Value acc) {
    memref::StoreOp::create(b, loc, acc, workspace,
                            ValueRange{kb.add(base, d)});
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
  // Without a register bound ptxas aims this kernel at 32 registers and
  // spills a loop bound (stories260K's heads); 64 leaves 8 blocks of 128
  // threads an SM, more than a decode step's H * splits blocks fill.
  kb.func->setAttr(NVVM::NVVMDialect::getMaxnregAttrName(),
                   b.getI32IntegerAttr(kSplitAttentionMaxRegisters));
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
