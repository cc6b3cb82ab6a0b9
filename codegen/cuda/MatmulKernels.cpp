//===- MatmulKernels.cpp - the fused dequant-GEMV ------------------------===//
#include "codegen/cuda/GeneratorContext.h"
#include "codegen/cuda/MMAMatmul.h"

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
  /// Rows per warp of the staging tiles, when not rowsPerWarp: a lane of the
  /// tensor-core GEMV stages slices of its own two rows, so each warp needs
  /// two rows of 32 lane slices, not one per output row.
  int64_t stagingRowsPerWarp = 0;
  int64_t getStagingRowsPerWarp() const {
    return stagingRowsPerWarp ? stagingRowsPerWarp : rowsPerWarp;
  }
  /// Rows of the resident tiles per block, when not one per warp row: the
  /// warps of a tensor-core GEMV's split-K group share their 16 rows.
  int64_t residentRowsPerBlock = 0;
  int64_t getResidentRowsPerBlock() const {
    return residentRowsPerBlock ? residentRowsPerBlock
                                : kMatmulWarps * rowsPerWarp;
  }
};

/// Per-row components up to this size stay in shared memory for the loop.
constexpr int64_t kMaxResidentRowBytes = 256;

/// The components the scheme's dequantization tile actually reads (e.g. a
/// `bitplane` of width k reads only the top k planes).
llvm::SmallDenseSet<unsigned> getReadComponents(const MatmulOperands &ops) {
  return getReadComponentIndices(ops.scheme, {ops.rows, ops.cols},
                                 ops.elementType);
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

/// Decode tiles of this many weights per lane are taken only by word-level
/// schemes whose codes of a tile fit 16 bytes (mixed: 64 two-bit codes, one
/// 16-byte copy per lane and step, and one group decode per 64 weights
/// rather than 32: 8.6-9.1 -> 6.9-7.2 instructions per weight, every
/// weight load 16 bytes wide, for 56 -> 64-80 registers; bounded at 64
/// with nvvm.maxnreg, two kernels spilled 40 and 72 bytes). A tile built a
/// weight at a time would hold too many values (bitplane: 128 registers).
constexpr int64_t kWideTileCols = 64;
/// The register bound (nvvm.maxnreg) of a kernel with kWideTileCols tiles:
/// well above the 56-84 they take, there only to steer ptxas's heuristics,
/// which spill at some bounds and not at others. Without a bound it aimed
/// the sm_80 fused q/k/v kernel of mixed at 56 registers and spilled 4
/// bytes; at 96, affine2's sm_90 one took all 96 and spilled 8; at 128
/// neither spills (62 and 66 registers). Checked by check-ptx.sh.
constexpr int64_t kWideTileMaxRegisters = 128;
bool isWideTile(const MatmulOperands &ops) {
  return ops.scheme && isWordLevelTile(ops.scheme, {ops.rows, ops.cols},
                                       kWideTileCols, ops.elementType);
}

/// Picks the widest tile of consecutive weights per lane and step (at most
/// `maxTileCols`) that divides K and gives every column-tiled component a
/// per-lane slice cp.async can copy; without one, the widest tile dividing K
/// and no staging.
MatmulTiling chooseTiling(const MatmulOperands &ops, int64_t maxTileCols) {
  llvm::SmallDenseSet<unsigned> read;
  if (ops.scheme)
    read = getReadComponents(ops);
  SmallVector<std::pair<unsigned, ComponentSpec>> tiled =
      getColumnTiledComponents(ops, read);
  int64_t k = ops.cols;
  for (int64_t tileCols : {kWideTileCols, int64_t(32), int64_t(16), int64_t(8),
                           int64_t(4), int64_t(2)}) {
    if (tileCols > maxTileCols || k % tileCols != 0 || tiled.empty() ||
        (tileCols == kWideTileCols && !isWideTile(ops)))
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
  // Unstaged, a word-level tile still reads its words at once: 32 3-bit
  // codes are 3 words, no 4-, 8- or 16-byte slice to stage, but one vector
  // load of them beats a load per code. A tile built a weight at a time
  // stays at 8 columns (its values all live at once).
  for (int64_t tileCols : {int64_t(32), int64_t(16)})
    if (ops.scheme && tileCols <= maxTileCols && k % tileCols == 0 &&
        isWordLevelTile(ops.scheme, {ops.rows, ops.cols}, tileCols,
                        ops.elementType))
      return MatmulTiling{tileCols, {}, {}, read};
  for (int64_t tileCols : {8, 4, 2})
    if (tileCols <= maxTileCols && k % tileCols == 0)
      return MatmulTiling{tileCols, {}, {}, read};
  return MatmulTiling{1, {}, {}, read};
}

/// Reads the staged components from the lane's slice of their shared tile
/// and everything else from global memory.
class StagedReader : public ComponentReader {
public:
  /// `tileRow` is the row of the staging tiles, `residentRow` (default:
  /// the same) that of the resident ones.
  StagedReader(ValueRange components, KernelBuilder &kb,
               const MatmulTiling &tiling, Value tileRow, Value lane, Value col,
               int64_t cols, Value residentRow = Value())
      : ComponentReader(components), kb(kb), staged(tiling.staged),
        resident(tiling.resident), tileRow(tileRow),
        residentRow(residentRow ? residentRow : tileRow), lane(lane), col(col),
        cols(cols) {}

  Value load(OpBuilder &builder, Location loc, unsigned index,
             ValueRange indices) const override {
    for (const ResidentComponent &component : resident)
      if (component.index == index)
        return memref::LoadOp::create(builder, loc, component.tile,
                                      ValueRange{residentRow, indices[1]});
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
    for (const ResidentComponent &resident : this->resident)
      if (resident.index == index)
        return vector::LoadOp::create(
            builder, loc,
            VectorType::get(
                {count},
                cast<MemRefType>(resident.tile.getType()).getElementType()),
            resident.tile, ValueRange{residentRow, indices[1]});
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

  /// A resident component (a per-row table in shared memory) is gathered
  /// from its row of the tile: one shared-memory load per lane.
  Value gather(OpBuilder &builder, Location loc, unsigned index,
               ValueRange leading, Value lastIndices) const override {
    for (const ResidentComponent &component : resident)
      if (component.index == index)
        return buildGather(builder, loc, component.tile,
                           ValueRange{residentRow}, lastIndices);
    if (findStaged(index)) {
      // Column-tiled data is not a table; read it lane by lane.
      auto indexType = cast<VectorType>(lastIndices.getType());
      SmallVector<Value> values;
      for (int64_t i = 0; i < indexType.getNumElements(); ++i) {
        SmallVector<Value> position(leading.begin(), leading.end());
        Value element = vector::ExtractOp::create(builder, loc, lastIndices, i);
        if (!element.getType().isIndex())
          element = arith::IndexCastUIOp::create(
              builder, loc, builder.getIndexType(), element);
        position.push_back(element);
        values.push_back(load(builder, loc, index, position));
      }
      return buildVectorFromScalars(builder, loc, values);
    }
    return ComponentReader::gather(builder, loc, index, leading, lastIndices);
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
  Value tileRow, residentRow, lane, col;
  int64_t cols;
};

/// Allocates one shared tile per staged component (a memref.alloc that
/// --mixq-pipeline-async-copies multi-buffers and turns into a workgroup
/// attribution).
/// With `exclusive`, the tiles belong to one loop of a fused kernel: each is
/// marked with its slot (kExclusiveSlotAttrName), so that the loops share
/// their staging memory. They may: the block ranges run in different blocks,
/// and within a block each warp stages only its own rows of the tile.
void allocateStagingTiles(KernelBuilder &kb, const MatmulOperands &ops,
                          MatmulTiling &tiling, bool exclusive = false) {
  auto space = gpu::AddressSpaceAttr::get(kb.b.getContext(),
                                          gpu::AddressSpace::Workgroup);
  for (auto [slot, component] : llvm::enumerate(tiling.staged)) {
    Type element = cast<MemRefType>(ops.components[component.index].getType())
                       .getElementType();
    auto type = MemRefType::get({kMatmulWarps * tiling.getStagingRowsPerWarp(),
                                 kWarpSize * component.elementsPerLane},
                                element, MemRefLayoutAttrInterface{}, space);
    auto alloc = memref::AllocOp::create(kb.b, kb.loc, type);
    if (exclusive)
      alloc->setAttr(kExclusiveSlotAttrName, kb.b.getI64IntegerAttr(slot));
    component.tile = alloc;
  }
}

/// Resident tiles a fused kernel's segments share: the segments run in
/// different blocks, so the n-th tile of a type one segment needs can be
/// the n-th another one allocated (never two of one segment: an affine
/// weight's scales and zeros have one type). Their bytes count against one
/// budget for the kernel.
struct SharedResidentTiles {
  llvm::DenseMap<Type, SmallVector<Value, 2>> tiles;
  int64_t bytesLeft = 0;
};

/// Picks the small per-row components the dequantization reads (not staged
/// ones) and gives each a shared tile: a LUT or the row's group scales is
/// then read from shared memory in the loop instead of through L1. At most
/// `maxBytes` of them (the rest is read from global memory); with `shared`,
/// its budget instead, and the tiles its earlier segments allocated.
void allocateResidentTiles(
    KernelBuilder &kb, const MatmulOperands &ops, MatmulTiling &tiling,
    int64_t maxBytes = std::numeric_limits<int64_t>::max(),
    SharedResidentTiles *shared = nullptr) {
  if (!ops.scheme)
    return;
  int64_t &bytesLeft = shared ? shared->bytesLeft : maxBytes;
  llvm::DenseMap<Type, unsigned> used; // tiles of a type this segment took
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
        {tiling.getResidentRowsPerBlock(), type.getDimSize(1)},
        type.getElementType(), MemRefLayoutAttrInterface{}, space);
    int64_t bytes = KernelBuilder::getByteSize(tileType);
    unsigned nth = used[tileType];
    Value tile;
    if (shared && nth < shared->tiles[tileType].size()) {
      tile = shared->tiles[tileType][nth];
    } else {
      if (bytes > bytesLeft)
        continue;
      bytesLeft -= bytes;
      tile = kb.func.addWorkgroupAttribution(tileType, kb.loc);
      if (shared)
        shared->tiles[tileType].push_back(tile);
    }
    ++used[tileType];
    tiling.resident.push_back({unsigned(index), tile});
  }
}

/// The static shared memory of a tiling's tiles: the staging tiles
/// multi-buffered `stages` times (--mixq-pipeline-async-copies), the
/// resident ones once.
int64_t getTileSharedBytes(const MatmulTiling &tiling, int64_t stages) {
  auto bytesOf = [](Value tile) {
    return KernelBuilder::getByteSize(cast<MemRefType>(tile.getType()));
  };
  int64_t bytes = 0;
  for (const StagedComponent &component : tiling.staged)
    bytes += bytesOf(component.tile) * std::max<int64_t>(stages, 1);
  for (const ResidentComponent &component : tiling.resident)
    bytes += bytesOf(component.tile);
  return bytes;
}

/// The warp copies its row of every resident component into row `tileRow`
/// of the tiles, then synchronizes its lanes (bar.warp.sync: the warp may
/// be alone in this branch).
void loadResidentRows(KernelBuilder &kb, ValueRange components,
                      ArrayRef<ResidentComponent> resident, Value row,
                      Value tileRow, Value lane) {
  if (resident.empty())
    return;
  for (const ResidentComponent &component : resident) {
    Value global = components[component.index];
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
void stageStep(KernelBuilder &kb, ValueRange components,
               const StagedReader &reader, ArrayRef<StagedComponent> staged,
               Value row, Value tileRow, Value lane) {
  for (const StagedComponent &component : staged) {
    Value global = components[component.index];
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
  int64_t piece =
      std::min(tileCols, KernelBuilder::getVectorWidth({input}, tileCols));
  SmallVector<Value> values;
  for (int64_t first = 0; first < tileCols; first += piece)
    llvm::append_range(
        values, kb.loadF32s(input, {row, kb.add(col, kb.index(first))}, piece));
  return values;
}

/// One output row of a warp: the components of the weight it reads (all
/// rows of a warp share one weight type, so one tiling serves them), its
/// row in that weight (inside it: rows past N are clamped for loading) and
/// its row in the shared tiles.
struct WarpRow {
  SmallVector<Value> components;
  Value loadRow, tileRow;
};

/// Adds the scheme's sparse terms (QuantSchemeAttrInterface::buildSparseDot,
/// e.g. fp16 outliers) of each warp row to the lanes' accumulators of
/// buildKLoop: the lanes of the split-K slices share a row's terms, each
/// taking every (splitK * 32)-th, so a row's outliers cost a few loads per
/// lane rather than a search per weight.
void addSparseTerms(KernelBuilder &kb, const MatmulOperands &ops,
                    ArrayRef<WarpRow> rows, Value input, ArrayRef<Value> xRows,
                    Value lane, Value slice, int64_t splitK,
                    MutableArrayRef<Value> accs) {
  if (!ops.scheme)
    return;
  Value first = kb.add(kb.mul(slice, kb.index(kWarpSize)), lane);
  Value step = kb.index(splitK * kWarpSize);
  int64_t numRows = rows.size();
  for (auto [j, row] : llvm::enumerate(rows)) {
    ComponentReader reader(row.components);
    for (auto [t, xRow] : llvm::enumerate(xRows)) {
      Value sum = ops.scheme.buildSparseDot(
          kb.b, kb.loc, reader, {ops.rows, ops.cols}, row.loadRow, first, step,
          [&, xRow = xRow](OpBuilder &b, Location loc, Value col) {
            return buildExtendToF32(
                b, loc,
                memref::LoadOp::create(b, loc, input, ValueRange{xRow, col}));
          });
      if (!sum)
        return;
      Value &acc = accs[t * numRows + j];
      acc = kb.addF(acc, sum);
    }
  }
}

/// The K loop of a warp: every lane dequantizes tileCols consecutive
/// weights of each of its rows per step and multiplies them with the x rows
/// `xRows` of `input` in f32 (each x element loaded and widened once for all
/// the rows). Returns the lane's accumulators, t * rows.size() + j for x
/// row t and warp row j. `ops` gives the weights' shape and scheme.
SmallVector<Value> buildKLoop(KernelBuilder &kb, const MatmulOperands &ops,
                              const MatmulTiling &tiling,
                              ArrayRef<WarpRow> rows, Value input,
                              ArrayRef<Value> xRows, Value lane, Value slice,
                              int64_t splitK) {
  OpBuilder &b = kb.b;
  Location loc = kb.loc;
  int64_t tileCols = tiling.tileCols, k = ops.cols;
  int64_t numRows = rows.size(), numTokens = xRows.size();
  SmallVector<Value> inits(numTokens * numRows, kb.f32(0.0f));
  Value firstCol = kb.mul(kb.add(kb.mul(slice, kb.index(kWarpSize)), lane),
                          kb.index(tileCols));
  SmallVector<Value> accs =
      kb.loop(firstCol, kb.index(k), kb.index(splitK * kWarpSize * tileCols),
              inits, [&](Value col, ValueRange partial) {
                // Lanes only read back their own slice of the staged tiles,
                // so no barrier is needed (nor allowed: rows past N skip the
                // loop).
                SmallVector<SmallVector<Value>> w;
                for (const WarpRow &row : rows) {
                  StagedReader reader(row.components, kb, tiling, row.tileRow,
                                      lane, col, k);
                  stageStep(kb, row.components, reader, tiling.staged,
                            row.loadRow, row.tileRow, lane);
                  w.push_back(buildWeightTile(kb, ops, reader, row.loadRow, col,
                                              tileCols));
                }
                SmallVector<Value> next(partial.begin(), partial.end());
                for (int64_t t = 0; t < numTokens; ++t) {
                  SmallVector<Value> x =
                      loadInputTile(kb, input, xRows[t], col, tileCols);
                  for (int64_t j = 0; j < numRows; ++j) {
                    Value &acc = next[t * numRows + j];
                    for (int64_t c = 0; c < tileCols; ++c)
                      acc = math::FmaOp::create(b, loc, x[c], w[j][c], acc);
                  }
                }
                return next;
              });
  addSparseTerms(kb, ops, rows, input, xRows, lane, slice, splitK, accs);
  return accs;
}

/// The thread's place in a matmul block: its warp takes split-K slice
/// `slice` (warp % splitK).
struct ThreadIds {
  Value tid, warp, lane, slice;
};

ThreadIds getThreadIds(KernelBuilder &kb, int64_t splitK) {
  ThreadIds ids;
  ids.tid = kb.threadId();
  ids.warp = kb.divU(ids.tid, kb.index(kWarpSize));
  ids.lane = kb.remU(ids.tid, kb.index(kWarpSize));
  ids.slice = kb.remU(ids.warp, kb.index(splitK));
  return ids;
}

/// The sum of a row's split-K slices, sums[first + i * stride] for i below
/// splitK, added in slice order: the same order on every run.
Value sumSplitKSlices(KernelBuilder &kb, Value sums, Value first,
                      int64_t stride, int64_t splitK) {
  Value total = memref::LoadOp::create(kb.b, kb.loc, sums, ValueRange{first});
  for (int64_t i = 1; i < splitK; ++i) {
    Value at =
        kb.b.createOrFold<arith::AddIOp>(kb.loc, first, kb.index(i * stride));
    total = kb.addF(total,
                    memref::LoadOp::create(kb.b, kb.loc, sums, ValueRange{at}));
  }
  return total;
}

/// Stores the f32 sum of (token, outRow): rounded to the output type, or
/// with a residual, rounded to T first and added to it, as the unfused
/// graph computes.
void storeMatmulOutput(const MatmulSpec &spec, KernelBuilder &kb, Value total,
                       Value token, Value outRow) {
  OpBuilder &b = kb.b;
  Location loc = kb.loc;
  const MatmulOperands &ops = spec.ops;
  Value outToken = spec.lastTokenOnly ? kb.index(0) : token;
  auto outType =
      cast<FloatType>(cast<MemRefType>(ops.output.getType()).getElementType());
  Value value = total;
  if (ops.residual) {
    value =
        buildExtendToF32(b, loc, buildTruncateFromF32(b, loc, value, outType));
    value = kb.addF(kb.loadF32(ops.residual, {token, outRow}), value);
  }
  kb.storeF32(value, ops.output, {outToken, outRow});
}

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
    total = sumSplitKSlices(kb, partials, kb.index(0), 1, splitK);
    storer = kb.cmp(arith::CmpIPredicate::eq, ids.tid, kb.index(0));
  }
  Value token = kb.add(firstToken, kb.index(t));
  Value inside = kb.cmp(arith::CmpIPredicate::ult, token, ops.tokens);
  if (mayBePastN)
    inside = arith::AndIOp::create(
        b, loc, inside,
        kb.cmp(arith::CmpIPredicate::ult, outRow, kb.index(ops.rows)));
  Value stores = arith::AndIOp::create(b, loc, storer, inside);
  kb.ifThen(stores, [&] { storeMatmulOutput(spec, kb, total, token, outRow); });
}

/// Decode matmuls without split-K give each warp this many output rows
/// when their tiles are cheap: every x element a lane loads and widens is
/// then used twice. (4 rows: affine4 4.6 instructions per weight but 93
/// registers. At 2 rows ptxas takes up to 72; capped at 64 with
/// nvvm.maxnreg it spills.)
constexpr int64_t kDecodeRowsPerWarp = 2;

/// Scalar ops per weight a tile may take for kDecodeRowsPerWarp rows: a
/// tile that unpacks whole words with little per-tile work (affine under
/// 0.5). Two rows of mixed's tiles (1.9: a group decode per 32 columns)
/// took 80-96 registers, over the 64 a GEMV may use.
constexpr double kCheapTileScalarOpsPerWeight = 1.0;

/// Whether a tile's dequantization is cheap enough in registers for
/// kDecodeRowsPerWarp rows: a plain matrix, or a word-level scheme within
/// kCheapTileScalarOpsPerWeight. A tile built a weight at a time would not
/// fit: lut3's decode GEMV went from 56 to 96 registers, mixed's spilled.
bool isCheapTile(const MatmulOperands &ops, int64_t tileCols) {
  return !ops.scheme ||
         isWordLevelTile(ops.scheme, {ops.rows, ops.cols}, tileCols,
                         ops.elementType, kCheapTileScalarOpsPerWeight);
}

//===----------------------------------------------------------------------===//
// Decode GEMV on tensor cores
//===----------------------------------------------------------------------===//
//
// A warp computes kMmaGemvRows = 16 output rows with mma.sync m16n8k16 and
// f32 accumulators. The weights are the A operand (lane l holds rows l / 4
// and l / 4 + 8), x is the B operand. Each of the 4 lanes of a row takes
// tileCols consecutive weights of both its rows per step, dequantized by
// the scheme's buildDequantVector as on the f32 path, so a step covers
// 4 * tileCols columns of 16 rows. A dot product does not depend on the
// order of its terms: an mma's k slots stand for whatever 4 columns of each
// lane's tile that lane's x slots hold, so the weights keep the scheme's
// layout. A lane then pays, per weight, its dequantization and an eighth of
// an mma (one mma takes 8 of its weights), and per x element a sixteenth of
// a 16-byte load for its two rows, where the f32 path widens every weight
// and issues an FFMA for it. Every column of B holds the same x row, so the
// columns of C are equal and column 0 is the result.

/// Output rows per warp: the m of m16n8k16.
constexpr int64_t kMmaGemvRows = 16;
/// Lanes sharing a row; each takes tileCols columns of a step.
constexpr int64_t kMmaGemvLanesPerRow = 4;
/// A lane's weights per row and mma: k = 16 over 4 lanes.
constexpr int64_t kMmaGemvSlots = 4;
/// Independent accumulator chains of the K loop (buildMmaKLoop).
constexpr int64_t kMmaGemvChains = 1;
/// Rows of the staging tiles per warp: a lane stages its two rows' slices.
constexpr int64_t kMmaGemvStagingRows = 2;
/// The most shared memory a tensor-core GEMV gives its resident per-row
/// components (16 or 32 rows of them: asymmetric affine4 g32's scales and
/// zeros at K = 4096 take 16 KiB for 32 rows); the rest is read through L1.
constexpr int64_t kMmaGemvResidentBytes = 16 * 1024;
/// The static shared memory of a kernel (sm_80 and later allow 48 KiB
/// without opting in), less a margin for the sums and scratch arrays.
constexpr int64_t kMmaGemvSharedBytes = 46 * 1024;
/// The widest tile of a scheme whose tile looks weights up in a table
/// (dequantVectorGathers): two rows of 64 lookups took bitplane to the
/// 128-register bound (6.9-7.0 instructions per weight); at 32 it takes
/// 72-96 (7.5-7.7).
constexpr int64_t kMmaGemvMaxLookupTileCols = 32;

/// Where a lane's weights and x go in the mma.sync fragments. Derived from
/// upstream's (lane, value) -> (row, col) maps and checked for every lane,
/// not written down by hand.
struct MmaGemvLayout {
  FragmentLayout fragments;
  /// A's value v is the lane's weight of row lane / 4 + 8 * aRowOffset[v],
  /// slot aSlot[v] of the mma's 4 columns of the lane.
  SmallVector<int64_t, 8> aRowOffset, aSlot;
  /// B's value u is the lane's x at slot u.
  /// C's value v is the sum of row lane / 4 + 8 * cRowOffset[v].
  SmallVector<int64_t, 4> cRowOffset;
};

/// The layout, or an error if upstream's maps do not have the structure the
/// GEMV relies on: B's n is lane / 4, the k of B's value u depends on lane
/// % 4 and u only (so lanes with one lane % 4 agree on a column), those k
/// cover 0..15 once, and A holds, for rows lane / 4 and lane / 4 + 8, the
/// same k as the lane's B, each (row, slot) once.
FailureOr<MmaGemvLayout> getMmaGemvLayout(OpBuilder &b, Location loc,
                                          FloatType elementType) {
  FailureOr<FragmentLayout> fragments =
      getMmaFragmentLayout(b, loc, elementType);
  if (failed(fragments))
    return failure();
  auto mismatch = [&] {
    return emitError(loc) << "CUDA codegen: the mma.sync m16n8k16 layout "
                             "does not fit the tensor-core decode GEMV";
  };
  int64_t aValues = fragments->typeA.getNumElements();
  if (aValues != 2 * kMmaGemvSlots ||
      fragments->typeB.getNumElements() != kMmaGemvSlots)
    return mismatch();
  // kOf[t][u]: the k of B's value u in lanes with lane % 4 == t.
  int64_t kOf[kMmaGemvLanesPerRow][kMmaGemvSlots];
  llvm::SmallBitVector covered(kMmaGemvLanesPerRow * kMmaGemvSlots);
  for (int64_t t = 0; t < kMmaGemvLanesPerRow; ++t)
    for (int64_t u = 0; u < kMmaGemvSlots; ++u) {
      int64_t k = fragments->b.compose({t, u})[1];
      if (k < 0 || k >= covered.size() || covered.test(k))
        return mismatch();
      covered.set(k);
      kOf[t][u] = k;
    }
  MmaGemvLayout layout;
  layout.fragments = *fragments;
  layout.aRowOffset.assign(aValues, -1);
  layout.aSlot.assign(aValues, -1);
  for (int64_t lane = 0; lane < kWarpSize; ++lane) {
    int64_t g = lane / kMmaGemvLanesPerRow, t = lane % kMmaGemvLanesPerRow;
    for (int64_t u = 0; u < kMmaGemvSlots; ++u) {
      SmallVector<int64_t, 4> nk = fragments->b.compose({lane, u});
      if (nk[0] != g || nk[1] != kOf[t][u])
        return mismatch();
    }
    llvm::SmallBitVector used(aValues);
    for (int64_t v = 0; v < aValues; ++v) {
      SmallVector<int64_t, 4> mk = fragments->a.compose({lane, v});
      const int64_t *slot = llvm::find(kOf[t], mk[1]);
      if ((mk[0] != g && mk[0] != g + 8) || slot == std::end(kOf[t]))
        return mismatch();
      int64_t offset = mk[0] == g ? 0 : 1, j = slot - std::begin(kOf[t]);
      if (used.test(offset * kMmaGemvSlots + j))
        return mismatch();
      used.set(offset * kMmaGemvSlots + j);
      if (lane == 0) {
        layout.aRowOffset[v] = offset;
        layout.aSlot[v] = j;
      } else if (layout.aRowOffset[v] != offset || layout.aSlot[v] != j) {
        return mismatch();
      }
    }
    int64_t cValues = fragments->typeC.getNumElements();
    layout.cRowOffset.resize(cValues, -1);
    for (int64_t v = 0; v < cValues; ++v) {
      int64_t m = fragments->c.compose({lane, v})[0];
      if (m != g && m != g + 8)
        return mismatch();
      int64_t offset = m == g ? 0 : 1;
      if (lane == 0)
        layout.cRowOffset[v] = offset;
      else if (layout.cRowOffset[v] != offset)
        return mismatch();
    }
  }
  return layout;
}

/// Whether a decode GEMV over `ops` with x in `input` runs on tensor cores:
/// 16-bit floats throughout (x, the dequantized weight, a plain weight),
/// and K a multiple of a step (4 lanes' tiles), so that every lane of the
/// warp takes every step (mma.sync needs the whole warp).
bool canUseMmaGemv(const MatmulOperands &ops, Value input, int64_t tileCols) {
  FloatType type = ops.elementType;
  if (!ops.tensorCoreGemv || !type || (!type.isF16() && !type.isBF16()) ||
      !input || KernelBuilder::getElementType(input) != type)
    return false;
  if (!ops.scheme &&
      KernelBuilder::getElementType(ops.components.front()) != type)
    return false;
  return tileCols % kMmaGemvSlots == 0 &&
         ops.cols % (kMmaGemvLanesPerRow * tileCols) == 0;
}

/// One of a lane's two rows: the weight's components, the row to load, and
/// the rows of the resident and staging tiles.
struct LaneRow {
  SmallVector<Value> components;
  Value loadRow, residentRow, stagingRow;
};

/// The lane's tileCols weights of `row` from `col`, in T, in the order the
/// scheme unpacks them (element p is column col + order[p]): the scheme's
/// dequantization of the tile, or a vector load of a plain matrix.
Value buildWeightVector(KernelBuilder &kb, const MatmulOperands &ops,
                        const ComponentReader &reader, Value row, Value col,
                        int64_t tileCols, bool unscaled,
                        SmallVectorImpl<int64_t> &order) {
  if (ops.scheme && unscaled)
    return ops.scheme.buildUnscaledDequantVectorInAnyOrder(
        kb.b, kb.loc, reader, {ops.rows, ops.cols}, row, col, tileCols,
        ops.elementType, order);
  if (ops.scheme)
    return ops.scheme.buildDequantVectorInAnyOrder(
        kb.b, kb.loc, reader, {ops.rows, ops.cols}, row, col, tileCols,
        ops.elementType, order);
  setColumnOrder(order, tileCols);
  return reader.loadVector(kb.b, kb.loc, 0, {row, col}, tileCols);
}

/// x[row, col .. col + tileCols - 1] in T, in aligned loads of 16 bytes.
SmallVector<Value> loadInputVectors(KernelBuilder &kb, Value input, Value row,
                                    Value col, int64_t tileCols) {
  Type type = KernelBuilder::getElementType(input);
  int64_t piece = std::min<int64_t>(
      tileCols, 128 / static_cast<int64_t>(type.getIntOrFloatBitWidth()));
  SmallVector<Value> pieces;
  for (int64_t first = 0; first < tileCols; first += piece)
    pieces.push_back(vector::LoadOp::create(
        kb.b, kb.loc, VectorType::get({piece}, type), input,
        ValueRange{row, kb.add(col, kb.index(first))}, /*nontemporal=*/false,
        llvm::Align(piece * type.getIntOrFloatBitWidth() / 8)));
  return pieces;
}

/// A fragment of `type` (vector<R x 2 x T>) whose value v is element
/// elements[v].second of tile elements[v].first; a tile is a list of equal
/// vector pieces. Each 32-bit register of the fragment is one shuffle.
Value buildFragment(KernelBuilder &kb, VectorType type,
                    ArrayRef<ArrayRef<Value>> tiles,
                    ArrayRef<std::pair<int64_t, int64_t>> elements) {
  OpBuilder &b = kb.b;
  Value fragment = arith::ConstantOp::create(
      b, kb.loc, type,
      DenseElementsAttr::get(type, b.getZeroAttr(type.getElementType())));
  int64_t perRegister = type.getDimSize(1);
  for (int64_t r = 0; r < type.getDimSize(0); ++r) {
    SmallVector<Value, 2> sources;
    SmallVector<int64_t, 2> mask;
    for (int64_t e = 0; e < perRegister; ++e) {
      auto [tile, element] = elements[r * perRegister + e];
      ArrayRef<Value> pieces = tiles[tile];
      int64_t piece =
          cast<VectorType>(pieces.front().getType()).getNumElements();
      sources.push_back(pieces[element / piece]);
      // shufflevector indexes the concatenation of its two operands.
      mask.push_back(element % piece + (e == 0 ? 0 : piece));
    }
    Value pair =
        vector::ShuffleOp::create(b, kb.loc, sources[0], sources[1], mask);
    fragment = vector::InsertOp::create(b, kb.loc, pair, fragment, r);
  }
  return fragment;
}

/// The A fragment of mma `i` of a step: the lane's weights of its two rows
/// at columns [4 i, 4 i + 4) of its tile.
Value buildWeightFragment(KernelBuilder &kb, const MmaGemvLayout &layout,
                          ArrayRef<Value> firstRow, ArrayRef<Value> secondRow,
                          int64_t i) {
  SmallVector<std::pair<int64_t, int64_t>, 8> elements;
  for (auto [offset, slot] : llvm::zip(layout.aRowOffset, layout.aSlot))
    elements.push_back({offset, i * kMmaGemvSlots + slot});
  return buildFragment(kb, layout.fragments.typeA, {firstRow, secondRow},
                       elements);
}

/// The B fragment of mma `i`: the lane's x of the columns of its weight
/// tiles' elements [4 i, 4 i + 4), `order` giving each element's column.
Value buildInputFragment(KernelBuilder &kb, const MmaGemvLayout &layout,
                         ArrayRef<Value> x, ArrayRef<int64_t> order,
                         int64_t i) {
  SmallVector<std::pair<int64_t, int64_t>, 4> elements;
  for (int64_t u = 0; u < kMmaGemvSlots; ++u)
    elements.push_back({0, order[i * kMmaGemvSlots + u]});
  return buildFragment(kb, layout.fragments.typeB, {x}, elements);
}

/// x in shared memory laid out in the order the scheme hands over its
/// weights: within each tile of tileCols columns, position p holds column
/// order[p] (QuantSchemeAttrInterface::buildDequantVectorInAnyOrder's
/// order, the same for every tile and row). A lane's 16-byte loads of x then
/// give its B fragments register by register, where x in column order
/// takes a byte permute per pair of weights whose order pairs columns
/// apart (affine, mixed, QUIK: code i with code i + 4 of a word). The
/// permutation is applied once per block, when x is staged.
struct InputPermutation {
  int64_t tileCols = 0;
  SmallVector<int64_t> order;
  /// The smallest blocks of columns the order keeps together, each in the
  /// same order (a pair order: the codes of one word, 8 columns at 4
  /// bits): staging permutes x a block at a time, no wider than it loads.
  int64_t blockCols = 0;
  explicit operator bool() const { return tileCols != 0; }

  /// The shuffle mask that lays out `pieceCols` consecutive columns (a
  /// multiple of blockCols, starting at a block): element p of the result
  /// is column mask[p] of the piece.
  SmallVector<int64_t> getPieceMask(int64_t pieceCols) const {
    SmallVector<int64_t> mask;
    for (int64_t p = 0; p < pieceCols; ++p)
      mask.push_back(p - p % blockCols + order[p % blockCols]);
    return mask;
  }
  bool operator==(const InputPermutation &other) const {
    return tileCols == other.tileCols && order == other.order;
  }
  bool operator!=(const InputPermutation &other) const {
    return !(*this == other);
  }
};

int64_t getMmaScaleFactorColumns(const MatmulOperands &ops, int64_t tileCols);

/// The widest tiles whose x is laid out in their order. At 64 columns
/// (mixed's 2-bit tiles) the loop feeds B straight from 8 x loads a step,
/// and ptxas's sm_80 schedule of the fused gate/up kernel then took the
/// 128-register bound and spilled 28 bytes (84 registers with the PRMTs);
/// its sm_90 one took 72 (76 before) for 7% fewer instructions.
constexpr int64_t kMmaGemvMaxPermutedTileCols = 32;

/// The permutation of x that fits the tiles of `tileCols` columns of a
/// tensor-core GEMV over `ops` (`mma`), or none (column order: a plain
/// weight, or a scheme that hands its tiles over in column order).
InputPermutation getMmaInputPermutation(const MatmulOperands &ops, bool mma,
                                        int64_t tileCols) {
  if (!mma || !ops.scheme || tileCols > kMmaGemvMaxPermutedTileCols)
    return {};
  SmallVector<int64_t> order = getDequantVectorOrder(
      ops.scheme, {ops.rows, ops.cols}, tileCols, ops.elementType,
      /*unscaled=*/getMmaScaleFactorColumns(ops, tileCols) != 0);
  SmallVector<int64_t> sorted(order);
  llvm::sort(sorted);
  if (!llvm::equal(sorted, llvm::seq<int64_t>(0, tileCols)) ||
      llvm::equal(order, llvm::seq<int64_t>(0, tileCols)))
    return {};
  InputPermutation permutation{tileCols, std::move(order), tileCols};
  for (int64_t block = 1; block < tileCols; block *= 2)
    if (llvm::all_of(llvm::seq<int64_t>(0, tileCols), [&](int64_t p) {
          return permutation.order[p] ==
                 p - p % block + permutation.order[p % block];
        })) {
      permutation.blockCols = block;
      break;
    }
  return permutation;
}

/// `values`, consecutive columns of x from a block's start, in the
/// permutation's order.
SmallVector<Value> permuteInputPiece(ArrayRef<Value> values,
                                     const InputPermutation &permutation) {
  SmallVector<Value> permuted;
  for (int64_t column : permutation.getPieceMask(values.size()))
    permuted.push_back(values[column]);
  return permuted;
}

/// The position of column `col` in x laid out by `permutation`: the
/// inverse within its tile, from a constant table of the kernel.
Value buildPermutedInputPosition(KernelBuilder &kb, OpBuilder &b, Location loc,
                                 const InputPermutation &permutation,
                                 Value col) {
  int64_t tileCols = permutation.tileCols;
  SmallVector<int32_t> positions(tileCols);
  for (auto [p, column] : llvm::enumerate(permutation.order))
    positions[column] = static_cast<int32_t>(p);
  auto tableType = MemRefType::get({tileCols}, b.getI32Type());
  std::string name = (kb.func.getName() + "_x_positions").str();
  auto module = kb.func->getParentOp();
  if (!SymbolTable::lookupSymbolIn(module, name)) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(kb.func);
    memref::GlobalOp::create(
        b, loc, name, b.getStringAttr("private"), tableType,
        DenseElementsAttr::get(
            RankedTensorType::get({tileCols}, b.getI32Type()),
            ArrayRef(positions)),
        /*constant=*/true, /*alignment=*/b.getI64IntegerAttr(16));
  }
  Value table = memref::GetGlobalOp::create(b, loc, tableType, name);
  Value width = arith::ConstantIndexOp::create(b, loc, tileCols);
  Value within = arith::RemUIOp::create(b, loc, col, width);
  Value position = arith::IndexCastUIOp::create(
      b, loc, b.getIndexType(), memref::LoadOp::create(b, loc, table, within));
  return arith::AddIOp::create(
      b, loc, arith::SubIOp::create(b, loc, col, within), position);
}

/// The columns of a run sharing a scale factor
/// (QuantSchemeAttrInterface::getScaleFactorColumns) when the GEMV can
/// apply it to its sums instead of to each weight: a step (4 lanes' tiles
/// of a row, summed by the mmas) lies within one run. 0 otherwise.
int64_t getMmaScaleFactorColumns(const MatmulOperands &ops, int64_t tileCols) {
  if (!ops.scheme)
    return 0;
  int64_t run = ops.scheme.getScaleFactorColumns({ops.rows, ops.cols});
  if (run <= 0 || run % (kMmaGemvLanesPerRow * tileCols) != 0 ||
      !buildsScaleFactors(ops.scheme, {ops.rows, ops.cols}, tileCols,
                          ops.elementType))
    return 0;
  return run;
}

/// `sums` (a C fragment) times the lane's two rows' factors, plus `acc`
/// when given: one f32 multiply or fma per value.
Value buildScaledSums(KernelBuilder &kb, const MmaGemvLayout &layout,
                      Value sums, ArrayRef<Value> factors, Value acc) {
  // vector<R x 2 x f32>, built a register pair at a time as the fragments
  // are (n-D vectors are arrays of 1-D ones in LLVM).
  VectorType type = layout.fragments.typeC;
  int64_t perRegister = type.getDimSize(1);
  Value factor = arith::ConstantOp::create(
      kb.b, kb.loc, type,
      DenseElementsAttr::get(type, kb.b.getF32FloatAttr(0.0f)));
  for (int64_t r = 0; r < type.getDimSize(0); ++r) {
    SmallVector<Value, 2> pair;
    for (int64_t e = 0; e < perRegister; ++e)
      pair.push_back(factors[layout.cRowOffset[r * perRegister + e]]);
    Value row = vector::FromElementsOp::create(
        kb.b, kb.loc, VectorType::get({perRegister}, kb.b.getF32Type()), pair);
    factor = vector::InsertOp::create(kb.b, kb.loc, row, factor, r);
  }
  if (!acc)
    return arith::MulFOp::create(kb.b, kb.loc, sums, factor);
  return math::FmaOp::create(kb.b, kb.loc, sums, factor, acc);
}

/// The warp's K loop: per step, each lane stages and dequantizes its tile
/// of both its rows, loads the tile's x and issues tileCols / 4 mma.sync
/// into one f32 accumulator fragment, which it returns.
///
/// A scheme whose scale factors cover whole steps (getMmaScaleFactorColumns)
/// hands over its weights unscaled (q - z, exact in f16), saving its
/// per-weight multiply: a factor per row then scales the step's mma sums
/// (one fma per accumulator value), or, for a factor per row (the run is
/// K), the loop's sums once after it.
Value buildMmaKLoop(KernelBuilder &kb, const MatmulOperands &ops,
                    const MatmulTiling &tiling, const MmaGemvLayout &layout,
                    ArrayRef<LaneRow> rows, Value input, Value xRow, Value lane,
                    Value slice, int64_t splitK,
                    const InputPermutation *xPermutation) {
  OpBuilder &b = kb.b;
  Location loc = kb.loc;
  int64_t tileCols = tiling.tileCols, k = ops.cols;
  int64_t stepCols = kMmaGemvLanesPerRow * tileCols;
  Value laneCol =
      kb.mul(kb.remU(lane, kb.index(kMmaGemvLanesPerRow)), kb.index(tileCols));
  VectorType accType = layout.fragments.typeC;
  Value zero = arith::ConstantOp::create(
      b, loc, accType, DenseElementsAttr::get(accType, b.getF32FloatAttr(0)));
  // kMmaGemvChains accumulators, the mmas of a step taking them in turn
  // (each mma waits for the one before it on its chain). One: with two,
  // ptxas kept more of a step's loads in flight and took 24-26 more
  // registers (mixed 73 -> 99, lut3 56 -> 80) for the same instructions;
  // whether the chain's latency costs time is for a GPU run to show.
  int64_t factorRun = getMmaScaleFactorColumns(ops, tileCols);
  bool scalePerStep = factorRun != 0 && factorRun != k;
  SmallVector<Value> inits(scalePerStep ? 1 : kMmaGemvChains, zero);
  SmallVector<Value> acc = kb.loop(
      kb.mul(slice, kb.index(stepCols)), kb.index(k),
      kb.index(splitK * stepCols), inits, [&](Value step, ValueRange partial) {
        // Lanes only read back their own slices of the staged tiles: no
        // barrier (see buildKLoop).
        Value col = kb.add(step, laneCol);
        // Both rows' tiles come in the scheme's order (one per shape and
        // width); x is gathered into the fragments to match.
        SmallVector<SmallVector<Value>, 2> weights;
        SmallVector<SmallVector<int64_t>, 2> orders;
        SmallVector<Value, 2> factors;
        for (const LaneRow &row : rows) {
          StagedReader reader(row.components, kb, tiling, row.stagingRow, lane,
                              col, k, row.residentRow);
          stageStep(kb, row.components, reader, tiling.staged, row.loadRow,
                    row.stagingRow, lane);
          weights.push_back(
              {buildWeightVector(kb, ops, reader, row.loadRow, col, tileCols,
                                 factorRun != 0, orders.emplace_back())});
          if (scalePerStep)
            factors.push_back(ops.scheme.buildScaleFactor(
                b, loc, reader, {ops.rows, ops.cols}, row.loadRow, col));
        }
        // x comes in the order of the first row's tile (laid out so in
        // shared memory, or gathered); a tile in another order is put in it.
        SmallVector<int64_t> xOrder;
        if (xPermutation)
          xOrder = xPermutation->order;
        else if (orders[0] == orders[1])
          xOrder = orders[0];
        else
          setColumnOrder(xOrder, tileCols);
        for (auto [tile, order] : llvm::zip(weights, orders))
          if (order != xOrder) {
            Value inColumns = buildInColumnOrder(b, loc, tile.front(), order);
            tile.front() = llvm::equal(xOrder, llvm::seq<int64_t>(0, tileCols))
                               ? inColumns
                               : vector::ShuffleOp::create(b, loc, inColumns,
                                                           inColumns, xOrder)
                                     .getResult();
            order = xOrder;
          }
        // Element p of the loaded x is x's column xOrder[p] if x is laid
        // out by the permutation, column p otherwise.
        if (xPermutation)
          setColumnOrder(xOrder, tileCols);
        SmallVector<Value> x = loadInputVectors(kb, input, xRow, col, tileCols);
        // A step scaled on its own sums from zero, on one chain.
        SmallVector<Value> sums(scalePerStep ? ValueRange{zero} : partial);
        for (int64_t i = 0; i < tileCols / kMmaGemvSlots; ++i) {
          Value &sum = sums[i % sums.size()];
          sum = buildMmaSync(
              b, loc, layout.fragments, ops.elementType,
              buildWeightFragment(kb, layout, weights[0], weights[1], i),
              buildInputFragment(kb, layout, x, xOrder, i), sum);
        }
        if (scalePerStep)
          return SmallVector<Value>{
              buildScaledSums(kb, layout, sums.front(), factors, partial[0])};
        return sums;
      });
  Value total = acc.front();
  for (Value chain : ArrayRef<Value>(acc).drop_front())
    total = arith::AddFOp::create(b, loc, total, chain);
  if (factorRun != k)
    return total;
  // One factor per row: the whole loop's sums, once.
  SmallVector<Value, 2> factors;
  for (const LaneRow &row : rows)
    factors.push_back(ops.scheme.buildScaleFactor(
        b, loc, ComponentReader(row.components), {ops.rows, ops.cols},
        row.loadRow, kb.index(0)));
  return buildScaledSums(kb, layout, total, factors, Value());
}

/// The sparse terms (QuantSchemeAttrInterface::buildSparseDot) of a lane
/// row: the row's 4 lanes and the split-K slices take every (splitK * 4)-th
/// term, and two shuffles give all 4 lanes the row's sum. Null when the
/// scheme has none.
Value buildMmaSparseSum(KernelBuilder &kb, const MatmulOperands &ops,
                        const LaneRow &row, Value input, Value xRow, Value lane,
                        Value slice, int64_t splitK,
                        const InputPermutation *xPermutation) {
  if (!ops.scheme)
    return Value();
  ComponentReader reader(row.components);
  Value first = kb.add(kb.mul(slice, kb.index(kMmaGemvLanesPerRow)),
                       kb.remU(lane, kb.index(kMmaGemvLanesPerRow)));
  Value sum = ops.scheme.buildSparseDot(
      kb.b, kb.loc, reader, {ops.rows, ops.cols}, row.loadRow, first,
      kb.index(splitK * kMmaGemvLanesPerRow),
      [&](OpBuilder &b, Location loc, Value col) {
        if (xPermutation)
          col = buildPermutedInputPosition(kb, b, loc, *xPermutation, col);
        return buildExtendToF32(
            b, loc,
            memref::LoadOp::create(b, loc, input, ValueRange{xRow, col}));
      });
  if (!sum)
    return Value();
  for (int32_t offset = 1; offset < kMmaGemvLanesPerRow; offset *= 2)
    sum = kb.addF(sum, gpu::ShuffleOp::create(kb.b, kb.loc, sum, offset,
                                              kWarpSize, gpu::ShuffleMode::XOR)
                           .getShuffleResult());
  return sum;
}

/// Where a warp's row sums go: row m (0..15) of the warp to
/// sums[base + m * stride].
struct SumSlots {
  Value sums, base;
  int64_t stride = 1;
};

/// The split-K warps of a group copy the resident components of its 16
/// rows (`rowOf` gives group row m's weight row) into rows
/// firstResidentRow + m of the tiles, each warp every splitK-th row. The
/// caller's barrier publishes them to the group.
void loadMmaResidentRows(KernelBuilder &kb, const MatmulTiling &tiling,
                         ValueRange components,
                         function_ref<Value(Value)> rowOf,
                         Value firstResidentRow, Value lane, Value slice,
                         int64_t splitK) {
  kb.loop(slice, kb.index(kMmaGemvRows), kb.index(splitK), [&](Value m) {
    loadResidentRows(kb, components, tiling.resident, rowOf(m),
                     kb.add(firstResidentRow, m), lane);
  });
}

/// The warp's 16 rows through the K loop into `slots`: each lane takes
/// rows lane / 4 and lane / 4 + 8 (`rowOf` gives group row m's weight row,
/// which stays inside the weight; its resident rows are already at
/// firstResidentRow + m), and the lanes holding C's column 0 store the sums
/// with their rows' sparse terms.
void buildMmaRows(KernelBuilder &kb, const MatmulOperands &ops,
                  const MatmulTiling &tiling, const MmaGemvLayout &layout,
                  ValueRange components, function_ref<Value(Value)> rowOf,
                  Value input, Value xRow, Value firstResidentRow, Value warp,
                  Value lane, Value slice, int64_t splitK,
                  const SumSlots &slots, const InputPermutation *xPermutation) {
  Value group = kb.divU(lane, kb.index(kMmaGemvLanesPerRow));
  SmallVector<LaneRow, 2> rows;
  for (int64_t offset = 0; offset < kMmaGemvStagingRows; ++offset) {
    Value m = kb.add(group, kb.index(offset * 8));
    rows.push_back({SmallVector<Value>(components), rowOf(m),
                    kb.add(firstResidentRow, m),
                    kb.add(kb.mul(warp, kb.index(kMmaGemvStagingRows)),
                           kb.index(offset))});
  }
  Value acc = buildMmaKLoop(kb, ops, tiling, layout, rows, input, xRow, lane,
                            slice, splitK, xPermutation);
  SmallVector<Value, 2> sparse;
  for (const LaneRow &row : rows)
    if (Value sum = buildMmaSparseSum(kb, ops, row, input, xRow, lane, slice,
                                      splitK, xPermutation))
      sparse.push_back(sum);
  VectorType accType = layout.fragments.typeC;
  int64_t perRegister = accType.getDimSize(1);
  for (int64_t v = 0; v < accType.getNumElements(); ++v) {
    SmallVector<Value> mn =
        expandMmaMap(kb.b, kb.loc, layout.fragments.c, lane, v);
    Value value = vector::ExtractOp::create(
        kb.b, kb.loc, acc, ArrayRef<int64_t>{v / perRegister, v % perRegister});
    if (sparse.size() == rows.size())
      value = kb.addF(value, arith::SelectOp::create(
                                 kb.b, kb.loc,
                                 kb.cmp(arith::CmpIPredicate::eq, mn[0], group),
                                 sparse[0], sparse[1]));
    kb.ifThen(kb.cmp(arith::CmpIPredicate::eq, mn[1], kb.index(0)), [&] {
      Value at = kb.add(slots.base, kb.mul(mn[0], kb.index(slots.stride)));
      memref::StoreOp::create(kb.b, kb.loc, value, slots.sums, ValueRange{at});
    });
  }
}

/// The rows per block and warp, and the split of K, of a GEMV over `rows`
/// output rows that come in tasks of `rowsPerTask` (a fused segment's rope
/// pairs or gate/up rows; 1 for a plain matmul).
struct GemvShape {
  int64_t splitK = 1, rowsPerWarp = 1, rowsPerBlock = 1, blocks = 0;
  MatmulTiling tiling;
  /// On tensor cores (canUseMmaGemv): 16 rows per warp group.
  bool mma = false;
};

/// Decode keeps up to 64 weights per lane in registers (32 but for
/// kWideTileCols), prefill 8 (each is
/// multiplied with 8 token rows). Decode splits K over the warps of a block
/// below kSplitKMaxRows rows, so that small layers still fill the GPU (the
/// warps' sums meet in shared memory), and with a task of two rows takes
/// two warps per row, so that the block holds the task whole; without
/// split-K, a cheap tile gives a warp kDecodeRowsPerWarp rows.
GemvShape chooseGemvShape(const MatmulOperands &ops, Value input, int64_t rows,
                          int64_t rowsPerTask, bool decode) {
  GemvShape shape;
  shape.tiling = chooseTiling(ops, decode ? kWideTileCols : 8);
  // A step of the tensor-core GEMV is 4 lanes' tiles: narrower tiles where
  // K is no multiple of 4 wide ones (K = 288: 8 columns).
  if (decode && !canUseMmaGemv(ops, input, shape.tiling.tileCols))
    for (int64_t tileCols = shape.tiling.tileCols / 2;
         tileCols >= kMmaGemvSlots; tileCols /= 2) {
      if (!canUseMmaGemv(ops, input, tileCols))
        continue;
      MatmulTiling narrower = chooseTiling(ops, tileCols);
      if (canUseMmaGemv(ops, input, narrower.tileCols)) {
        shape.tiling = narrower;
        break;
      }
    }
  if (decode && canUseMmaGemv(ops, input, shape.tiling.tileCols)) {
    // A lane holds two rows' tiles: a tile of table lookups (bitplane) is
    // held to kMmaGemvMaxLookupTileCols columns.
    if (shape.tiling.tileCols > kMmaGemvMaxLookupTileCols && ops.scheme &&
        dequantVectorGathers(ops.scheme, {ops.rows, ops.cols},
                             shape.tiling.tileCols, ops.elementType)) {
      MatmulTiling narrower = chooseTiling(ops, kMmaGemvMaxLookupTileCols);
      if (canUseMmaGemv(ops, input, narrower.tileCols))
        shape.tiling = narrower;
    }
    // Split-K as far as a block holds whole tasks: 16-row groups would
    // otherwise leave a 4096-row layer 64 blocks, too few bytes in flight.
    shape.mma = true;
    shape.splitK = kMatmulWarps / rowsPerTask;
    shape.rowsPerWarp = kMmaGemvRows;
    shape.tiling.rowsPerWarp = kMmaGemvRows;
    shape.tiling.stagingRowsPerWarp = kMmaGemvStagingRows;
    shape.tiling.residentRowsPerBlock =
        kMatmulWarps / shape.splitK * kMmaGemvRows;
    shape.rowsPerBlock = kMatmulWarps / shape.splitK * kMmaGemvRows;
    shape.blocks = (rows + shape.rowsPerBlock - 1) / shape.rowsPerBlock;
    return shape;
  }
  shape.splitK =
      decode && rows <= kSplitKMaxRows ? kMatmulWarps / rowsPerTask : 1;
  shape.rowsPerWarp =
      decode && shape.splitK == 1 && isCheapTile(ops, shape.tiling.tileCols)
          ? kDecodeRowsPerWarp
          : 1;
  shape.tiling.rowsPerWarp = shape.rowsPerWarp;
  shape.rowsPerBlock = kMatmulWarps / shape.splitK * shape.rowsPerWarp;
  shape.blocks = (rows + shape.rowsPerBlock - 1) / shape.rowsPerBlock;
  return shape;
}

/// Bounds the registers of every GEMV-style matmul kernel
/// (kWideTileMaxRegisters): without a bound ptxas aims some at 40 or 48
/// registers and spills (affine3's tensor-core GEMV 8 bytes; with 32-bit
/// index arithmetic, lut3sparse's f32 prefill matmuls on tiny 12 and
/// lut4's sm_80 fused decode 8). The tensor-core prefill kernels do not
/// spill without it, and take 70-75 registers instead of 94-95 with it.
void boundMatmulRegisters(KernelBuilder &kb) {
  kb.func->setAttr(NVVM::NVVMDialect::getMaxnregAttrName(),
                   kb.b.getI32IntegerAttr(kWideTileMaxRegisters));
}

/// A shared memref<1 x K x T> for a block's copy of one x row, 16-byte
/// aligned: 16-byte vector loads read it back.
Value allocateStagedRow(KernelBuilder &kb, Type elementType, int64_t k) {
  auto space = gpu::AddressSpaceAttr::get(kb.b.getContext(),
                                          gpu::AddressSpace::Workgroup);
  Value staged = kb.func.addWorkgroupAttribution(
      MemRefType::get({1, k}, elementType, MemRefLayoutAttrInterface{}, space),
      kb.loc);
  kb.func.setWorkgroupAttributionAttr(kb.func.getNumWorkgroupAttributions() - 1,
                                      LLVM::LLVMDialect::getAlignAttrName(),
                                      kb.b.getI64IntegerAttr(16));
  return staged;
}

/// Calls `body(d, valid)` for each of the block's threads' pieces of a
/// row: `pieces` pieces of `piece` elements, d the piece's first column.
/// Unrolled: a thread's few pieces load at once (a 4096-wide f16 row is 4
/// pieces a thread), and the kernel's only loops stay the K loops. In a
/// partial last round, `valid` says whether the thread has a piece (its d
/// is clamped to the last one); elsewhere `valid` is null.
void forEachBlockPiece(KernelBuilder &kb, int64_t pieces, int64_t piece,
                       function_ref<void(Value d, Value valid)> body) {
  constexpr int64_t kBlock = kMatmulWarps * kWarpSize;
  int64_t rounds = (pieces + kBlock - 1) / kBlock;
  Value tid = kb.threadId();
  for (int64_t round = 0; round < rounds; ++round) {
    Value p = kb.add(tid, kb.index(round * kBlock));
    Value valid;
    if ((round + 1) * kBlock > pieces) {
      valid = kb.cmp(arith::CmpIPredicate::ult, p, kb.index(pieces));
      p = kb.minU(p, kb.index(pieces - 1));
    }
    body(kb.mul(p, kb.index(piece)), valid);
  }
}

/// The largest x row stageInputRow copies into shared memory: with the
/// staging tiles it must stay within 48 KiB (llama2-7b's down_proj, K =
/// 11008 in f16, is 21.5 KiB; its kernel then takes 33-40 KiB).
constexpr int64_t kMaxStagedInputBytes = 24 * 1024;

/// Copies x[row, 0 .. K) into a shared memref<1 x K x T> with 16-byte
/// pieces over the block's threads, then a barrier, and returns it with
/// `row` 0; returns `input` itself above kMaxStagedInputBytes or
/// `maxBytes`. The
/// tensor-core GEMV reads its x from there: each lane's 16-byte loads of x
/// are then shared loads, which ptxas does not hoist and hold the way it
/// holds global loads (mixed took all 128 registers and spilled with x
/// from global memory).
Value stageInputRow(KernelBuilder &kb, Value input, Value &row,
                    int64_t maxBytes = kMaxStagedInputBytes,
                    const InputPermutation &permutation = {}) {
  auto type = cast<MemRefType>(input.getType());
  Type element = type.getElementType();
  int64_t k = type.getDimSize(1);
  if (k * element.getIntOrFloatBitWidth() / 8 >
      std::min(maxBytes, kMaxStagedInputBytes))
    return input;
  Value staged = allocateStagedRow(kb, element, k);
  // A permuted copy moves whole blocks of the permutation (one shuffle).
  int64_t piece = KernelBuilder::getVectorWidth({input}, k);
  if (permutation)
    piece = std::max(piece, permutation.blockCols);
  auto vectorType = VectorType::get({piece}, element);
  llvm::Align align(
      std::min<int64_t>(16, piece * element.getIntOrFloatBitWidth() / 8));
  forEachBlockPiece(kb, k / piece, piece, [&](Value col, Value valid) {
    auto copy = [&] {
      Value x = vector::LoadOp::create(kb.b, kb.loc, vectorType, input,
                                       ValueRange{row, col},
                                       /*nontemporal=*/false, align);
      if (permutation)
        x = vector::ShuffleOp::create(kb.b, kb.loc, x, x,
                                      permutation.getPieceMask(piece));
      vector::StoreOp::create(kb.b, kb.loc, x, staged,
                              ValueRange{kb.index(0), col},
                              /*nontemporal=*/false, align);
    };
    if (valid)
      kb.ifThen(valid, copy);
    else
      copy();
  });
  gpu::BarrierOp::create(kb.b, kb.loc);
  row = kb.index(0);
  return staged;
}

/// The tensor-core decode GEMV (`tokensPerBlock` 1): kMatmulWarps / splitK
/// warp groups of 16 rows per block, split-K over the warps of a group; the
/// sums meet in shared memory, and one thread per row adds the slices in a
/// fixed order and stores.
void buildMmaMatmulBody(const MatmulSpec &spec, GeneratorContext &ctx,
                        GemvShape shape, const MmaGemvLayout &layout) {
  KernelBuilder &kb = ctx.kb;
  const MatmulOperands &ops = spec.ops;
  int64_t n = ops.rows, splitK = shape.splitK;
  int64_t rowsPerBlock = shape.rowsPerBlock;
  MatmulTiling &tiling = shape.tiling;
  assert(splitK == kMatmulWarps && "one split-K group per block");
  allocateStagingTiles(kb, ops, tiling);
  allocateResidentTiles(kb, ops, tiling, kMmaGemvResidentBytes);
  Value sums = kb.sharedArray(splitK * rowsPerBlock);
  ThreadIds ids = getThreadIds(kb, splitK);
  Value tid = ids.tid, warp = ids.warp, lane = ids.lane, slice = ids.slice;
  Value groupRow =
      kb.mul(kb.divU(warp, kb.index(splitK)), kb.index(kMmaGemvRows));
  Value blockRow =
      kb.mul(kb.blockId(gpu::Dimension::x), kb.index(rowsPerBlock));
  Value firstRow = kb.add(blockRow, groupRow);
  Value lastToken = kb.sub(ops.tokens, kb.index(1));
  Value token = spec.lastTokenOnly ? lastToken : kb.blockId(gpu::Dimension::y);
  Value xRow = kb.minU(token, lastToken);
  InputPermutation permutation =
      getMmaInputPermutation(ops, shape.mma, shape.tiling.tileCols);
  Value x = stageInputRow(kb, ops.input, xRow,
                          kMmaGemvSharedBytes -
                              getTileSharedBytes(tiling, ops.pipelineStages),
                          permutation);
  // x too large to stage stays in global memory, in column order.
  const InputPermutation *xPermutation =
      permutation && x != ops.input ? &permutation : nullptr;
  // A block is one group (splitK == kMatmulWarps): the branch is uniform
  // over the block, so the barrier publishing the resident rows is legal.
  kb.ifThen(kb.cmp(arith::CmpIPredicate::ult, firstRow, kb.index(n)), [&] {
    auto rowOf = [&](Value m) {
      return kb.minU(kb.add(firstRow, m), kb.index(n - 1));
    };
    if (!tiling.resident.empty()) {
      loadMmaResidentRows(kb, tiling, ops.components, rowOf, groupRow, lane,
                          slice, splitK);
      gpu::BarrierOp::create(kb.b, kb.loc);
    }
    buildMmaRows(
        kb, ops, tiling, layout, ops.components, rowOf, x, xRow, groupRow, warp,
        lane, slice, splitK,
        {sums, kb.add(kb.mul(slice, kb.index(rowsPerBlock)), groupRow)},
        xPermutation);
  });
  gpu::BarrierOp::create(kb.b, kb.loc);
  Value outRow = kb.add(blockRow, tid);
  Value stores = arith::AndIOp::create(
      kb.b, kb.loc,
      kb.cmp(arith::CmpIPredicate::ult, tid, kb.index(rowsPerBlock)),
      kb.cmp(arith::CmpIPredicate::ult, outRow, kb.index(n)));
  stores = arith::AndIOp::create(
      kb.b, kb.loc, stores,
      kb.cmp(arith::CmpIPredicate::ult, token, ops.tokens));
  kb.ifThen(stores, [&] {
    Value total = sumSplitKSlices(kb, sums, tid, rowsPerBlock, splitK);
    storeMatmulOutput(spec, kb, total, token, outRow);
  });
}

/// One warp per rowsPerWarp output rows, kMatmulTokens rows of x per block:
/// every lane dequantizes tileCols consecutive weights of each of its rows
/// per step, multiplies them with the block's x rows in f32 (each x element
/// loaded and widened once for all the rows) and the warp reduces with
/// shuffles.
LogicalResult buildMatmulBody(const MatmulSpec &spec, GeneratorContext &ctx,
                              int64_t tokensPerBlock) {
  KernelBuilder &kb = ctx.kb;
  OpBuilder &b = kb.b;
  Location loc = kb.loc;
  const MatmulOperands &ops = spec.ops;
  int64_t n = ops.rows;
  GemvShape shape = chooseGemvShape(ops, ops.input, n, 1, tokensPerBlock == 1);
  boundMatmulRegisters(kb);
  if (shape.mma) {
    FailureOr<MmaGemvLayout> layout = getMmaGemvLayout(b, loc, ops.elementType);
    if (failed(layout))
      return failure();
    buildMmaMatmulBody(spec, ctx, shape, *layout);
    ctx.launch.block = {kMatmulWarps * kWarpSize, 1, 1};
    ctx.launch.weightsPerWarpIteration =
        kWarpSize * shape.tiling.tileCols * kMmaGemvStagingRows;
    ctx.launch.grid[0] = GridDim{shape.blocks, 0};
    ctx.launch.grid[1] =
        spec.lastTokenOnly ? GridDim{1, 0} : GridDim{1, tokensPerBlock};
    return success();
  }
  MatmulTiling &tiling = shape.tiling;
  int64_t tileCols = tiling.tileCols;
  // Split-K: the block's warps share one row, each taking every
  // splitK-th step of K.
  int64_t splitK = shape.splitK, rowsPerWarp = shape.rowsPerWarp;
  allocateStagingTiles(kb, ops, tiling);
  allocateResidentTiles(kb, ops, tiling);
  int64_t rowsPerBlock = shape.rowsPerBlock;
  Value partials = splitK > 1 ? kb.sharedArray(kMatmulWarps) : Value();
  ThreadIds ids = getThreadIds(kb, splitK);
  Value tid = ids.tid, warp = ids.warp, lane = ids.lane, slice = ids.slice;
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
      loadResidentRows(kb, ops.components, tiling.resident, loadRows[j],
                       tileRows[j], lane);
    SmallVector<WarpRow> warpRows;
    for (int64_t j = 0; j < rowsPerWarp; ++j)
      warpRows.push_back({ops.components, loadRows[j], tileRows[j]});
    SmallVector<Value> accs = buildKLoop(kb, ops, tiling, warpRows, ops.input,
                                         xRows, lane, slice, splitK);
    for (int64_t t = 0; t < tokensPerBlock; ++t)
      for (int64_t j = 0; j < rowsPerWarp; ++j)
        storeRowResult(spec, kb, ids, accs[t * rowsPerWarp + j], outRows[j],
                       /*mayBePastN=*/rowsPerWarp > 1, firstToken, t, splitK,
                       partials);
  });
  ctx.launch.block = {kMatmulWarps * kWarpSize, 1, 1};
  ctx.launch.weightsPerWarpIteration = kWarpSize * tileCols * rowsPerWarp;
  ctx.launch.grid[0] = GridDim{shape.blocks, 0};
  ctx.launch.grid[1] =
      spec.lastTokenOnly ? GridDim{1, 0} : GridDim{1, tokensPerBlock};
  return success();
}

