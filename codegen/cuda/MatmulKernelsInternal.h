//===- MatmulKernelsInternal.h - GEMV generators' shared parts -*- C++ -*-===//
//
// Private to codegen/cuda: the tiling, staging and shared-memory machinery
// of the matmul kernels, shared by MatmulKernels.cpp (the f32-FMA GEMV and
// the prefill glue), MmaGemvKernels.cpp (the decode GEMV on tensor cores)
// and FusedGemvKernels.cpp (the fused decode dispatches).
//===----------------------------------------------------------------------===//
#ifndef MIXQ_CODEGEN_CUDA_MATMULKERNELSINTERNAL_H
#define MIXQ_CODEGEN_CUDA_MATMULKERNELSINTERNAL_H

#include "codegen/cuda/GeneratorContext.h"
#include "codegen/cuda/MMAMatmul.h"

#include "dialect/LLM/LLMOps.h"
#include "dialect/MixQ/SchemeUtils.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <limits>

namespace mlir::mixq::cuda::gen::matmul {

/// Warps (= output rows) per block of the matmul kernel.
constexpr int64_t kMatmulWarps = 4;

/// Tokens one matmul block computes: every dequantized weight is used for
/// this many rows of x (decode has 1).
constexpr int64_t kMatmulTokens = 8;

/// Decode matmuls with at most this many output rows split K over the warps
/// of a block (split-K), so that small layers still fill the GPU.
constexpr int64_t kSplitKMaxRows = 2048;

/// A column-tiled component whose per-lane slice of each step is copied
/// global -> shared (4, 8 or 16 bytes per lane, the sizes cp.async moves).
struct StagedComponent {
  unsigned index = 0;
  int64_t elementsPerLane = 0;
  /// Elements of one cp.async: elementsPerLane, each lane copying its own
  /// slice, or a 16-byte piece (kSharedCopyBytes) where a lane's slice is
  /// not a multiple of 16 bytes (4, 8, 12, 24): the lanes whose slices are
  /// consecutive in the row (a run) then copy the run's pieces among them,
  /// so that every copy is 16 bytes wide, bypasses L1 (cp.async.cg) and a
  /// 12- or 24-byte slice (32 or 64 three-bit codes) is staged at all. A
  /// lane then reads what other lanes copied: stageStep ends with a
  /// bar.warp.sync.
  int64_t copyElements = 0;
  bool sharesCopies() const { return copyElements != elementsPerLane; }
  int64_t rowElements = 0; ///< X of the N x X (or M x X) component
  Value tile; ///< memref<warps * rowsPerWarp x 32*elementsPerLane>, shared
  /// ComponentSpec::indirectColumns: nonzero for a component whose row per
  /// run of this many columns the scheme names (buildIndirectRow).
  int64_t indirectColumns = 0;
};

/// The matmul's dequantization tile and what it stages per step.
/// A small per-row component (a LUT, the row's scales) the warp copies into
/// shared memory once, before its K loop.
struct ResidentComponent {
  unsigned index = 0;
  Value tile; ///< memref<warps * rowsPerWarp x X>, shared
  /// The tile's bytes (memref<bytes x i8>, shared; `tile` is a view of
  /// them): lookups address them in bytes (gatherResidentBytes).
  Value bytes;
  /// A row table the same for every row (RowTableSpec::sameForEveryRow)
  /// held once: `tile` has one row, built by tile row 0, read by every row.
  bool oneRow = false;
};

/// Elements `codes` (a vector of i32 table indices) of row `row` of a
/// resident tile, one shared-memory load each, addressed in bytes: the
/// byte offset row * rowBytes + code * elementBytes is built in i32 before
/// it widens, so LLVM folds the scaling into the code's shift and mask and
/// ORs in the row (their bits are disjoint), where an element index
/// widened first cost a multiply-add per lookup.
Value gatherResidentBytes(OpBuilder &builder, Location loc,
                          const ResidentComponent &component, Value row,
                          Value codes);

struct MatmulTiling {
  int64_t tileCols = 1;
  SmallVector<StagedComponent> staged;
  SmallVector<ResidentComponent> resident;
  /// The scheme's row tables (QuantSchemeAttrInterface::getRowTables) the
  /// kernel builds in shared memory, each warp for its rows after their
  /// resident components: `index` is the table's, `tile` one row per
  /// resident row.
  SmallVector<ResidentComponent> tables;
  /// Whether loadResidentRows has anything to copy or build per row.
  bool hasResidentRows() const { return !resident.empty() || !tables.empty(); }
  /// The scheme's components its dequantization reads.
  llvm::SmallDenseSet<unsigned> read;
  /// Whether a block barrier publishes the resident rows (the tensor-core
  /// GEMV), so that a row table the same for every row may be held once,
  /// built by one warp for all (ResidentComponent::oneRow). Warps that only
  /// sync themselves each hold their rows' copies.
  bool blockPublishesResidentRows = false;
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

/// Decode tiles of this many weights per lane are taken only by word-level
/// schemes whose codes of a tile fit 16 bytes (mixed: 64 two-bit codes, one
/// 16-byte copy per lane and step, and one group decode per 64 weights
/// rather than 32: 8.6-9.1 -> 6.9-7.2 instructions per weight, every
/// weight load 16 bytes wide, for 56 -> 64-80 registers; bounded at 64
/// with nvvm.maxnreg, two kernels spilled 40 and 72 bytes). A tile built a
/// weight at a time would hold too many values (bitplane: 128 registers).
constexpr int64_t kWideTileCols = 64;

/// The width of a cp.async that bypasses L1 (cp.async.cg), and of the
/// pieces lanes copy together when their slices are narrower
/// (StagedComponent::copyElements).
constexpr int64_t kSharedCopyBytes = 16;

/// The register bound (nvvm.maxnreg) of a kernel with kWideTileCols tiles:
/// well above the 56-84 they take, there only to steer ptxas's heuristics,
/// which spill at some bounds and not at others. Without a bound it aimed
/// the sm_80 fused q/k/v kernel of mixed at 56 registers and spilled 4
/// bytes; at 96, affine2's sm_90 one took all 96 and spilled 8; at 128
/// neither spills (62 and 66 registers). Checked by check-ptx.sh.
constexpr int64_t kWideTileMaxRegisters = 128;

/// The bound with --gemv-tile-factors (CUDAOptions::gemvTileFactors). At
/// 128 ptxas took all 128 registers in mixed's fused kernels and spilled
/// (sm_90 q/k/v 72 bytes, gate/up 8; sm_80 gate/up 12, o 4, with the extra
/// codes staged), at 120 more; at 136 none spills and they take 76-88 on
/// sm_90 (sm_80's q/k/v all 136). Checked by the mixed-tiles PTX of
/// check-ptx.sh.
constexpr int64_t kTileFactorMaxRegisters = 136;

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
        resident(tiling.resident), tables(tiling.tables), tileRow(tileRow),
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
    // The tile is 16-byte aligned, a slice starts a multiple of its bytes
    // into it (24-byte slices: 8-byte aligned) and the offset in it is a
    // multiple of count.
    uint64_t alignment = std::min<uint64_t>(
        {llvm::MinAlign(component->elementsPerLane * bytes, count * bytes),
         kSharedCopyBytes});
    return vector::LoadOp::create(
        builder, loc, VectorType::get({count}, memref.getElementType()),
        component->tile,
        ValueRange{tileRow, getSlot(builder, loc, *component, indices[1])},
        /*nontemporal=*/false, llvm::Align(alignment));
  }

