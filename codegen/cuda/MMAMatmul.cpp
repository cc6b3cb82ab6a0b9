//===- MMAMatmul.cpp - tensor-core prefill matmul -------------------------===//
//
// y[m, n] = sum_k x[m, k] * W[n, k] on mma.sync m16n8k16 (f32 accumulators).
// A block of 4 warps computes a BM x 64 tile of y; per BK-column step:
//
//   copies     x[m0 .. m0+BM, k0 .. k0+BK] -> shared (vector loads/stores,
//              one group; --mixq-pipeline-async-copies makes them cp.async
//              and multi-buffers their alloc); a plain weight likewise
//   dequant    W[n0 .. n0+64, k0 .. k0+BK] -> shared by buildDequantTile
//   barrier
//   mma        per warp and k16: ldmatrix A (x) and B (W) fragments,
//              nvgpu.mma.sync into its (warp tile / 16x8) accumulators
//   barrier    the next step overwrites the (single) dequant buffer
//
// The fragment layouts are not hand-derived: the (lane, value) -> (row, col)
// maps of the mma.sync operands and the lane -> row address maps of
// ldmatrix come from upstream's nvgpu MMAUtils (the helpers the
// vector.contract -> nvgpu.mma.sync lowering uses), and their composition is
// checked against the PTX definition of ldmatrix before any IR is emitted.
//===----------------------------------------------------------------------===//
#include "codegen/cuda/MMAMatmul.h"
#include "codegen/cuda/KernelBuilder.h"

#include "mlir/Dialect/Affine/Utils.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/NVGPU/Utils/MMAUtils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <optional>

using namespace mlir;
using namespace mlir::mixq;
using namespace mlir::mixq::cuda;

namespace {

constexpr int64_t kWarps = 4;
constexpr int64_t kThreads = kWarps * cuda::kWarpSize;
/// Outputs (weight rows) per block.
constexpr int64_t kTileN = 64;
constexpr int64_t kMmaM = 16, kMmaN = 8, kMmaK = 16;
/// Elements after each shared row: rows stay 16-byte aligned (cp.async,
/// ldmatrix) and the 8 rows of one ldmatrix phase hit distinct banks (a row
/// of 40 or 24 halves is 20 or 12 words).
constexpr int64_t kRowPad = 8;
constexpr int64_t kMaxStaticShared = 48 * 1024;
/// The widest cp.async; also the alignment of every shared tile.
constexpr int64_t kCopyBytes = 16;
/// Weights per buildDequantTile call: one 16-byte shared store.
constexpr int64_t kDequantCols = 8;

/// The block and warp tiling of one kernel.
struct TileConfig {
  int64_t tileM = 0, tileK = 0; // BM, BK (BN is kTileN)
  int64_t warpsM = 0, warpsN = 0;