/// The weight side of a matmul, mixq.matmul, llm.linear or llm.logits:
/// its shape, scheme, element type and component memrefs; the input,
/// output and residual are left to the caller.
FailureOr<MatmulOperands> getWeightOperands(Operation *anchor,
                                            const GeneratorContext &ctx) {
  MatmulOperands ops;
  Value weight = anchor->getOperand(1);
  if (auto qtensor = dyn_cast<QTensorType>(weight.getType())) {
    ops.scheme = qtensor.getScheme();
    ops.rows = qtensor.getShape()[0];
    ops.cols = qtensor.getShape()[1];
    ops.elementType =
        cast<FloatType>(cast<RankedTensorType>(anchor->getResult(0).getType())
                            .getElementType());
  } else {
    auto type = cast<RankedTensorType>(weight.getType());
    ops.rows = type.getDimSize(0);
    ops.cols = type.getDimSize(1);
    ops.elementType = cast<FloatType>(type.getElementType());
  }
  if (failed(requireValues(anchor, ctx.values, {weight})))
    return failure();
  ArrayRef<Value> weightValues = ctx.values.lookupAll(weight);
  ops.components.assign(weightValues.begin(), weightValues.end());
  ops.tokens = ctx.signature.tokens;
  ops.pipelineStages = ctx.options.pipelineStages;
  ops.tensorCoreGemv = ctx.options.tensorCoreGemv;
  return ops;
}