  /// A resident component (a per-row table in shared memory) is gathered
  /// from its row of the tile: one shared-memory load per lane.
  Value gather(OpBuilder &builder, Location loc, unsigned index,
               ValueRange leading, Value lastIndices) const override {
    for (const ResidentComponent &component : resident)
      if (component.index == index)
        return gatherResidentBytes(builder, loc, component, residentRow,
                                   lastIndices);
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

  bool hasRowTable(unsigned table) const override {
    return findTable(table) != nullptr;
  }

  /// A row table's entries, one shared-memory load each from the row's
  /// table, addressed in bytes like a resident component's.
  Value gatherRowTable(OpBuilder &builder, Location loc, unsigned table,
                       Value row, Value entries) const override {
    const ResidentComponent *tile = findTable(table);
    if (!tile)
      return Value();
    Value tileRow = tile->oneRow
                        ? arith::ConstantIndexOp::create(builder, loc, 0)
                        : residentRow;
    return gatherResidentBytes(builder, loc, *tile, tileRow, entries);
  }

  /// The component element holding the lane's first weight of this step:
  /// in its row of an indirect component, the element of the column's
  /// offset in its run.
  Value firstElement(const StagedComponent &component) const {
    if (component.indirectColumns)
      return kb.divU(kb.mul(kb.remU(col, kb.index(component.indirectColumns)),
                            kb.index(component.rowElements)),
                     kb.index(component.indirectColumns));
    return kb.divU(kb.mul(col, kb.index(component.rowElements)),
                   kb.index(cols));
  }

  /// The first column of the lane's tile in this step.
  Value getColumn() const { return col; }

private:
  const ResidentComponent *findTable(unsigned table) const {
    for (const ResidentComponent &tile : tables)
      if (tile.index == table)
        return &tile;
    return nullptr;
  }

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
    Value laneSlot = kb.mul(lane, kb.index(component.elementsPerLane));
    if (!component.indirectColumns &&
        isScaledColumn(element, component.rowElements, cols))
      return laneSlot;
    Value offset = builder.createOrFold<arith::SubIOp>(loc, element,
                                                       firstElement(component));
    return kb.add(laneSlot, offset);
  }