  int64_t rowStride() const { return tileK + kRowPad; }
  int64_t warpTileM() const { return tileM / warpsM; }
  int64_t warpTileN() const { return kTileN / warpsN; }
  int64_t mTiles() const { return warpTileM() / kMmaM; }
  int64_t nTiles() const { return warpTileN() / kMmaN; }
};

/// The static shared memory of the kernel after pipelining: the copied
/// tiles are multi-buffered `stages` times, the dequantized one is not.
int64_t getSharedBytes(const TileConfig &config, const MatmulOperands &ops) {
  int64_t stages = std::max<int64_t>(ops.pipelineStages, 1);
  int64_t rowBytes = config.rowStride() * 2;
  int64_t x = config.tileM * rowBytes * stages;
  int64_t w = kTileN * rowBytes * (ops.scheme ? 1 : stages);
  return x + w;
}

/// BM as large as maxTokens allows (more reuse of each dequantized weight),
/// BK = 32 or 16 dividing K and fitting the shared memory budget.
std::optional<TileConfig> chooseTiles(const MatmulOperands &ops) {
  int64_t maxRows = cast<MemRefType>(ops.input.getType()).getDimSize(0);
  TileConfig config;
  config.tileM = maxRows >= 64 ? 64 : maxRows >= 32 ? 32 : 16;
  // Warp tiles of 32x32 or 16x32 (2x2 warps), 16x16 (1x4 warps) for BM=16.
  config.warpsM = config.tileM == 16 ? 1 : 2;
  config.warpsN = kWarps / config.warpsM;
  for (int64_t tileK : {32, 16}) {
    if (ops.cols % tileK != 0)
      continue;
    config.tileK = tileK;
    if (getSharedBytes(config, ops) <= kMaxStaticShared)
      return config;
  }
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// Fragment layouts
//===----------------------------------------------------------------------===//

/// ldmatrix gives lane l, in register i, the elements (l / 4, 2 (l % 4) +
/// {0, 1}) of 8x8 matrix i, whose row j is at the address lane 8 i + j
/// supplies (PTX ISA, "ldmatrix"). True when that puts every element where
/// the mma.sync operand layout `operand` wants it.
bool ldMatrixMatchesOperand(AffineMap ld, AffineMap operand, int64_t tiles) {
  for (int64_t lane = 0; lane < cuda::kWarpSize; ++lane)
    for (int64_t tile = 0; tile < tiles; ++tile)
      for (int64_t e = 0; e < 2; ++e) {
        SmallVector<int64_t, 4> row = ld.compose({8 * tile + lane / 4});
        SmallVector<int64_t, 4> want = operand.compose({lane, 2 * tile + e});
        if (row[0] != want[0] || row[1] + 2 * (lane % 4) + e != want[1])
          return false;
      }
  return true;
}

/// One operand's maps and fragment type. `shape` is the warp-level operand
/// in the row-major form the shared tiles hold ([m, k], [n, k], [m, n]).
LogicalResult getOperandLayout(OpBuilder &b, Location loc,
                               ArrayRef<int64_t> shape, Type mapType,
                               Type elementType, nvgpu::MatMulOperandRole role,
                               AffineMap &map, VectorType &fragmentType) {
  nvgpu::WarpMatrixInfo info{VectorType::get(shape, mapType), role};
  FailureOr<nvgpu::FragmentElementInfo> regs =
      nvgpu::getMmaSyncRegisterType(info);
  FailureOr<AffineMap> coords =
      nvgpu::getLaneIdAndValueIdToOperandCoord(b, loc, info);
  if (failed(regs) || failed(coords))
    return failure();
  map = *coords;
  fragmentType = VectorType::get(
      {regs->numRegistersPerFragment, regs->elementsPerRegister}, elementType);
  return success();
}

LogicalResult getLdMatrixLayout(OpBuilder &b, Location loc,
                                ArrayRef<int64_t> shape, Type mapType,
                                nvgpu::MatMulOperandRole role, AffineMap &map,
                                int64_t &tiles) {
  nvgpu::WarpMatrixInfo info{VectorType::get(shape, mapType), role};
  // K is the contiguous dimension of both tiles: no transpose.
  FailureOr<nvgpu::LdMatrixParams> params =
      nvgpu::getLdMatrixParams(info, /*transpose=*/false);
  if (failed(params))
    return failure();
  FailureOr<AffineMap> coords =
      nvgpu::getLaneIdToLdMatrixMatrixCoord(b, loc, *params);
  if (failed(coords))
    return failure();
  map = *coords;
  tiles = params->numTiles;
  return success();
}

FailureOr<FragmentLayout> getFragmentLayout(OpBuilder &b, Location loc,
                                            FloatType elementType) {
  // The maps depend only on the 16-bit width; f16 stands in for bf16, which
  // getMmaSyncRegisterType does not know (PTX gives both the same layout).
  Type f16 = b.getF16Type(), f32 = b.getF32Type();
  using Role = nvgpu::MatMulOperandRole;
  FragmentLayout layout;
  if (failed(getOperandLayout(b, loc, {kMmaM, kMmaK}, f16, elementType, Role::A,
                              layout.a, layout.typeA)) ||
      failed(getOperandLayout(b, loc, {kMmaN, kMmaK}, f16, elementType, Role::B,
                              layout.b, layout.typeB)) ||
      failed(getOperandLayout(b, loc, {kMmaM, kMmaN}, f32, f32, Role::C,
                              layout.c, layout.typeC)) ||
      failed(getLdMatrixLayout(b, loc, {kMmaM, kMmaK}, f16, Role::A, layout.ldA,
                               layout.ldTilesA)) ||
      failed(getLdMatrixLayout(b, loc, {kMmaN, kMmaK}, f16, Role::B, layout.ldB,
                               layout.ldTilesB)))
    return emitError(loc) << "CUDA codegen: no mma.sync m16n8k16 fragment "
                             "layout for "
                          << elementType;
  if (layout.ldTilesA != layout.typeA.getDimSize(0) ||
      layout.ldTilesB != layout.typeB.getDimSize(0) ||
      !ldMatrixMatchesOperand(layout.ldA, layout.a, layout.ldTilesA) ||
      !ldMatrixMatchesOperand(layout.ldB, layout.b, layout.ldTilesB))
    return emitError(loc) << "CUDA codegen: the ldmatrix layout does not "
                             "produce the mma.sync operand layout";
  return layout;
}

/// `map`'s results at (lane, `valueId`) as index arithmetic on `lane`.
SmallVector<Value> expandAt(OpBuilder &b, Location loc, AffineMap map,
                            Value lane, std::optional<int64_t> valueId = {}) {
  MLIRContext *ctx = b.getContext();
  SmallVector<Value> dims(map.getNumDims(), lane);
  SmallVector<Value> results;
  for (AffineExpr expr : map.getResults()) {
    if (valueId)
      expr = expr.replace(getAffineDimExpr(1, ctx),
                          getAffineConstantExpr(*valueId, ctx));
    expr = simplifyAffineExpr(expr, map.getNumDims(), 0);
    results.push_back(affine::expandAffineExpr(b, loc, expr, dims, {}));
  }
  return results;
}

/// The 32-bit registers of a fragment vector<R x 2 x bf16>.
SmallVector<Value> getRegisters(OpBuilder &b, Location loc, Value fragment) {
  auto type = cast<VectorType>(fragment.getType());
  auto i32x1 = VectorType::get({1}, b.getI32Type());
  SmallVector<Value> registers;
  for (int64_t r = 0; r < type.getDimSize(0); ++r) {
    Value pair = vector::ExtractOp::create(b, loc, fragment, r);
    Value word = vector::BitCastOp::create(b, loc, i32x1, pair);
    registers.push_back(vector::ExtractOp::create(b, loc, word, 0));
  }
  return registers;
}

/// acc + a * b^T on one 16x8x16 tile. bf16 is emitted as nvvm.mma.sync
/// directly, with the operands packed into 32-bit registers as
/// convert-nvgpu-to-nvvm does for f16: the LLVM 22 lowering of
/// nvgpu.mma.sync deduces no PTX type for bf16 operands.
Value buildMmaSyncImpl(OpBuilder &b, Location loc, const FragmentLayout &layout,
                       FloatType elementType, Value a, Value bFrag, Value acc) {
  if (!elementType.isBF16())
    return nvgpu::MmaSyncOp::create(b, loc, a, bFrag, acc,
                                    ArrayRef<int64_t>{kMmaM, kMmaN, kMmaK});
  VectorType accType = layout.typeC;
  int64_t perRegister = accType.getDimSize(1);
  SmallVector<Value> c;
  for (int64_t v = 0; v < accType.getNumElements(); ++v)
    c.push_back(vector::ExtractOp::create(
        b, loc, acc, ArrayRef<int64_t>{v / perRegister, v % perRegister}));
  auto resultType = LLVM::LLVMStructType::getLiteral(
      b.getContext(), SmallVector<Type>(c.size(), b.getF32Type()));
  Value d = NVVM::MmaOp::create(
      b, loc, resultType, getRegisters(b, loc, a), getRegisters(b, loc, bFrag),
      c, ArrayRef<int64_t>{kMmaM, kMmaN, kMmaK}, /*b1Op=*/std::nullopt,
      /*intOverflow=*/std::nullopt,
      std::array<NVVM::MMATypes, 2>{NVVM::MMATypes::bf16, NVVM::MMATypes::bf16},
      std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                     NVVM::MMALayout::col});
  // The result registers d0..d3 are C's values in the same order.
  SmallVector<Value> values;
  for (int64_t v = 0; v < accType.getNumElements(); ++v)
    values.push_back(LLVM::ExtractValueOp::create(b, loc, d, v));
  return vector::FromElementsOp::create(b, loc, accType, values);
}

//===----------------------------------------------------------------------===//
// Kernel
//===----------------------------------------------------------------------===//

/// Where one thread's share of a tile fill goes: the tile row and column
/// (relative to the step's k0) and the (clamped) source row.
struct TileSlot {
  Value tileRow, tileCol, srcRow;
};

class MMAMatmulBuilder {
public:
  MMAMatmulBuilder(KernelBuilder &kb, const MatmulOperands &ops,
                   const TileConfig &config, const FragmentLayout &layout)
      : kb(kb), b(kb.b), loc(kb.loc), ops(ops), config(config), layout(layout) {
  }