/// Collects the matmul's operands; `epilogue` is the residual llm.add that
/// consumes its result, if the dispatch fused one.
FailureOr<MatmulSpec> getMatmulSpec(Operation *anchor, llm::AddOp epilogue,
                                    const GeneratorContext &ctx) {
  FailureOr<MatmulOperands> weightOps = getWeightOperands(anchor, ctx);
  if (failed(weightOps))
    return failure();
  MatmulSpec spec;
  MatmulOperands &ops = spec.ops;
  ops = *weightOps;
  auto logits = dyn_cast<llm::LogitsOp>(anchor);
  spec.lastTokenOnly = logits && logits.getLastTokenOnly();
  Value input = anchor->getOperand(0), result = anchor->getResult(0);
  const ValueMap &values = ctx.values;
  if (failed(requireValues(anchor, values, {input})))
    return failure();
  ops.input = values.lookup(input);
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
  return buildMatmulBody(*spec, ctx, tokensPerBlock);
}
} // namespace mlir::mixq::cuda::gen

//===----------------------------------------------------------------------===//
// Fused decode GEMV: rms_norm prologue, sibling matmuls, rope / SwiGLU /
// residual epilogues (--mixq-form-dispatches fuse-decode)
//===----------------------------------------------------------------------===//

namespace mlir::mixq::cuda::gen {
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
                           GemvShape shape, Value block, Value input,
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
      if (known && segment.weights.size() > 1)
        components = segment.weights[*known].components;
      warpRows.push_back(
          {components, getSlotRow(kb, segment, task, slot),
           kb.add(kb.mul(warp, kb.index(rowsPerWarp)), kb.index(j))});
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
      loadResidentRows(kb, row.components, tiling.resident, row.loadRow,
                       row.tileRow, lane);
    SmallVector<Value> accs = buildKLoop(kb, ops, tiling, warpRows, input,
                                         {kb.index(0)}, lane, slice, splitK);
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
                              GemvShape shape, Value block, Value input,
                              StringRef suffix, const MmaGemvLayout &layout,
                              SharedResidentTiles &shared,
                              const InputPermutation *xPermutation) {
  KernelBuilder &kb = ctx.kb;
  const MatmulOperands &ops = segment.weights.front();
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
        if (!shape.tiling.resident.empty()) {
          forEachSlot([&](int64_t slot) {
            loadMmaResidentRows(kb, shape.tiling, getComponents(slot),
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
                       getRowOf(slot), input, kb.index(0), firstResidentRow,
                       warp, lane, slice, splitK, {sums, base, slots},
                       xPermutation);
        });
      });
  gpu::BarrierOp::create(kb.b, kb.loc);
  return storeBlockTasks(ctx, segment, shape, block, sums, freqs);
}