  /// Whether `element` is (col * a) / b, or col / b, with a / b ==
  /// numerator / denominator, which is firstElement: the lane's first
  /// element. The scheme builds it with its own constants (a word of 2-bit
  /// codes is col * 2 / 32, of 4-bit codes col / 8; the staged component's
  /// first col * 256 / 4096, col * 512 / 4096), which LLVM cannot prove
  /// equal once narrowed to 32 bits (lut2's loop spent 4 instructions a
  /// step subtracting them).
  bool isScaledColumn(Value element, int64_t numerator,
                      int64_t denominator) const {
    auto div = element.getDefiningOp<arith::DivUIOp>();
    if (!div)
      return false;
    std::optional<int64_t> a = 1;
    if (div.getLhs() != col) {
      auto mul = div.getLhs().getDefiningOp<arith::MulIOp>();
      if (!mul || mul.getLhs() != col)
        return false;
      a = getConstantIntValue(mul.getRhs());
    }
    std::optional<int64_t> b = getConstantIntValue(div.getRhs());
    return a && b && *b > 0 && *a * denominator == numerator * *b;
  }

  KernelBuilder &kb;
  ArrayRef<StagedComponent> staged;
  ArrayRef<ResidentComponent> resident, tables;
  Value tileRow, residentRow, lane, col;
  int64_t cols;
};

/// Resident tiles a fused kernel's segments share: the segments run in
/// different blocks, so the n-th tile of a type one segment needs can be
/// the n-th another one allocated (never two of one segment: an affine
/// weight's scales and zeros have one type). Their bytes count against one
/// budget for the kernel.
struct SharedResidentTiles {
  /// (tile, bytes) of ResidentComponent, by tile type.
  llvm::DenseMap<Type, SmallVector<std::pair<Value, Value>, 2>> tiles;
  int64_t bytesLeft = 0;
};

struct MatmulSpec {
  MatmulOperands ops;
  /// llm.logits {last_token_only}: only row S - 1, into a [1, N] output.
  bool lastTokenOnly = false;
};

/// One output row of a warp: the components of the weight it reads (all
/// rows of a warp share one weight type, so one tiling serves them), its
/// row in that weight (inside it: rows past N are clamped for loading) and
/// its row in the shared tiles. `input`, where set, is the x this row
/// multiplies instead of the loop's (a fused gate/up kernel's rows each
/// read x quantized for their own weight).
struct WarpRow {
  SmallVector<Value> components;
  Value loadRow, tileRow;
  Value input = nullptr;
};

/// The thread's place in a matmul block: its warp takes split-K slice
/// `slice` (warp % splitK).
struct ThreadIds {
  Value tid, warp, lane, slice;
};

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
/// 72-96 (7.5-7.7). A tile of pair-table lookups is exempt
/// (dequantVectorGathers withRowTables): lut2's 64 columns take 56-64
/// registers, lut3's with --share-gemv-copies 58-66.
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
  /// Whether, for every lane, its C values and lane ^ 1's hold each of
  /// the rows' columns n % 4 = 0..3 once (FactorMode::PerTile's totals).
  bool tileColumnsPair = false;
};

/// One of a lane's two rows: the weight's components, the row to load, and
/// the rows of the resident and staging tiles.
struct LaneRow {
  SmallVector<Value> components;
  Value loadRow, residentRow, stagingRow;
};

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

/// Where a warp's row sums go: row m (0..15) of the warp to
/// sums[base + m * stride].
struct SumSlots {
  Value sums, base;
  int64_t stride = 1;
};