  void build();

private:
  Value createSharedTile(int64_t rows, bool copied);
  SmallVector<TileSlot> planSlots(int64_t rows, int64_t width, Value firstRow,
                                  Value lastRow);
  void buildCopies(Value src, Value tile, ArrayRef<TileSlot> slots,
                   int64_t width, Value k0);
  void buildDequant(ArrayRef<TileSlot> slots, Value k0);
  Value buildMMA(Value a, Value bFrag, Value acc);
  SmallVector<Value> buildMMASteps(ValueRange accs);
  void buildEpilogue(ValueRange accs);
  Value index(int64_t value) { return kb.index(value); }

  KernelBuilder &kb;
  OpBuilder &b;
  Location loc;
  const MatmulOperands &ops;
  const TileConfig &config;
  const FragmentLayout &layout;

  Value tid, lane, m0, n0;
  /// The warp's first row of x and of W in the block tile.
  Value warpRow, warpCol;
  Value xTile, wTile;
  /// ldmatrix row addresses: per m tile (x), per n tile (W), per k16 step.
  SmallVector<Value> aRows, bRows, aCols, bCols;
};

/// A copied tile is a memref.alloc, as --mixq-pipeline-async-copies wants
/// (it turns it into a multi-buffered workgroup attribution); the
/// dequantized tile is a workgroup attribution right away.
Value MMAMatmulBuilder::createSharedTile(int64_t rows, bool copied) {
  auto space =
      gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup);
  auto type = MemRefType::get({rows, config.rowStride()}, ops.elementType,
                              MemRefLayoutAttrInterface{}, space);
  if (copied)
    return memref::AllocOp::create(b, loc, type,
                                   b.getI64IntegerAttr(kCopyBytes));
  BlockArgument tile = kb.func.addWorkgroupAttribution(type, loc);
  kb.func.setWorkgroupAttributionAttr(kb.func.getNumWorkgroupAttributions() - 1,
                                      LLVM::LLVMDialect::getAlignAttrName(),
                                      b.getI64IntegerAttr(kCopyBytes));
  return tile;
}