/// The ops a fused GEMV computes a segment of.
bool isMatmulLike(Operation *op) {
  return isa<MatmulOp, llm::LinearOp, llm::LogitsOp>(op);
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
      segment.slots = 2;
      result = swiglu.getResult();
      covered.insert(up);
    }
    if (user)
      covered.insert(user);
    FailureOr<Value> output = getOutput(op, ctx.values, result);
    if (failed(output))
      return failure();
    segment.output = *output;
    segments.push_back(std::move(segment));
  }
  for (Operation *op : group)
    if (!covered.contains(op) && !isa<llm::RMSNormOp>(op))
      return op->emitError() << "CUDA codegen: this op does not fit a fused "
                                "decode GEMV (norm prologue, matmuls, "
                                "residual/rope/SwiGLU epilogues)";
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

/// The rms_norm prologue: every block normalizes the single row of x into
/// shared memory, T(x * r * w) as the norm kernel stores it (the sum of
/// squares in another order), and the matmuls read x from there. x and w
/// come in 16-byte vectors where D allows (each block reads all of x, from
/// L2: a scalar loop cost about 1.5 instructions per weight of the block).
Value buildNormPrologue(GeneratorContext &ctx, llm::RMSNormOp norm, Value input,
                        Value weight, const InputPermutation &permutation) {
  KernelBuilder &kb = ctx.kb;
  OpBuilder &b = kb.b;
  Location loc = kb.loc;
  auto inputType = cast<MemRefType>(input.getType());
  auto elementType = cast<FloatType>(inputType.getElementType());
  int64_t dim = inputType.getDimSize(1);
  constexpr int64_t kBlock = kMatmulWarps * kWarpSize;
  Value staged = allocateStagedRow(kb, elementType, dim);
  int64_t piece = KernelBuilder::getVectorWidth({input, weight}, dim);
  Value scratch = kb.sharedArray(kWarpSize);
  Value row = kb.index(0);
  auto forEachPiece = [&](function_ref<void(Value d, Value valid)> body) {
    forEachBlockPiece(kb, dim / piece, piece, body);
  };
  Value partial = kb.f32(0.0f);
  forEachPiece([&](Value d, Value valid) {
    Value squares = kb.f32(0.0f);
    for (Value x : kb.loadF32s(input, {row, d}, piece))
      squares = kb.addF(squares, kb.mulF(x, x));
    if (valid)
      squares = arith::SelectOp::create(b, loc, valid, squares, kb.f32(0.0f));
    partial = kb.addF(partial, squares);
  });
  Value sum = kb.blockReduce(Reduction::Sum, partial, scratch, kBlock);
  Value r = buildRMSNormScale(b, loc, sum, dim, norm.getEps().convertToFloat());
  // Stored a block at a time in the permutation's order, if any: the
  // values are only renamed before the f16 packing, no instruction more.
  int64_t storePiece =
      permutation ? std::max(piece, permutation.blockCols) : piece;
  forEachBlockPiece(
      kb, dim / storePiece, storePiece, [&](Value d, Value valid) {
        auto store = [&] {
          SmallVector<Value> normalized;
          for (int64_t first = 0; first < storePiece; first += piece) {
            Value at = kb.add(d, kb.index(first));
            SmallVector<Value> xs = kb.loadF32s(input, {row, at}, piece);
            SmallVector<Value> ws = kb.loadF32s(weight, {at}, piece);
            for (auto [x, w] : llvm::zip(xs, ws))
              normalized.push_back(kb.mulF(kb.mulF(x, r), w));
          }
          if (permutation)
            normalized = permuteInputPiece(normalized, permutation);
          kb.storeF32s(normalized, staged, {row, d});
        };
        if (valid)
          kb.ifThen(valid, store);
        else
          store();
      });
  gpu::BarrierOp::create(b, loc);
  return staged;
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
  // The matmuls' common input, normalized in the prologue or read as is.
  Operation *firstMatmul = *llvm::find_if(group, isMatmulLike);
  Value x = firstMatmul->getOperand(0);
  auto norm = x.getDefiningOp<llm::RMSNormOp>();
  if (norm && !llvm::is_contained(group, norm.getOperation()))
    norm = nullptr;
  Value source = norm ? norm.getInput() : x;
  if (failed(requireValues(norm ? norm : firstMatmul, ctx.values, {source})))
    return failure();
  if (cast<RankedTensorType>(source.getType()).getDimSize(0) != 1)
    return group.front()->emitError()
           << "CUDA codegen: a fused decode GEMV computes a single token row";
  Value input = ctx.values.lookup(source);
  // Each segment's shape, once (a staged x has the input's element type,
  // so staging does not change them).
  SmallVector<GemvShape, 3> shapes;
  for (const Segment &segment : *segments)
    shapes.push_back(chooseGemvShape(segment.weights.front(), input,
                                     segment.tasks * segment.slots,
                                     segment.slots, /*decode=*/true));
  InputPermutation permutation = getSharedInputPermutation(*segments, shapes);
  Value global = input;
  if (norm) {
    if (failed(requireValues(norm, ctx.values, {norm.getWeight()})))
      return failure();
    input = buildNormPrologue(ctx, norm, input,
                              ctx.values.lookup(norm.getWeight()), permutation);
  } else if (llvm::any_of(shapes,
                          [](const GemvShape &shape) { return shape.mma; })) {
    // Tensor-core segments read x from shared memory, as after a norm.
    Value row = kb.index(0);
    input = stageInputRow(kb, input, row, kMaxStagedInputBytes, permutation);
  }
  const InputPermutation *xPermutation =
      permutation && input != global ? &permutation : nullptr;
  for (Operation *op : group)
    if (isMatmulLike(op) && op->getOperand(0) != x)
      return op->emitError()
             << "CUDA codegen: the fused matmuls must share one input";

  // Segment i takes blocks [first_i, first_i + blocks_i). The tensor-core
  // segments share their resident tiles (sized for two-row tasks in all of
  // them, so that q, k and v find one type).
  SharedResidentTiles sharedResident;
  sharedResident.bytesLeft = kMmaGemvResidentBytes;
  Value block = kb.blockId(gpu::Dimension::x);
  int64_t first = 0, weightsPerWarpIteration = 0;
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
    boundMatmulRegisters(kb);
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
      built =
          shape.mma
              ? buildMmaSegment(ctx, segment, shape, segmentBlock, input,
                                suffix, *layout, sharedResident, xPermutation)
              : buildSegment(ctx, segment, shape, segmentBlock, input, suffix);
    });
    if (failed(built))
      return failure();
    first += shape.blocks;
    // A tensor-core lane takes two rows' tiles per step.
    int64_t laneRows = shape.mma ? kMmaGemvStagingRows : shape.rowsPerWarp;
    weightsPerWarpIteration = std::max(
        weightsPerWarpIteration, kWarpSize * shape.tiling.tileCols * laneRows);
  }
  ctx.launch.block = {kMatmulWarps * kWarpSize, 1, 1};
  ctx.launch.weightsPerWarpIteration = weightsPerWarpIteration;
  ctx.launch.grid[0] = GridDim{first, 0};
  ctx.launch.grid[1] = GridDim{1, 0};
  return success();
}
} // namespace mlir::mixq::cuda::gen
