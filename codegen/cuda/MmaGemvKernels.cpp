//===- MmaGemvKernels.cpp - the decode GEMV on tensor cores ---------------===//
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

namespace mlir::mixq::cuda::gen::matmul {
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

/// Whether every lane's C values and lane ^ 1's hold, for each of the
/// lane's two rows, the columns n % 4 = 0..3 once each.
bool hasTileColumnPairs(const MmaGemvLayout &layout) {
  int64_t values = layout.fragments.typeC.getNumElements();
  for (int64_t lane = 0; lane < kWarpSize; ++lane) {
    llvm::SmallBitVector seen(2 * kMmaGemvLanesPerRow);
    for (int64_t holder : {lane, lane ^ 1})
      for (int64_t v = 0; v < values; ++v) {
        int64_t n = layout.fragments.c.compose({holder, v})[1];
        int64_t at = layout.cRowOffset[v] * kMmaGemvLanesPerRow +
                     n % kMmaGemvLanesPerRow;
        if (seen.test(at))
          return false;
        seen.set(at);
      }
    if (!seen.all())
      return false;
  }
  return true;
}

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
  layout.tileColumnsPair = hasTileColumnPairs(layout);
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

/// The lane's tileCols weights of `row` from `col`, in T, in the order the
/// scheme unpacks them (element p is column col + order[p]): the scheme's
/// dequantization of the tile, or a vector load of a plain matrix.
Value buildWeightVector(KernelBuilder &kb, const MatmulOperands &ops,
                        const ComponentReader &reader, Value row, Value col,
                        int64_t tileCols, bool unscaled,
                        SmallVectorImpl<int64_t> &order,
                        Value *biasedZero = nullptr) {
  if (ops.scheme && biasedZero) {
    SmallVector<double> bias;
    return ops.scheme.buildBiasedDequantVectorInAnyOrder(
        kb.b, kb.loc, reader, {ops.rows, ops.cols}, row, col, tileCols,
        ops.elementType, order, bias, *biasedZero);
  }
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

/// x[row, col .. col + tileCols - 1] in T, in aligned loads of 16 bytes
/// (pieces), all at the top of a step or each where a fragment first needs
/// it (`onUse`).
class InputPieces {
public:
  InputPieces(KernelBuilder &kb, Value input, Value row, Value col,
              int64_t tileCols, bool onUse)
      : kb(kb), input(input), row(row), col(col),
        type(KernelBuilder::getElementType(input)),
        pieceCols(std::min<int64_t>(
            tileCols,
            128 / static_cast<int64_t>(type.getIntOrFloatBitWidth()))),
        pieces(tileCols / pieceCols) {
    if (!onUse)
      for (int64_t j = 0, e = pieces.size(); j < e; ++j)
        get(j);
  }

  int64_t getPieceCols() const { return pieceCols; }

  /// Piece j, columns [j * pieceCols, (j + 1) * pieceCols), loaded at the
  /// builder's insertion point on first use.
  Value get(int64_t j) {
    if (!pieces[j])
      pieces[j] = vector::LoadOp::create(
          kb.b, kb.loc, VectorType::get({pieceCols}, type), input,
          ValueRange{row, kb.add(col, kb.index(j * pieceCols))},
          /*nontemporal=*/false,
          llvm::Align(pieceCols * type.getIntOrFloatBitWidth() / 8));
    return pieces[j];
  }

private:
  KernelBuilder &kb;
  Value input, row, col;
  Type type;
  int64_t pieceCols;
  SmallVector<Value> pieces;
};

/// Whether a step loads each piece of x where its first mma needs it
/// rather than all at its top. A 64-column tile (mixed's 2-bit codes) has 8
/// pieces, 32 registers, live through its 16 mmas when loaded at the top:
/// ptxas took mixed's fused gate/up kernel to 128 registers on sm_90 (on
/// sm_80 it spilled). Loaded on use, QUIK's down_proj kernel also drops
/// from 100 to 88 registers, and no other kernel rises, except lut3's with
/// shared copies (--share-gemv-copies), which ptxas then scheduled at 82
/// registers rather than 62: those keep their loads at the top.
bool loadsInputOnUse(const MatmulOperands &ops) { return !ops.shareCopies; }

/// A fragment of `type` (vector<R x 2 x T>) whose value v is element
/// elements[v].second of tile elements[v].first; a tile is a list of equal
/// vector pieces of `pieceCols` elements, `pieceOf(tile, j)` giving piece j.
/// Each 32-bit register of the fragment is one shuffle.
Value buildFragment(KernelBuilder &kb, VectorType type, int64_t pieceCols,
                    function_ref<Value(int64_t, int64_t)> pieceOf,
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
      sources.push_back(pieceOf(tile, element / pieceCols));
      // shufflevector indexes the concatenation of its two operands.
      mask.push_back(element % pieceCols + (e == 0 ? 0 : pieceCols));
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
  ArrayRef<Value> tiles[] = {firstRow, secondRow};
  int64_t pieceCols =
      cast<VectorType>(firstRow.front().getType()).getNumElements();
  return buildFragment(
      kb, layout.fragments.typeA, pieceCols,
      [&](int64_t tile, int64_t j) { return tiles[tile][j]; }, elements);
}

/// The B fragment of mma `i`: the lane's x of the columns of its weight
/// tiles' elements [4 i, 4 i + 4), `order` giving each element's column.
Value buildInputFragment(KernelBuilder &kb, const MmaGemvLayout &layout,
                         InputPieces &x, ArrayRef<int64_t> order, int64_t i) {
  SmallVector<std::pair<int64_t, int64_t>, 4> elements;
  for (int64_t u = 0; u < kMmaGemvSlots; ++u)
    elements.push_back({0, order[i * kMmaGemvSlots + u]});
  return buildFragment(
      kb, layout.fragments.typeB, x.getPieceCols(),
      [&](int64_t, int64_t j) { return x.get(j); }, elements);
}

int64_t getMmaScaleFactorColumns(const MatmulOperands &ops, int64_t tileCols);

/// The permutation of x that fits the tiles of `tileCols` columns of a
/// tensor-core GEMV over `ops` (`mma`), or none (column order: a plain
/// weight, or a scheme that hands its tiles over in column order).
InputPermutation getMmaInputPermutation(const MatmulOperands &ops, bool mma,
                                        int64_t tileCols) {
  if (!mma || !ops.scheme)
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
/// apply it to its sums instead of to each weight (getMmaFactorMode says
/// how): a step (4 lanes' tiles of a row, summed by the mmas) lies within
/// one run, or, with CUDAOptions::gemvTileFactors, a lane's tile does. 0
/// otherwise.
int64_t getMmaScaleFactorColumns(const MatmulOperands &ops, int64_t tileCols) {
  if (!ops.scheme)
    return 0;
  int64_t run = ops.scheme.getScaleFactorColumns({ops.rows, ops.cols});
  int64_t within = ops.tileFactors ? tileCols : kMmaGemvLanesPerRow * tileCols;
  if (run <= 0 || run % within != 0 ||
      !buildsScaleFactors(ops.scheme, {ops.rows, ops.cols}, tileCols,
                          ops.elementType))
    return 0;
  return run;
}

/// How the tensor-core GEMV applies scale factors.
enum class FactorMode {
  /// The weights come scaled.
  None,
  /// A step (4 lanes' tiles of a row, which the mmas sum) lies within one
  /// run: its sums times each row's factor.
  PerStep,
  /// Only a lane's tile lies within one run: B's columns are split among
  /// the 4 lanes' tiles (x in the columns n with n % 4 the lane of the k
  /// slot, zero elsewhere), so that C's column n sums lane n % 4's tile,
  /// whose factor a shuffle brings. Needs x's zero columns
  /// (kStagedRowZeroCols after a staged row).
  PerTile,
  /// One run a row: the loop's sums, once after it.
  PerRow,
};

/// The factor mode for tiles of `tileCols` columns, x in `input`.
FactorMode getMmaFactorMode(const MatmulOperands &ops, int64_t tileCols,
                            Value input) {
  int64_t run = getMmaScaleFactorColumns(ops, tileCols);
  if (run == 0)
    return FactorMode::None;
  if (run == ops.cols)
    return FactorMode::PerRow;
  if (run % (kMmaGemvLanesPerRow * tileCols) == 0)
    return FactorMode::PerStep;
  // PerTile reads zeros from x's zero columns, which a staged x has with
  // CUDAOptions::gemvTileFactors; an x too large to stage has none (and is
  // in column order, so the tiles' order is no concern).
  auto type = cast<MemRefType>(input.getType());
  bool zeroColumns = gpu::GPUDialect::hasWorkgroupMemoryAddressSpace(type) &&
                     type.getDimSize(1) >= ops.cols + tileCols;
  return zeroColumns ? FactorMode::PerTile : FactorMode::None;
}

/// The position of value v in a fragment of `type` (vector<R x 2 x T>).
SmallVector<int64_t, 2> getFragmentPosition(VectorType type, int64_t v) {
  int64_t perRegister = type.getDimSize(1);
  return {v / perRegister, v % perRegister};
}

/// Value v of `fragment`.
Value extractFragmentValue(KernelBuilder &kb, Value fragment, int64_t v) {
  return vector::ExtractOp::create(
      kb.b, kb.loc, fragment,
      getFragmentPosition(cast<VectorType>(fragment.getType()), v));
}

/// A C fragment whose value v is `valueOf(v)` (an f32), built a register
/// pair at a time as the fragments are (n-D vectors are arrays of 1-D ones
/// in LLVM).
Value buildPerValueFragment(KernelBuilder &kb, const MmaGemvLayout &layout,
                            function_ref<Value(int64_t)> valueOf) {
  VectorType type = layout.fragments.typeC;
  int64_t perRegister = type.getDimSize(1);
  Value fragment = arith::ConstantOp::create(
      kb.b, kb.loc, type,
      DenseElementsAttr::get(type, kb.b.getF32FloatAttr(0.0f)));
  for (int64_t r = 0; r < type.getDimSize(0); ++r) {
    SmallVector<Value, 2> pair;
    for (int64_t e = 0; e < perRegister; ++e)
      pair.push_back(valueOf(r * perRegister + e));
    Value row = vector::FromElementsOp::create(
        kb.b, kb.loc, VectorType::get({perRegister}, kb.b.getF32Type()), pair);
    fragment = vector::InsertOp::create(kb.b, kb.loc, row, fragment, r);
  }
  return fragment;
}

/// `sums` (a C fragment) times `factorOf(v)` for each value v, plus `acc`
/// when given: one f32 multiply or fma per value.
Value buildScaledSums(KernelBuilder &kb, const MmaGemvLayout &layout,
                      Value sums, function_ref<Value(int64_t)> factorOf,
                      Value acc) {
  Value factor = buildPerValueFragment(kb, layout, factorOf);
  if (!acc)
    return arith::MulFOp::create(kb.b, kb.loc, sums, factor);
  return math::FmaOp::create(kb.b, kb.loc, sums, factor, acc);
}

/// `sums` times the lane's two rows' `factors`.
Value buildRowScaledSums(KernelBuilder &kb, const MmaGemvLayout &layout,
                         Value sums, ArrayRef<Value> factors, Value acc) {
  return buildScaledSums(
      kb, layout, sums,
      [&](int64_t v) { return factors[layout.cRowOffset[v]]; }, acc);
}

/// FactorMode::PerTile: C's value v, of column n, sums the tile of lane
/// lane / 4 * 4 + n % 4 (the same rows), whose factors a shuffle brings.
Value buildTileScaledSums(KernelBuilder &kb, const MmaGemvLayout &layout,
                          Value sums, ArrayRef<Value> factors, Value acc,
                          Value lane) {
  OpBuilder &b = kb.b;
  Location loc = kb.loc;
  Value quad = kb.mul(kb.divU(lane, kb.index(kMmaGemvLanesPerRow)),
                      kb.index(kMmaGemvLanesPerRow));
  return buildScaledSums(
      kb, layout, sums,
      [&](int64_t v) {
        Value n = expandMmaMap(b, loc, layout.fragments.c, lane, v)[1];
        Value source = kb.add(quad, kb.remU(n, kb.index(kMmaGemvLanesPerRow)));
        return gpu::ShuffleOp::create(
                   b, loc, factors[layout.cRowOffset[v]],
                   arith::IndexCastOp::create(b, loc, b.getI32Type(), source),
                   arith::ConstantIntOp::create(b, loc, b.getI32Type(),
                                                kWarpSize),
                   gpu::ShuffleMode::IDX)
            .getShuffleResult();
      },
      acc);
}

/// FactorMode::PerTile after the loop: each of C's columns 0..3 holds one
/// lane's tiles (4..7 repeat them); every value becomes its row's total,
/// as without the split (two values a row in the lane, then the lane with
/// the other two columns: lane ^ 1).
Value buildTileColumnTotals(KernelBuilder &kb, const MmaGemvLayout &layout,
                            Value acc) {
  VectorType type = layout.fragments.typeC;
  SmallVector<Value, 2> totals(kMmaGemvStagingRows);
  for (int64_t v = 0; v < type.getNumElements(); ++v) {
    Value &total = totals[layout.cRowOffset[v]];
    Value value = extractFragmentValue(kb, acc, v);
    total = total ? kb.addF(total, value) : value;
  }
  for (Value &total : totals)
    total =
        kb.addF(total, gpu::ShuffleOp::create(kb.b, kb.loc, total, 1, kWarpSize,
                                              gpu::ShuffleMode::XOR)
                           .getShuffleResult());
  Value result = acc;
  for (int64_t v = 0; v < type.getNumElements(); ++v)
    result =
        vector::InsertOp::create(kb.b, kb.loc, totals[layout.cRowOffset[v]],
                                 result, getFragmentPosition(type, v));
  return result;
}

/// The biases of the scheme's biased tiles (QuantSchemeAttrInterface::
/// buildBiasedDequantVectorInAnyOrder) when the K loop takes them: with
/// CUDAOptions::biasedGemvTiles, a factor applied to the sums of a step or
/// of the row, biases that depend on an element's mma slot only (element p
/// of a tile is slot p % 4 of mma p / 4, so one constant A fragment holds
/// every mma's biases), and x in the tiles' order where it is laid out.
/// No bias otherwise.
struct MmaTileBias {
  SmallVector<double> bias;
  /// The zero point when the scheme builds it as a constant: with one
  /// factor a row, the biases are then subtracted once after the loop.
  std::optional<double> constantZero;
};
MmaTileBias getMmaTileBias(const MatmulOperands &ops, int64_t tileCols,
                           FactorMode mode,
                           const InputPermutation *xPermutation) {
  if (!ops.scheme || !ops.biasedTiles ||
      (mode != FactorMode::PerStep && mode != FactorMode::PerRow))
    return {};
  ArrayRef<int64_t> shape = {ops.rows, ops.cols};
  MmaTileBias tileBias;
  tileBias.bias = getDequantVectorBias(ops.scheme, shape, tileCols,
                                       ops.elementType, &tileBias.constantZero);
  for (auto [p, value] : llvm::enumerate(tileBias.bias))
    if (value != tileBias.bias[p % kMmaGemvSlots])
      return {};
  if (xPermutation && !tileBias.bias.empty() &&
      xPermutation->order != getDequantVectorOrder(ops.scheme, shape, tileCols,
                                                   ops.elementType,
                                                   /*unscaled=*/true))
    return {};
  return tileBias;
}

/// The A fragment of the bias mma: rows 0..7 hold each slot's bias, rows
/// 8..15 ones. With each of a step's B fragments it gives, in every lane,
/// sum(bias x) in C's values of row lane / 4 and sum(x) in those of row
/// lane / 4 + 8 (every column of B holds the same x).
double getBiasFragmentValue(const MmaGemvLayout &layout, ArrayRef<double> bias,
                            int64_t v) {
  return layout.aRowOffset[v] == 0 ? bias[layout.aSlot[v]] : 1.0;
}

std::pair<int64_t, int64_t> getBiasSumValues(const MmaGemvLayout &layout) {
  auto first = [&](int64_t offset) {
    return llvm::find(layout.cRowOffset, offset) - layout.cRowOffset.begin();
  };
  return {first(0), first(1)};
}

Value buildBiasFragment(KernelBuilder &kb, const MmaGemvLayout &layout,
                        ArrayRef<double> bias, FloatType elementType) {
  VectorType type = layout.fragments.typeA;
  SmallVector<APFloat> values;
  for (int64_t v = 0; v < type.getNumElements(); ++v) {
    APFloat value(getBiasFragmentValue(layout, bias, v));
    bool losesInfo = false;
    value.convert(elementType.getFloatSemantics(), APFloat::rmNearestTiesToEven,
                  &losesInfo);
    values.push_back(value);
  }
  return arith::ConstantOp::create(kb.b, kb.loc, type,
                                   DenseElementsAttr::get(type, values));
}

/// A step's sums of biased weights less, for each of the lane's rows,
/// sum(bias x) + zero * sum(x) (`biasSums`, the bias mma's C: see
/// buildBiasFragment), in f32: the sums of the unscaled weights.
Value buildUnbiasedSums(KernelBuilder &kb, const MmaGemvLayout &layout,
                        Value sums, Value biasSums, ArrayRef<Value> zeros) {
  auto [biasValue, onesValue] = getBiasSumValues(layout);
  Value biasDot = extractFragmentValue(kb, biasSums, biasValue);
  Value inputSum = extractFragmentValue(kb, biasSums, onesValue);
  SmallVector<Value, 2> offsets;
  for (Value zero : zeros)
    offsets.push_back(
        math::FmaOp::create(kb.b, kb.loc, zero, inputSum, biasDot));
  Value offset = buildPerValueFragment(
      kb, layout, [&](int64_t v) { return offsets[layout.cRowOffset[v]]; });
  return arith::SubFOp::create(kb.b, kb.loc, sums, offset);
}

/// The warp's K loop: per step, each lane stages and dequantizes its tile
/// of both its rows, loads the tile's x and issues tileCols / 4 mma.sync
/// into one f32 accumulator fragment, which it returns.
///
/// A scheme whose scale factors cover whole tiles (getMmaFactorMode) hands
/// over its weights unscaled (q - z, exact in f16), saving its per-weight
/// multiply: a factor per row then scales the step's mma sums (one fma per
/// accumulator value; per lane tile, FactorMode::PerTile), or, for a
/// factor per row (the run is K), the loop's sums once after it. Where the
/// scheme also builds biased tiles (getMmaTileBias), the lane takes those,
/// without even the subtraction of q - z, and a second mma chain gives
/// what the biases and zero points added (buildUnbiasedSums).
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
  FactorMode factorMode = getMmaFactorMode(ops, tileCols, input);
  if (factorMode == FactorMode::PerTile && !layout.tileColumnsPair)
    factorMode = FactorMode::None;
  bool unscaled = factorMode != FactorMode::None;
  bool scalePerStep =
      factorMode == FactorMode::PerStep || factorMode == FactorMode::PerTile;
  // Biased tiles: a second chain of mmas over the same B fragments gives
  // the biases' and the zero point's share of the sums (buildUnbiasedSums),
  // subtracted from each step's sums before its factor, or, for one factor
  // and a constant zero point a row, from the loop's sums after it (the
  // bias chain then runs through the loop beside the others).
  MmaTileBias tileBias =
      getMmaTileBias(ops, tileCols, factorMode, xPermutation);
  Value biasFragment =
      tileBias.bias.empty()
          ? Value()
          : buildBiasFragment(kb, layout, tileBias.bias, ops.elementType);
  bool biasAfterLoop =
      biasFragment && factorMode == FactorMode::PerRow && tileBias.constantZero;
  // PerTile: lane (g, t) gives B's column g the x of its k slots, which
  // are lane t's tile's, where g % 4 == t, and zeros (x's zero columns,
  // from K) elsewhere.
  Value ownsColumn;
  if (factorMode == FactorMode::PerTile)
    ownsColumn = kb.cmp(arith::CmpIPredicate::eq,
                        kb.remU(kb.divU(lane, kb.index(kMmaGemvLanesPerRow)),
                                kb.index(kMmaGemvLanesPerRow)),
                        kb.remU(lane, kb.index(kMmaGemvLanesPerRow)));
  bool freshSums = scalePerStep || (biasFragment && !biasAfterLoop);
  SmallVector<Value> inits(freshSums ? 1 : kMmaGemvChains, zero);
  if (biasAfterLoop)
    inits.push_back(zero);
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
        SmallVector<Value, 2> factors, zeros;
        // Both rows' copies first, back to back: one cp.async group a step.
        std::vector<StagedReader> readers;
        for (const LaneRow &row : rows)
          readers.emplace_back(row.components, kb, tiling, row.stagingRow, lane,
                               col, k, row.residentRow);
        SmallVector<StagingRow> staging;
        for (auto [row, reader] : llvm::zip(rows, readers))
          staging.push_back(
              {row.components, &reader, row.loadRow, row.stagingRow});
        stageStep(kb, ops, tiling.staged, staging, lane, kMmaGemvLanesPerRow);
        for (auto [row, reader] : llvm::zip(rows, readers)) {
          weights.push_back({buildWeightVector(
              kb, ops, reader, row.loadRow, col, tileCols, unscaled,
              orders.emplace_back(),
              biasFragment ? &zeros.emplace_back() : nullptr)});
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
        Value xCol = ownsColumn ? arith::SelectOp::create(b, loc, ownsColumn,
                                                          col, kb.index(k))
                                      .getResult()
                                : col;
        InputPieces x(kb, input, xRow, xCol, tileCols, loadsInputOnUse(ops));
        // A step scaled on its own sums from zero, on one chain.
        SmallVector<Value> sums(freshSums
                                    ? ValueRange{zero}
                                    : partial.drop_back(biasAfterLoop ? 1 : 0));
        // The B fragments, kept for the bias chain.
        SmallVector<Value> inputs;
        for (int64_t i = 0; i < tileCols / kMmaGemvSlots; ++i) {
          Value &sum = sums[i % sums.size()];
          Value weight =
              buildWeightFragment(kb, layout, weights[0], weights[1], i);
          inputs.push_back(buildInputFragment(kb, layout, x, xOrder, i));
          sum = buildMmaSync(b, loc, layout.fragments, ops.elementType, weight,
                             inputs.back(), sum);
        }
        if (biasFragment) {
          Value biasSums = biasAfterLoop ? partial.back() : zero;
          for (Value input : inputs)
            biasSums = buildMmaSync(b, loc, layout.fragments, ops.elementType,
                                    biasFragment, input, biasSums);
          if (biasAfterLoop) {
            sums.push_back(biasSums);
            return sums;
          }
          sums.front() =
              buildUnbiasedSums(kb, layout, sums.front(), biasSums, zeros);
          if (!scalePerStep)
            return SmallVector<Value>{
                arith::AddFOp::create(b, loc, partial[0], sums.front())};
        }
        if (factorMode == FactorMode::PerTile)
          return SmallVector<Value>{buildTileScaledSums(
              kb, layout, sums.front(), factors, partial[0], lane)};
        if (scalePerStep)
          return SmallVector<Value>{buildRowScaledSums(kb, layout, sums.front(),
                                                       factors, partial[0])};
        return sums;
      });
  requestLoadPrefetch(tiling, acc);
  Value biasSums;
  if (biasAfterLoop)
    biasSums = acc.pop_back_val();
  Value total = acc.front();
  for (Value chain : ArrayRef<Value>(acc).drop_front())
    total = arith::AddFOp::create(b, loc, total, chain);
  if (biasSums) {
    Value zeroPoint = arith::ConstantOp::create(
        b, loc, b.getF32FloatAttr(static_cast<float>(*tileBias.constantZero)));
    total =
        buildUnbiasedSums(kb, layout, total, biasSums, {zeroPoint, zeroPoint});
  }
  if (factorMode == FactorMode::PerTile)
    return buildTileColumnTotals(kb, layout, total);
  if (factorMode != FactorMode::PerRow)
    return total;
  // One factor per row: the whole loop's sums, once.
  SmallVector<Value, 2> factors;
  for (const LaneRow &row : rows)
    factors.push_back(ops.scheme.buildScaleFactor(
        b, loc, ComponentReader(row.components), {ops.rows, ops.cols},
        row.loadRow, kb.index(0)));
  return buildRowScaledSums(kb, layout, total, factors, Value());
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

/// The split-K warps of a group copy the resident components of its 16
/// rows (`rowOf` gives group row m's weight row) into rows
/// firstResidentRow + m of the tiles, each warp every splitK-th row. The
/// caller's barrier publishes them to the group.
void loadMmaResidentRows(KernelBuilder &kb, const MatmulOperands &ops,
                         const MatmulTiling &tiling, ValueRange components,
                         function_ref<Value(Value)> rowOf,
                         Value firstResidentRow, Value lane, Value slice,
                         int64_t splitK) {
  kb.loop(slice, kb.index(kMmaGemvRows), kb.index(splitK), [&](Value m) {
    loadResidentRows(kb, ops, tiling, components, rowOf(m),
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
  for (int64_t v = 0; v < accType.getNumElements(); ++v) {
    SmallVector<Value> mn =
        expandMmaMap(kb.b, kb.loc, layout.fragments.c, lane, v);
    Value value = extractFragmentValue(kb, acc, v);
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
  tiling.blockPublishesResidentRows = true; // x's barrier, or the one below
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
  int64_t zeroCols = getStagedRowZeroCols(ops.tileFactors);
  unstageIndirectTilesForInput(ops, tiling, kMmaGemvSharedBytes, zeroCols);
  Value live = kb.cmp(arith::CmpIPredicate::ult, firstRow, kb.index(n));
  auto rowOf = [&](Value m) {
    return kb.minU(kb.add(firstRow, m), kb.index(n - 1));
  };
  // The resident rows (weights only) before x, so that their loads and x's
  // are in flight together, and before griddepcontrol.wait: x's barrier
  // publishes both.
  bool resident = tiling.hasResidentRows();
  if (resident)
    kb.ifThen(live, [&] {
      loadMmaResidentRows(kb, ops, tiling, ops.components, rowOf, groupRow,
                          lane, slice, splitK);
    });
  Value x = stageInputRow(kb, ops.input, xRow,
                          kMmaGemvSharedBytes -
                              getTileSharedBytes(tiling, ops.pipelineStages),
                          permutation, zeroCols);
  if (x == ops.input && resident)
    gpu::BarrierOp::create(kb.b, kb.loc);
  // x too large to stage stays in global memory, in column order.
  const InputPermutation *xPermutation =
      permutation && x != ops.input ? &permutation : nullptr;
  kb.ifThen(live, [&] {
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
} // namespace mlir::mixq::cuda::gen::matmul
