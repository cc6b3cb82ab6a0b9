//===- MatmulKernels.cpp - the fused dequant-GEMV ------------------------===//
#include "codegen/cuda/GeneratorContext.h"
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

#include <algorithm>

using namespace mlir;
using namespace mlir::mixq;
using namespace mlir::mixq::cuda;

namespace mlir::mixq::cuda::gen {
namespace {

/// Warps (= output rows) per block of the matmul kernel.
constexpr int64_t kMatmulWarps = 4;
/// Tokens one matmul block computes: every dequantized weight is used for
/// this many rows of x (decode has 1).
constexpr int64_t kMatmulTokens = 8;
/// Decode matmuls with at most this many output rows split K over the warps
/// of a block (split-K), so that small layers still fill the GPU.
constexpr int64_t kSplitKMaxRows = 2048;

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
    // A whole tile at a time, so that the scheme can work on packed words.
    Value values = ops.scheme.buildDequantVector(kb.b, kb.loc, reader,
                                                 {ops.rows, ops.cols}, row, col,
                                                 tileCols, ops.elementType);
    for (int64_t j = 0; j < tileCols; ++j)
      tile.push_back(buildExtendToF32(
          kb.b, kb.loc, vector::ExtractOp::create(kb.b, kb.loc, values, j)));
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
  Value tile; ///< memref<warps * rowsPerWarp x 32*elementsPerLane>, shared
};

/// The matmul's dequantization tile and what it stages per step.
/// A small per-row component (a LUT, the row's scales) the warp copies into
/// shared memory once, before its K loop.
struct ResidentComponent {
  unsigned index = 0;
  Value tile; ///< memref<warps * rowsPerWarp x X>, shared
};

struct MatmulTiling {
  int64_t tileCols = 1;
  SmallVector<StagedComponent> staged;
  SmallVector<ResidentComponent> resident;
  /// The scheme's components its dequantization reads.
  llvm::SmallDenseSet<unsigned> read;
  /// Output rows per warp: each x element a lane loads and widens is used
  /// for this many rows.
  int64_t rowsPerWarp = 1;
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
  Value loadVector(OpBuilder &builder, Location loc, unsigned index,
                   ValueRange indices, int64_t count) const override {
    read.insert(index);
    return ComponentReader::loadVector(builder, loc, index, indices, count);
  }
  mutable llvm::SmallDenseSet<unsigned> read;
};

/// The components the scheme's dequantization tile actually reads (e.g. a
/// `bitplane` of width k reads only the top k planes), found by building one
/// tile into a scratch block that is thrown away.
llvm::SmallDenseSet<unsigned> getReadComponents(const MatmulOperands &ops,
                                                int64_t tileCols) {
  RecordingReader reader(ops.components);
  (void)getDequantScalarOpsPerWeight(ops.scheme, {ops.rows, ops.cols}, tileCols,
                                     ops.elementType, &reader);
  return reader.read;
}

/// The column-tiled components of the weight the dequantization reads: the
/// scheme's that say so, or the plain matrix itself.
SmallVector<std::pair<unsigned, ComponentSpec>>
getColumnTiledComponents(const MatmulOperands &ops,
                         const llvm::SmallDenseSet<unsigned> &read) {
  SmallVector<std::pair<unsigned, ComponentSpec>> tiled;
  if (!ops.scheme) {
    auto type = cast<MemRefType>(ops.components.front().getType());
    ComponentSpec plain{"weight", type.getElementType(),
                        SmallVector<int64_t, 2>(type.getShape()), true};
    tiled.push_back({0, plain});
    return tiled;
  }
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
  llvm::SmallDenseSet<unsigned> read;
  if (ops.scheme)
    read = getReadComponents(ops, 1);
  SmallVector<std::pair<unsigned, ComponentSpec>> tiled =
      getColumnTiledComponents(ops, read);
  int64_t k = ops.cols;
  for (int64_t tileCols : {32, 16, 8, 4, 2}) {
    if (tileCols > maxTileCols || k % tileCols != 0 || tiled.empty())
      continue;
    MatmulTiling tiling{tileCols, {}, {}, read};
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
      return MatmulTiling{tileCols, {}, {}, read};
  return MatmulTiling{1, {}, {}, read};
}

/// Reads the staged components from the lane's slice of their shared tile
/// and everything else from global memory.
class StagedReader : public ComponentReader {
public:
  StagedReader(ValueRange components, KernelBuilder &kb,
               const MatmulTiling &tiling, Value tileRow, Value lane, Value col,
               int64_t cols)
      : ComponentReader(components), kb(kb), staged(tiling.staged),
        resident(tiling.resident), tileRow(tileRow), lane(lane), col(col),
        cols(cols) {}

  Value load(OpBuilder &builder, Location loc, unsigned index,
             ValueRange indices) const override {
    for (const ResidentComponent &component : resident)
      if (component.index == index)
        return memref::LoadOp::create(builder, loc, component.tile,
                                      ValueRange{tileRow, indices[1]});
    if (const StagedComponent *component = findStaged(index))
      return memref::LoadOp::create(
          builder, loc, component->tile,
          ValueRange{tileRow, getSlot(builder, loc, *component, indices[1])});
    return ComponentReader::load(builder, loc, index, indices);
  }

  /// A staged component's vector is one aligned load from the lane's slice
  /// (16 bytes wide for a whole slice: conflict-free, a quarter warp per
  /// shared-memory wavefront).
  Value loadVector(OpBuilder &builder, Location loc, unsigned index,
                   ValueRange indices, int64_t count) const override {
    const StagedComponent *component = findStaged(index);
    if (!component)
      return ComponentReader::loadVector(builder, loc, index, indices, count);
    auto memref = cast<MemRefType>(component->tile.getType());
    int64_t bytes = memref.getElementTypeBitWidth() / 8;
    // The slice is laneBytes-aligned and the offset in it a multiple of
    // count.
    int64_t alignment = std::min(count, component->elementsPerLane) * bytes;
    return vector::LoadOp::create(
        builder, loc, VectorType::get({count}, memref.getElementType()),
        component->tile,
        ValueRange{tileRow, getSlot(builder, loc, *component, indices[1])},
        /*nontemporal=*/false,
        llvm::isPowerOf2_64(alignment) ? llvm::Align(alignment)
                                       : llvm::Align(bytes));
  }

  /// The component element holding the lane's first weight of this step.
  Value firstElement(const StagedComponent &component) const {
    return kb.divU(kb.mul(col, kb.index(component.rowElements)),
                   kb.index(cols));
  }

private:
  const StagedComponent *findStaged(unsigned index) const {
    for (const StagedComponent &component : staged)
      if (component.index == index)
        return &component;
    return nullptr;
  }

  /// Where component element `element` of this step lies in the lane's
  /// slice of the staged tile.
  Value getSlot(OpBuilder &builder, Location loc,
                const StagedComponent &component, Value element) const {
    Value offset = builder.createOrFold<arith::SubIOp>(loc, element,
                                                       firstElement(component));
    return kb.add(kb.mul(lane, kb.index(component.elementsPerLane)), offset);
  }

  KernelBuilder &kb;
  ArrayRef<StagedComponent> staged;
  ArrayRef<ResidentComponent> resident;
  Value tileRow, lane, col;
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
    auto type = MemRefType::get({kMatmulWarps * tiling.rowsPerWarp,
                                 kWarpSize * component.elementsPerLane},
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
  const llvm::SmallDenseSet<unsigned> &read = tiling.read;
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
    auto tileType = MemRefType::get(
        {kMatmulWarps * tiling.rowsPerWarp, type.getDimSize(1)},
        type.getElementType(), MemRefLayoutAttrInterface{}, space);
    tiling.resident.push_back(
        {unsigned(index), kb.func.addWorkgroupAttribution(tileType, kb.loc)});
  }
}

/// The warp copies its row of every resident component into row `tileRow`
/// of the tiles, then synchronizes its lanes (bar.warp.sync: the warp may
/// be alone in this branch).
void loadResidentRows(KernelBuilder &kb, const MatmulOperands &ops,
                      ArrayRef<ResidentComponent> resident, Value row,
                      Value tileRow, Value lane) {
  if (resident.empty())
    return;
  for (const ResidentComponent &component : resident) {
    Value global = ops.components[component.index];
    int64_t size = cast<MemRefType>(global.getType()).getDimSize(1);
    kb.loop(lane, kb.index(size), kb.index(kWarpSize), [&](Value i) {
      Value value =
          memref::LoadOp::create(kb.b, kb.loc, global, ValueRange{row, i});
      memref::StoreOp::create(kb.b, kb.loc, value, component.tile,
                              ValueRange{tileRow, i});
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
               Value row, Value tileRow, Value lane) {
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
                            ValueRange{tileRow, slot});
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

/// The thread's place in a matmul block.
struct ThreadIds {
  Value tid, warp, lane;
};

/// Reduces the warp's accumulator of (token t, row outRow) and stores it:
/// lane 0, or with split-K thread 0 after summing the warps' partials in a
/// fixed order. Rows past N and tokens past S are not stored.
void storeRowResult(const MatmulSpec &spec, KernelBuilder &kb,
                    const ThreadIds &ids, Value acc, Value outRow,
                    bool mayBePastN, Value firstToken, int64_t t,
                    int64_t splitK, Value partials) {
  OpBuilder &b = kb.b;
  Location loc = kb.loc;
  const MatmulOperands &ops = spec.ops;
  Value total = kb.warpReduce(Reduction::Sum, acc);
  Value storer = kb.cmp(arith::CmpIPredicate::eq, ids.lane, kb.index(0));
  if (splitK > 1) {
    // All warps of the block have this row: the branch is uniform over
    // the block, so the barrier is legal. Warp 0 adds the partial sums
    // in a fixed order.
    kb.ifThen(storer, [&] {
      memref::StoreOp::create(b, loc, total, partials, ValueRange{ids.warp});
    });
    gpu::BarrierOp::create(b, loc);
    total = memref::LoadOp::create(b, loc, partials, ValueRange{kb.index(0)});
    for (int64_t i = 1; i < splitK; ++i)
      total = kb.addF(total, memref::LoadOp::create(b, loc, partials,
                                                    ValueRange{kb.index(i)}));
    storer = kb.cmp(arith::CmpIPredicate::eq, ids.tid, kb.index(0));
  }
  Value token = kb.add(firstToken, kb.index(t));
  Value inside = kb.cmp(arith::CmpIPredicate::ult, token, ops.tokens);
  if (mayBePastN)
    inside = arith::AndIOp::create(
        b, loc, inside,
        kb.cmp(arith::CmpIPredicate::ult, outRow, kb.index(ops.rows)));
  Value stores = arith::AndIOp::create(b, loc, storer, inside);
  kb.ifThen(stores, [&] {
    Value outToken = spec.lastTokenOnly ? kb.index(0) : token;
    auto outType = cast<FloatType>(
        cast<MemRefType>(ops.output.getType()).getElementType());
    Value value = total;
    if (ops.residual) {
      // The matmul's result is rounded to T before the residual add, as
      // in the unfused graph.
      value = buildExtendToF32(b, loc,
                               buildTruncateFromF32(b, loc, value, outType));
      value = kb.addF(kb.loadF32(ops.residual, {token, outRow}), value);
    }
    kb.storeF32(value, ops.output, {outToken, outRow});
  });
}

/// Decode matmuls without split-K give each warp this many output rows
/// when their tiles are cheap: every x element a lane loads and widens is
/// then used twice. (4 rows: affine4 4.6 instructions per weight but 93
/// registers. At 2 rows ptxas takes up to 72; capped at 64 with
/// nvvm.maxnreg it spills.)
constexpr int64_t kDecodeRowsPerWarp = 2;

/// Whether a tile's dequantization is cheap enough in registers for
/// kDecodeRowsPerWarp rows: a plain matrix, or a scheme whose tile takes at
/// most one scalar op per weight (isWordLevelTile: it unpacks whole words). A
/// tile built a weight at a time would not fit: lut3's decode GEMV went from 56
/// to 96 registers, mixed's spilled.
bool isCheapTile(const MatmulOperands &ops, int64_t tileCols) {
  return !ops.scheme || isWordLevelTile(ops.scheme, {ops.rows, ops.cols},
                                        tileCols, ops.elementType);
}

/// One warp per rowsPerWarp output rows, kMatmulTokens rows of x per block:
/// every lane dequantizes tileCols consecutive weights of each of its rows
/// per step, multiplies them with the block's x rows in f32 (each x element
/// loaded and widened once for all the rows) and the warp reduces with
/// shuffles.
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
  // Split-K: the block's warps share one row, each taking every
  // splitK-th step of K; their sums meet in shared memory.
  int64_t splitK =
      tokensPerBlock == 1 && n <= kSplitKMaxRows ? kMatmulWarps : 1;
  int64_t rowsPerWarp =
      tokensPerBlock == 1 && splitK == 1 && isCheapTile(ops, tileCols)
          ? kDecodeRowsPerWarp
          : 1;
  tiling.rowsPerWarp = rowsPerWarp;
  allocateStagingTiles(kb, ops, tiling);
  allocateResidentTiles(kb, ops, tiling);
  int64_t rowsPerBlock = kMatmulWarps / splitK * rowsPerWarp;
  Value partials = splitK > 1 ? kb.sharedArray(kMatmulWarps) : Value();
  Value tid = kb.threadId();
  Value warp = kb.divU(tid, kb.index(kWarpSize));
  Value lane = kb.remU(tid, kb.index(kWarpSize));
  Value slice = kb.remU(warp, kb.index(splitK));
  Value firstRow =
      kb.add(kb.mul(kb.blockId(gpu::Dimension::x), kb.index(rowsPerBlock)),
             kb.mul(kb.divU(warp, kb.index(splitK)), kb.index(rowsPerWarp)));
  // The warp's rows, clamped to N - 1 for loading (a warp's rows past N
  // recompute row N - 1 and never store), and their rows in the tiles.
  // With one row per warp, the branch below keeps the row inside N.
  SmallVector<Value> outRows, loadRows, tileRows;
  for (int64_t j = 0; j < rowsPerWarp; ++j) {
    outRows.push_back(j == 0 ? firstRow : kb.add(firstRow, kb.index(j)));
    loadRows.push_back(
        rowsPerWarp == 1 ? firstRow : kb.minU(outRows.back(), kb.index(n - 1)));
    tileRows.push_back(
        rowsPerWarp == 1
            ? warp
            : kb.add(kb.mul(warp, kb.index(rowsPerWarp)), kb.index(j)));
  }
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

  kb.ifThen(kb.cmp(arith::CmpIPredicate::ult, firstRow, kb.index(n)), [&] {
    for (int64_t j = 0; j < rowsPerWarp; ++j)
      loadResidentRows(kb, ops, tiling.resident, loadRows[j], tileRows[j],
                       lane);
    // Accumulator t * rowsPerWarp + j: token t, row j.
    SmallVector<Value> inits(tokensPerBlock * rowsPerWarp, kb.f32(0.0f));
    Value firstCol = kb.mul(kb.add(kb.mul(slice, kb.index(kWarpSize)), lane),
                            kb.index(tileCols));
    SmallVector<Value> accs = kb.loop(
        firstCol, kb.index(k), kb.index(splitK * kWarpSize * tileCols), inits,
        [&](Value col, ValueRange partial) {
          // Lanes only read back their own slice of the staged tiles,
          // so no barrier is needed (nor allowed: rows past N skip the
          // loop).
          SmallVector<SmallVector<Value>> w;
          for (int64_t j = 0; j < rowsPerWarp; ++j) {
            StagedReader reader(ops.components, kb, tiling, tileRows[j], lane,
                                col, k);
            stageStep(kb, ops, reader, tiling.staged, loadRows[j], tileRows[j],
                      lane);
            w.push_back(
                buildWeightTile(kb, ops, reader, loadRows[j], col, tileCols));
          }
          SmallVector<Value> next(partial.begin(), partial.end());
          for (int64_t t = 0; t < tokensPerBlock; ++t) {
            SmallVector<Value> x =
                loadInputTile(kb, ops.input, xRows[t], col, tileCols);
            for (int64_t j = 0; j < rowsPerWarp; ++j) {
              Value &acc = next[t * rowsPerWarp + j];
              for (int64_t c = 0; c < tileCols; ++c)
                acc = math::FmaOp::create(b, loc, x[c], w[j][c], acc);
            }
          }
          return next;
        });
    for (int64_t t = 0; t < tokensPerBlock; ++t)
      for (int64_t j = 0; j < rowsPerWarp; ++j)
        storeRowResult(spec, kb, {tid, warp, lane}, accs[t * rowsPerWarp + j],
                       outRows[j], /*mayBePastN=*/rowsPerWarp > 1, firstToken,
                       t, splitK, partials);
  });
  ctx.launch.block = {kMatmulWarps * kWarpSize, 1, 1};
  ctx.launch.weightsPerWarpIteration = kWarpSize * tileCols * rowsPerWarp;
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
} // namespace

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
} // namespace mlir::mixq::cuda::gen