/// Splits a rows x BK tile into `width`-element pieces, thread t taking
/// pieces t, t + 128, ...; rows past `lastRow` read `lastRow` (they stay in
/// bounds; their products are never stored). The tile sizes make the pieces
/// a multiple of the thread count, so no thread is masked.
SmallVector<TileSlot> MMAMatmulBuilder::planSlots(int64_t rows, int64_t width,
                                                  Value firstRow,
                                                  Value lastRow) {
  int64_t piecesPerRow = config.tileK / width;
  int64_t pieces = rows * piecesPerRow;
  assert(pieces % kThreads == 0 && "tile pieces do not cover the threads");
  SmallVector<TileSlot> slots;
  for (int64_t first = 0; first < pieces; first += kThreads) {
    Value piece = kb.add(tid, index(first));
    Value row = kb.divU(piece, index(piecesPerRow));
    Value col = kb.mul(kb.remU(piece, index(piecesPerRow)), index(width));
    slots.push_back({row, col, kb.minU(kb.add(firstRow, row), lastRow)});
  }
  return slots;
}

/// Global -> shared vector copies, each a load feeding a store directly: the
/// form createAsyncGroups turns into cp.async.
void MMAMatmulBuilder::buildCopies(Value src, Value tile,
                                   ArrayRef<TileSlot> slots, int64_t width,
                                   Value k0) {
  auto type = VectorType::get({width}, ops.elementType);
  for (const TileSlot &slot : slots) {
    Value value = vector::LoadOp::create(
        b, loc, type, src, ValueRange{slot.srcRow, kb.add(k0, slot.tileCol)});
    vector::StoreOp::create(b, loc, value, tile,
                            ValueRange{slot.tileRow, slot.tileCol});
  }
}