/// The rows per block and warp, and the split of K, of a GEMV over `rows`
/// output rows that come in tasks of `rowsPerTask` (a fused segment's rope
/// pairs or gate/up rows; 1 for a plain matmul).
struct GemvShape {
  int64_t splitK = 1, rowsPerWarp = 1, rowsPerBlock = 1, blocks = 0;
  MatmulTiling tiling;
  /// On tensor cores (canUseMmaGemv): 16 rows per warp group.
  bool mma = false;
};

/// Zero columns after a staged x row (allocateStagedRow's `zeroCols` with
/// CUDAOptions::gemvTileFactors): the lanes of a tensor-core GEMV that
/// must give B zeros (factors per lane tile, buildMmaKLoop) load them from
/// there, at column K, with the same loads.
constexpr int64_t kStagedRowZeroCols = kWideTileCols;

/// The zero columns a staged x row takes: kStagedRowZeroCols with tile
/// factors, none otherwise.
inline int64_t getStagedRowZeroCols(bool tileFactors) {
  return tileFactors ? kStagedRowZeroCols : 0;
}

/// The largest x row stageInputRow copies into shared memory: with the
/// staging tiles it must stay within 48 KiB (llama2-7b's down_proj, K =
/// 11008 in f16, is 21.5 KiB; its kernel then takes 33-40 KiB).
constexpr int64_t kMaxStagedInputBytes = 24 * 1024;

// Defined in one of the generator files, used in another.

void allocateStagingTiles(KernelBuilder &kb, const MatmulOperands &ops,
                          MatmulTiling &tiling, bool exclusive = false);

void allocateResidentTiles(
    KernelBuilder &kb, const MatmulOperands &ops, MatmulTiling &tiling,
    int64_t maxBytes = std::numeric_limits<int64_t>::max(),
    SharedResidentTiles *shared = nullptr);

int64_t getTileSharedBytes(const MatmulTiling &tiling, int64_t stages);

/// The warp copies weight row `row` of every resident component (of the
/// weight `components`, of ops' scheme and shape) into row `tileRow` of the
/// tiles, then builds that row of every row table from them.
void loadResidentRows(KernelBuilder &kb, const MatmulOperands &ops,
                      const MatmulTiling &tiling, ValueRange components,
                      Value row, Value tileRow, Value lane);

/// Gives up staging the indirect components (back to loads where used)
/// when their multi-buffered tiles are all that keeps x, with `zeroCols`
/// zero columns, from fitting into `budget` bytes of shared memory beside
/// the other tiles: every lane reads x every step, an indirect tile only
/// some of them (mixed's high groups). Call after the tiles are allocated.
void unstageIndirectTilesForInput(const MatmulOperands &ops,
                                  MatmulTiling &tiling, int64_t budget,
                                  int64_t zeroCols);

/// The shared memory a fused decode GEMV keeps for its resident tiles and
/// scratch beside x and the staging tiles when it decides whether to stage
/// indirect components (dropIndirectTilesOver).
constexpr int64_t kFusedResidentReserve = 4 * 1024;

/// The elements of one cp.async of a column-tiled component whose lane
/// slices hold `perLane` elements of `bytes` bytes, in rows of `rowElements`
/// (StagedComponent::copyElements): the slice, if it is 16 bytes; a 16-byte
/// piece of the lanes' consecutive slices, if a slice is a multiple of 4
/// bytes but not of 16 (4, 8, 12, 24) and every row starts 16-byte aligned
/// (the runs of 4 or 32 lanes then start so too: a multiple of 16 bytes
/// into the row); else the slice, if it is 4 or 8 bytes; 0 if no copy
/// fits. Without `shareCopies`, only the slice.
int64_t getCopyElements(int64_t perLane, int64_t bytes, int64_t rowElements,
                        bool shareCopies);

/// Removes the indirect components from the staged ones of a tiling whose
/// tiles are not yet allocated when its staging tiles, multi-buffered
/// ops.pipelineStages deep, would take more than `budget` bytes (back to
/// loads where used).
void dropIndirectTilesOver(const MatmulOperands &ops, MatmulTiling &tiling,
                           int64_t budget);

/// One weight row a lane stages a step of: its components, the reader of
/// its tiles, its row of the weight and of the staging tiles.
struct StagingRow {
  ValueRange components;
  const StagedReader *reader;
  Value row, tileRow;
};

/// `lanesPerRun` lanes in a row have consecutive slices (all 32 in the
/// plain GEMV, kMmaGemvLanesPerRow in the tensor-core one).
void stageStep(KernelBuilder &kb, const MatmulOperands &ops,
               ArrayRef<StagedComponent> staged, ArrayRef<StagingRow> rows,
               Value lane, int64_t lanesPerRun);