void MMAMatmulBuilder::buildDequant(ArrayRef<TileSlot> slots, Value k0) {
  ComponentReader reader(ops.components);
  auto type = VectorType::get({kDequantCols}, ops.elementType);
  for (const TileSlot &slot : slots) {
    SmallVector<Value> values = ops.scheme.buildDequantTile(
        b, loc, reader, {ops.rows, ops.cols}, slot.srcRow,
        kb.add(k0, slot.tileCol), kDequantCols, ops.elementType);
    Value vector = vector::FromElementsOp::create(b, loc, type, values);
    vector::StoreOp::create(b, loc, vector, wTile,
                            ValueRange{slot.tileRow, slot.tileCol},
                            /*nontemporal=*/false, llvm::Align(kCopyBytes));
  }
}

Value MMAMatmulBuilder::buildMMA(Value a, Value bFrag, Value acc) {
  return buildMmaSyncImpl(b, loc, layout, ops.elementType, a, bFrag, acc);
}

/// The mma.sync steps over the BK columns in shared memory; `accs` holds the
/// (m tile, n tile) accumulators, m-major.
SmallVector<Value> MMAMatmulBuilder::buildMMASteps(ValueRange accs) {
  SmallVector<Value> next(accs.begin(), accs.end());
  for (int64_t step = 0; step < config.tileK / kMmaK; ++step) {
    SmallVector<Value> a, bFrag;
    for (Value row : aRows)
      a.push_back(nvgpu::LdMatrixOp::create(
          b, loc, layout.typeA, xTile, ValueRange{row, aCols[step]},
          /*transpose=*/false, layout.ldTilesA));
    for (Value row : bRows)
      bFrag.push_back(nvgpu::LdMatrixOp::create(
          b, loc, layout.typeB, wTile, ValueRange{row, bCols[step]},
          /*transpose=*/false, layout.ldTilesB));
    for (int64_t mt = 0; mt < config.mTiles(); ++mt)
      for (int64_t nt = 0; nt < config.nTiles(); ++nt) {
        Value &acc = next[mt * config.nTiles() + nt];
        acc = buildMMA(a[mt], bFrag[nt], acc);
      }
  }
  return next;
}

/// Stores the accumulators of rows < S and columns < N: rounded to the
/// output type, or, with a residual, out = T(f32(residual) + f32(T(acc)))
/// like the unfused graph (and the GEMV kernel).
void MMAMatmulBuilder::buildEpilogue(ValueRange accs) {
  auto outType = cast<FloatType>(KernelBuilder::getElementType(ops.output));
  int64_t values = layout.typeC.getNumElements();
  int64_t perRegister = layout.typeC.getDimSize(1);
  SmallVector<Value> rows, cols;
  for (int64_t v = 0; v < values; ++v) {
    SmallVector<Value> coord = expandAt(b, loc, layout.c, lane, v);
    rows.push_back(coord[0]);
    cols.push_back(coord[1]);
  }
  Value blockRow = kb.add(m0, warpRow), blockCol = kb.add(n0, warpCol);
  for (int64_t mt = 0; mt < config.mTiles(); ++mt)
    for (int64_t nt = 0; nt < config.nTiles(); ++nt) {
      Value acc = accs[mt * config.nTiles() + nt];
      for (int64_t v = 0; v < values; ++v) {
        Value m = kb.add(blockRow, kb.add(index(mt * kMmaM), rows[v]));
        Value n = kb.add(blockCol, kb.add(index(nt * kMmaN), cols[v]));
        Value inside = arith::AndIOp::create(
            b, loc, kb.cmp(arith::CmpIPredicate::ult, m, ops.tokens),
            kb.cmp(arith::CmpIPredicate::ult, n, index(ops.rows)));
        Value value = vector::ExtractOp::create(
            b, loc, acc, ArrayRef<int64_t>{v / perRegister, v % perRegister});
        kb.ifThen(inside, [&] {
          Value result = value;
          if (ops.residual) {
            result = buildExtendToF32(
                b, loc, buildTruncateFromF32(b, loc, result, outType));
            result = kb.addF(kb.loadF32(ops.residual, {m, n}), result);
          }
          kb.storeF32(result, ops.output, {m, n});
        });
      }
    }
}

void MMAMatmulBuilder::build() {
  tid = kb.threadId();
  lane = kb.remU(tid, index(cuda::kWarpSize));
  Value warp = kb.divU(tid, index(cuda::kWarpSize));
  warpRow =
      kb.mul(kb.divU(warp, index(config.warpsN)), index(config.warpTileM()));
  warpCol =
      kb.mul(kb.remU(warp, index(config.warpsN)), index(config.warpTileN()));
  n0 = kb.mul(kb.blockId(gpu::Dimension::x), index(kTileN));
  m0 = kb.mul(kb.blockId(gpu::Dimension::y), index(config.tileM));
  Value lastToken = kb.sub(ops.tokens, index(1));
  Value lastWeightRow = index(ops.rows - 1);

  // Before the K loop: the shared tiles (the pipelining pass wants the
  // allocs there), every thread's fill slots and its ldmatrix addresses.
  bool plainWeight = !ops.scheme;
  xTile = createSharedTile(config.tileM, /*copied=*/true);
  wTile = createSharedTile(kTileN, /*copied=*/plainWeight);
  int64_t xWidth =
      std::min<int64_t>(kCopyBytes / 2, config.tileM * config.tileK / kThreads);
  int64_t wWidth = plainWeight ? kCopyBytes / 2 : kDequantCols;
  SmallVector<TileSlot> xSlots = planSlots(config.tileM, xWidth, m0, lastToken);
  SmallVector<TileSlot> wSlots = planSlots(kTileN, wWidth, n0, lastWeightRow);

  SmallVector<Value> ldA = expandAt(b, loc, layout.ldA, lane);
  // Only lanes 0-15 address an ldmatrix.x2; keep the others' addresses in
  // the tile too.
  SmallVector<Value> ldB =
      expandAt(b, loc, layout.ldB, kb.remU(lane, index(16)));
  for (int64_t mt = 0; mt < config.mTiles(); ++mt)
    aRows.push_back(kb.add(warpRow, kb.add(index(mt * kMmaM), ldA[0])));
  for (int64_t nt = 0; nt < config.nTiles(); ++nt)
    bRows.push_back(kb.add(warpCol, kb.add(index(nt * kMmaN), ldB[0])));
  for (int64_t step = 0; step < config.tileK / kMmaK; ++step) {
    aCols.push_back(kb.add(index(step * kMmaK), ldA[1]));
    bCols.push_back(kb.add(index(step * kMmaK), ldB[1]));
  }

  Value zero = arith::ConstantOp::create(
      b, loc, layout.typeC,
      DenseElementsAttr::get(layout.typeC, b.getF32FloatAttr(0.0f)));
  SmallVector<Value> inits(config.mTiles() * config.nTiles(), zero);
  SmallVector<Value> accs = kb.loop(
      index(0), index(ops.cols), index(config.tileK), inits,
      [&](Value k0, ValueRange partial) {
        // The copies first: each step overwrites the copied buffers before
        // reading them, as the pipelining pass requires.
        buildCopies(ops.input, xTile, xSlots, xWidth, k0);
        if (plainWeight)
          buildCopies(ops.components.front(), wTile, wSlots, wWidth, k0);
        else
          buildDequant(wSlots, k0);
        gpu::BarrierOp::create(b, loc);
        SmallVector<Value> next = buildMMASteps(partial);
        gpu::BarrierOp::create(b, loc);
        return next;
      });
  buildEpilogue(accs);
}

} // namespace