/// The record of a matmul of N x K weights built with `shape`. Weights read
/// straight into registers get their prefetch depth after
/// --mixq-prefetch-loads has run (the backend reads what it did from the
/// function's attributes); 1 until then.
GemvChoice describeGemv(const GemvShape &shape, int64_t rows, int64_t cols,
                        const CUDAOptions &options);

/// Asks --mixq-prefetch-loads to pipeline the K loop that produced
/// `loopResults` when its weights are read straight into registers (with
/// staged tiles, --mixq-pipeline-async-copies pipelines it).
void requestLoadPrefetch(const MatmulTiling &tiling, ValueRange loopResults);

SmallVector<Value> buildKLoop(KernelBuilder &kb, const MatmulOperands &ops,
                              const MatmulTiling &tiling,
                              ArrayRef<WarpRow> rows, Value input,
                              ArrayRef<Value> xRows, Value lane, Value slice,
                              int64_t splitK);

ThreadIds getThreadIds(KernelBuilder &kb, int64_t splitK);

Value sumSplitKSlices(KernelBuilder &kb, Value sums, Value first,
                      int64_t stride, int64_t splitK);

void storeMatmulOutput(const MatmulSpec &spec, KernelBuilder &kb, Value total,
                       Value token, Value outRow);

FailureOr<MmaGemvLayout> getMmaGemvLayout(OpBuilder &b, Location loc,
                                          FloatType elementType);

bool canUseMmaGemv(const MatmulOperands &ops, Value input, int64_t tileCols);

/// The bias mma's A value v (buildBiasFragment in MmaGemvKernels.cpp): the
/// bias of slot aSlot[v] in row lane / 4, 1 in row lane / 4 + 8. `bias`
/// holds the biases of slots 0..3.
double getBiasFragmentValue(const MmaGemvLayout &layout, ArrayRef<double> bias,
                            int64_t v);
/// The C values of the bias mma that hold, in every lane, sum(bias x) (row
/// lane / 4) and sum(x) (row lane / 4 + 8).
std::pair<int64_t, int64_t> getBiasSumValues(const MmaGemvLayout &layout);

InputPermutation getMmaInputPermutation(const MatmulOperands &ops, bool mma,
                                        int64_t tileCols);

SmallVector<Value> permuteInputPiece(ArrayRef<Value> values,
                                     const InputPermutation &permutation);

void loadMmaResidentRows(KernelBuilder &kb, const MatmulOperands &ops,
                         const MatmulTiling &tiling, ValueRange components,
                         function_ref<Value(Value)> rowOf,
                         Value firstResidentRow, Value lane, Value slice,
                         int64_t splitK);

void buildMmaRows(KernelBuilder &kb, const MatmulOperands &ops,
                  const MatmulTiling &tiling, const MmaGemvLayout &layout,
                  ValueRange components, function_ref<Value(Value)> rowOf,
                  Value input, Value xRow, Value firstResidentRow, Value warp,
                  Value lane, Value slice, int64_t splitK,
                  const SumSlots &slots, const InputPermutation *xPermutation);

GemvShape chooseGemvShape(const MatmulOperands &ops, Value input, int64_t rows,
                          int64_t rowsPerTask, bool decode);

void boundMatmulRegisters(KernelBuilder &kb, bool tileFactors);

Value allocateStagedRow(KernelBuilder &kb, Type elementType, int64_t k,
                        int64_t zeroCols = 0);

void forEachBlockPiece(KernelBuilder &kb, int64_t pieces, int64_t piece,
                       function_ref<void(Value d, Value valid)> body);

void copyRowInPieces(KernelBuilder &kb, Value input, Value row, Value staged,
                     int64_t k, const InputPermutation &permutation);

Value stageInputRow(KernelBuilder &kb, Value input, Value &row,
                    int64_t maxBytes = kMaxStagedInputBytes,
                    const InputPermutation &permutation = {},
                    int64_t zeroCols = 0);

void buildMmaMatmulBody(const MatmulSpec &spec, GeneratorContext &ctx,
                        GemvShape shape, const MmaGemvLayout &layout);

FailureOr<MatmulOperands> getWeightOperands(Operation *anchor,
                                            const GeneratorContext &ctx);

} // namespace mlir::mixq::cuda::gen::matmul

#endif // MIXQ_CODEGEN_CUDA_MATMULKERNELSINTERNAL_H