bool mlir::mixq::cuda::canUseMMAMatmul(const MatmulOperands &ops) {
  if (!ops.elementType ||
      !(ops.elementType.isF16() || ops.elementType.isBF16()))
    return false;
  auto inputType =
      dyn_cast_or_null<MemRefType>(ops.input ? ops.input.getType() : Type());
  if (!inputType || inputType.getRank() != 2 ||
      inputType.getElementType() != ops.elementType ||
      inputType.getDimSize(0) < kMmaM || inputType.getDimSize(1) != ops.cols)
    return false;
  // 16-column steps; x rows (and a plain weight's) then start 16-byte
  // aligned, as the vector copies need.
  if (ops.rows < 1 || ops.cols % kMmaK != 0)
    return false;
  if (!ops.scheme && (ops.components.size() != 1 ||
                      KernelBuilder::getElementType(ops.components.front()) !=
                          ops.elementType))
    return false;
  if (!ops.output ||
      !isa<FloatType>(KernelBuilder::getElementType(ops.output)) ||
      (ops.residual &&
       !isa<FloatType>(KernelBuilder::getElementType(ops.residual))))
    return false;
  return chooseTiles(ops).has_value();
}

LogicalResult mlir::mixq::cuda::buildMMAMatmul(OpBuilder &b, Location loc,
                                               gpu::GPUFuncOp func,
                                               const MatmulOperands &ops,
                                               KernelLaunch &launch) {
  if (!canUseMMAMatmul(ops))
    return emitError(loc) << "CUDA codegen: the tensor-core matmul does not "
                             "handle this matmul (needs f16/bf16, K % 16 == "
                             "0, at least 16 rows)";
  // No-ops when the dialects are loaded (the pass declares them).
  b.getContext()
      ->loadDialect<nvgpu::NVGPUDialect, NVVM::NVVMDialect,
                    vector::VectorDialect>();
  FailureOr<FragmentLayout> layout = getFragmentLayout(b, loc, ops.elementType);
  if (failed(layout))
    return failure();
  TileConfig config = *chooseTiles(ops);
  KernelBuilder kb(b, loc, func);
  MMAMatmulBuilder(kb, ops, config, *layout).build();
  launch.block = {kThreads, 1, 1};
  launch.grid[0] = GridDim{(ops.rows + kTileN - 1) / kTileN, 0};
  launch.grid[1] = GridDim{1, config.tileM};
  return success();
}

FailureOr<FragmentLayout>
mlir::mixq::cuda::getMmaFragmentLayout(OpBuilder &b, Location loc,
                                       FloatType elementType) {
  return getFragmentLayout(b, loc, elementType);
}

SmallVector<Value>
mlir::mixq::cuda::expandMmaMap(OpBuilder &b, Location loc, AffineMap map,
                               Value lane, std::optional<int64_t> valueId) {
  return expandAt(b, loc, map, lane, valueId);
}

Value mlir::mixq::cuda::buildMmaSync(OpBuilder &b, Location loc,
                                     const FragmentLayout &layout,
                                     FloatType elementType, Value a,
                                     Value bFrag, Value acc) {
  return buildMmaSyncImpl(b, loc, layout, elementType, a, bFrag, acc);
}
