//===- MatmulKernels.cpp - the dequant-GEMV: tiling, staging, f32 FMA ----===//
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
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/SmallBitVector.h"
#include "llvm/ADT/TypeSwitch.h"

#include <algorithm>
#include <limits>

using namespace mlir;
using namespace mlir::mixq;
using namespace mlir::mixq::cuda;

namespace mlir::mixq::cuda::gen::matmul {

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

/// The components the scheme's dequantization tile actually reads (e.g. a
/// `bitplane` of width k reads only the top k planes).
llvm::SmallDenseSet<unsigned> getReadComponents(const MatmulOperands &ops) {
  return getReadComponentIndices(ops.scheme, {ops.rows, ops.cols},
                                 ops.elementType);
}

/// The column-tiled components of the weight the dequantization reads: the
/// scheme's that say so (none with --stage-gemv-weights=false: the lanes
/// then load their codes into registers), or the plain matrix itself.
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
    if (ops.stageWeights && component.columnTiled &&
        component.shape.size() == 2 && read.contains(index))
      tiled.push_back({unsigned(index), component});
  return tiled;
}

/// Adds to a staged tiling the indirect components (ComponentSpec::
/// indirectColumns) the dequantization reads whose tile lies in one run and
/// makes a per-lane slice cp.async can copy; the others stay in global
/// memory, read where used. Not with --gemv-tile-factors: its fused mixed
/// kernels already take the 128-register bound, and the addresses of the
/// tiles in flight made them spill (72 bytes in q/k/v).
void stageIndirectComponents(const MatmulOperands &ops, MatmulTiling &tiling) {
  if (!ops.scheme || !ops.stageWeights)
    return;
  int64_t tileCols = tiling.tileCols;
  for (auto [index, component] :
       llvm::enumerate(ops.scheme.getComponents({ops.rows, ops.cols}))) {
    int64_t run = component.indirectColumns;
    if (!run || !tiling.read.contains(index) || component.shape.size() != 2 ||
        component.shape[0] == 0 || run % tileCols != 0)
      continue;
    int64_t x = component.shape[1];
    int64_t bytes = component.elementType.getIntOrFloatBitWidth() / 8;
    if ((tileCols * x) % run != 0)
      continue;
    int64_t perLane = tileCols * x / run;
    if (!getCopyElements(perLane, bytes, x, /*shareCopies=*/false) ||
        x % perLane != 0)
      continue;
    tiling.staged.push_back(
        {unsigned(index), perLane, perLane, x, Value(), run});
  }
}

bool isWideTile(const MatmulOperands &ops) {
  return ops.scheme && isWordLevelTile(ops.scheme, {ops.rows, ops.cols},
                                       kWideTileCols, ops.elementType);
}

int64_t getCopyElements(int64_t perLane, int64_t bytes, int64_t rowElements,
                        bool shareCopies) {
  int64_t laneBytes = perLane * bytes;
  if (laneBytes == kSharedCopyBytes)
    return perLane;
  if (shareCopies && laneBytes % 4 == 0 && laneBytes % kSharedCopyBytes != 0 &&
      (rowElements * bytes) % kSharedCopyBytes == 0)
    return kSharedCopyBytes / bytes;
  return laneBytes == 4 || laneBytes == 8 ? perLane : 0;
}

/// Picks the widest tile of consecutive weights per lane and step (at most
/// `maxTileCols`) that divides K and gives every column-tiled component a
/// per-lane slice cp.async can copy (with `shareCopies`, or a piece of the
/// lanes' consecutive slices: getCopyElements); without one, the widest
/// tile dividing K and no staging.
MatmulTiling chooseTiling(const MatmulOperands &ops, int64_t maxTileCols,
                          bool shareCopies) {
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
    MatmulTiling tiling{tileCols, {}, {}, {}, read};
    for (const auto &[index, component] : tiled) {
      int64_t x = component.shape[1];
      int64_t bytes = component.elementType.getIntOrFloatBitWidth() / 8;
      if ((tileCols * x) % k != 0)
        break;
      int64_t perLane = tileCols * x / k;
      int64_t copyElements = getCopyElements(perLane, bytes, x, shareCopies);
      if (!copyElements || x % perLane != 0)
        break;
      tiling.staged.push_back({index, perLane, copyElements, x, Value()});
    }
    if (tiling.staged.size() == tiled.size()) {
      stageIndirectComponents(ops, tiling);
      return tiling;
    }
  }
  // Unstaged, a word-level tile still reads its words at once: 32 3-bit
  // codes are 3 words, no 4-, 8- or 16-byte slice to stage where lanes do
  // not share copies (the plain GEMV, rows not 16-byte aligned), but one
  // vector load of them beats a load per code. A tile built a weight at a time
  // stays at 8 columns (its values all live at once).
  for (int64_t tileCols : {int64_t(32), int64_t(16)})
    if (ops.scheme && tileCols <= maxTileCols && k % tileCols == 0 &&
        isWordLevelTile(ops.scheme, {ops.rows, ops.cols}, tileCols,
                        ops.elementType))
      return MatmulTiling{tileCols, {}, {}, {}, read};
  for (int64_t tileCols : {8, 4, 2})
    if (tileCols <= maxTileCols && k % tileCols == 0)
      return MatmulTiling{tileCols, {}, {}, {}, read};
  return MatmulTiling{1, {}, {}, {}, read};
}

/// Whether lanes copy pieces of each other's slices of any of `staged`
/// (StagedComponent::copyElements).
bool hasSharedCopies(ArrayRef<StagedComponent> staged) {
  return llvm::any_of(staged, [](const StagedComponent &component) {
    return component.sharesCopies();
  });
}

/// The shared tile of a staged component: a slice per lane for each of the
/// block's staging rows.
MemRefType getStagingTileType(const MatmulOperands &ops,
                              const MatmulTiling &tiling,
                              const StagedComponent &component) {
  Type element = cast<MemRefType>(ops.components[component.index].getType())
                     .getElementType();
  auto space = gpu::AddressSpaceAttr::get(element.getContext(),
                                          gpu::AddressSpace::Workgroup);
  return MemRefType::get({kMatmulWarps * tiling.getStagingRowsPerWarp(),
                          kWarpSize * component.elementsPerLane},
                         element, MemRefLayoutAttrInterface{}, space);
}

/// Removes the indirect components from a tiling's staged ones; returns
/// them.
SmallVector<StagedComponent> takeIndirectComponents(MatmulTiling &tiling) {
  SmallVector<StagedComponent> indirect;
  llvm::erase_if(tiling.staged, [&](const StagedComponent &component) {
    if (component.indirectColumns)
      indirect.push_back(component);
    return component.indirectColumns != 0;
  });
  return indirect;
}

/// Allocates one shared tile per staged component (a memref.alloc that
/// --mixq-pipeline-async-copies multi-buffers and turns into a workgroup
/// attribution).
/// With `exclusive`, the tiles belong to one loop of a fused kernel: each is
/// marked with its slot (kExclusiveSlotAttrName), so that the loops share
/// their staging memory. They may: the block ranges run in different blocks,
/// and within a block each warp stages only its own rows of the tile.
void allocateStagingTiles(KernelBuilder &kb, const MatmulOperands &ops,
                          MatmulTiling &tiling, bool exclusive) {
  for (auto [slot, component] : llvm::enumerate(tiling.staged)) {
    auto alloc = memref::AllocOp::create(
        kb.b, kb.loc, getStagingTileType(ops, tiling, component));
    if (exclusive)
      alloc->setAttr(kExclusiveSlotAttrName, kb.b.getI64IntegerAttr(slot));
    component.tile = alloc;
  }
}

/// Picks the small per-row components the dequantization reads (not staged
/// ones) and gives each a shared tile: a LUT or the row's group scales is
/// then read from shared memory in the loop instead of through L1. At most
/// `maxBytes` of them (the rest is read from global memory); with `shared`,
/// its budget instead, and the tiles its earlier segments allocated.
/// A resident tile of `tileType` and its bytes: shared memref<bytes x i8>,
/// 16-byte aligned, and the typed view of them, made at the kernel's entry
/// so that every segment of a fused kernel may share it.
static std::pair<Value, Value> allocateResidentTile(KernelBuilder &kb,
                                                    MemRefType tileType) {
  auto space = cast<gpu::AddressSpaceAttr>(tileType.getMemorySpace());
  auto bytesType =
      MemRefType::get({KernelBuilder::getByteSize(tileType)}, kb.b.getI8Type(),
                      MemRefLayoutAttrInterface{}, space);
  Value bytes = kb.func.addWorkgroupAttribution(bytesType, kb.loc);
  kb.func.setWorkgroupAttributionAttr(kb.func.getNumWorkgroupAttributions() - 1,
                                      LLVM::LLVMDialect::getAlignAttrName(),
                                      kb.b.getI64IntegerAttr(16));
  OpBuilder::InsertionGuard guard(kb.b);
  kb.b.setInsertionPointToStart(&kb.func.getBody().front());
  Value zero = arith::ConstantIndexOp::create(kb.b, kb.loc, 0);
  Value tile =
      memref::ViewOp::create(kb.b, kb.loc, tileType, bytes, zero, ValueRange{});
  return {tile, bytes};
}

namespace {
/// Lane i of a vector of codes as (x >> shift) & mask, with a constant
/// shift and mask (a code stream's fields: buildPackedCodeVector).
struct MaskedCode {
  Value x;
  uint32_t shift = 0, mask = 0;
  /// A field that straddles two words, (x >> shift | high << highShift) &
  /// mask with shift + highShift == 32: the next word. Null otherwise.
  Value high;
  uint32_t highShift = 0;
  /// Bits of x known to be zero (getKnownZeroBits).
  uint32_t knownZero = 0;
};

/// Lane `lane` of an integer constant (a splat or per lane), if `value` is
/// one.
std::optional<uint32_t> getLaneConstant(Value value, int64_t lane) {
  DenseIntElementsAttr constants;
  if (!matchPattern(value, m_Constant(&constants)))
    return std::nullopt;
  if (constants.isSplat())
    return uint32_t(constants.getSplatValue<APInt>().getZExtValue());
  return uint32_t(constants.getValues<APInt>()[lane].getZExtValue());
}

/// Whether lane `lane` of `value` is known zero: a shuffle that takes it
/// from a zero constant (a field that does not straddle words).
bool isZeroLane(Value value, int64_t lane) {
  auto shuffle = value.getDefiningOp<vector::ShuffleOp>();
  if (!shuffle)
    return false;
  int64_t firstSize = shuffle.getV1VectorType().getNumElements();
  int64_t source = shuffle.getMask()[lane];
  return source >= firstSize &&
         getLaneConstant(shuffle.getV2(), source - firstSize) == 0u;
}

/// The bits of lane `lane` of `value` (i32, or a vector of i32) known to
/// be zero, through constants, masks, ors, constant shifts and the vector
/// ops that move lanes around; 0 (nothing known) past a few levels. The
/// words a scheme assembles from masked parts (bitplane's pair indices)
/// are ors of ands with constants.
uint32_t getKnownZeroBits(Value value, int64_t lane, unsigned depth = 0) {
  if (depth > 8 || !getElementTypeOrSelf(value.getType()).isInteger(32))
    return 0;
  IntegerAttr scalar;
  if (matchPattern(value, m_Constant(&scalar)))
    return ~uint32_t(scalar.getValue().getZExtValue());
  if (std::optional<uint32_t> constant = getLaneConstant(value, lane))
    return ~*constant;
  Operation *op = value.getDefiningOp();
  if (!op)
    return 0;
  auto known = [&](Value operand, int64_t at) {
    return getKnownZeroBits(operand, at, depth + 1);
  };
  auto shiftAmount = [&](Value amount) -> std::optional<uint32_t> {
    IntegerAttr attr;
    if (matchPattern(amount, m_Constant(&attr)))
      return uint32_t(attr.getValue().getZExtValue());
    return getLaneConstant(amount, lane);
  };
  if (auto andOp = dyn_cast<arith::AndIOp>(op))
    return known(andOp.getLhs(), lane) | known(andOp.getRhs(), lane);
  if (auto orOp = dyn_cast<arith::OrIOp>(op))
    return known(orOp.getLhs(), lane) & known(orOp.getRhs(), lane);
  if (auto shl = dyn_cast<arith::ShLIOp>(op)) {
    std::optional<uint32_t> s = shiftAmount(shl.getRhs());
    if (s && *s < 32)
      return known(shl.getLhs(), lane) << *s | ((uint32_t(1) << *s) - 1);
  }
  if (auto shr = dyn_cast<arith::ShRUIOp>(op)) {
    std::optional<uint32_t> s = shiftAmount(shr.getRhs());
    if (s && *s < 32)
      return known(shr.getLhs(), lane) >> *s | ~(~uint32_t(0) >> *s);
  }
  if (auto elements = dyn_cast<vector::FromElementsOp>(op))
    return known(elements.getElements()[lane], 0);
  if (auto broadcast = dyn_cast<vector::BroadcastOp>(op))
    if (!isa<VectorType>(broadcast.getSource().getType()))
      return known(broadcast.getSource(), 0);
  if (auto extract = dyn_cast<vector::ExtractOp>(op)) {
    auto source = cast<VectorType>(extract.getSource().getType());
    ArrayRef<int64_t> position = extract.getStaticPosition();
    if (source.getRank() == 1 && position.size() == 1 &&
        position[0] != ShapedType::kDynamic)
      return known(extract.getSource(), position[0]);
  }
  return 0;
}

/// Lane `lane` of `codes` as a MaskedCode, seeing through the shift of a
/// field that lies in one word; none unless `codes` is a masked vector.
std::optional<MaskedCode> getMaskedCode(OpBuilder &builder, Location loc,
                                        Value codes, int64_t lane) {
  auto andOp = codes.getDefiningOp<arith::AndIOp>();
  if (!andOp || !getElementTypeOrSelf(codes.getType()).isInteger(32))
    return std::nullopt;
  std::optional<uint32_t> mask = getLaneConstant(andOp.getRhs(), lane);
  if (!mask)
    return std::nullopt;
  Value input = andOp.getLhs();
  // (a >> s) | (b << t) with b's lane zero is a >> s; with s + t == 32, a
  // field straddling words a and b.
  if (auto orOp = input.getDefiningOp<arith::OrIOp>())
    for (auto [low, high] : {std::pair(orOp.getLhs(), orOp.getRhs()),
                             std::pair(orOp.getRhs(), orOp.getLhs())}) {
      auto shl = high.getDefiningOp<arith::ShLIOp>();
      auto shr = low.getDefiningOp<arith::ShRUIOp>();
      if (!shl || !shr)
        continue;
      if (isZeroLane(shl.getLhs(), lane)) {
        input = low;
        break;
      }
      std::optional<uint32_t> lowShift = getLaneConstant(shr.getRhs(), lane);
      std::optional<uint32_t> highShift = getLaneConstant(shl.getRhs(), lane);
      if (lowShift && highShift && *lowShift + *highShift == 32)
        return MaskedCode{
            vector::ExtractOp::create(builder, loc, shr.getLhs(), lane),
            *lowShift, *mask,
            vector::ExtractOp::create(builder, loc, shl.getLhs(), lane),
            *highShift};
    }
  if (auto shift = input.getDefiningOp<arith::ShRUIOp>())
    if (std::optional<uint32_t> amount = getLaneConstant(shift.getRhs(), lane))
      return MaskedCode{
          vector::ExtractOp::create(builder, loc, shift.getLhs(), lane),
          *amount,
          *mask,
          Value(),
          0,
          getKnownZeroBits(shift.getLhs(), lane)};
  return MaskedCode{vector::ExtractOp::create(builder, loc, input, lane), 0,
                    *mask};
}

/// The byte offset of a masked code's table element of 2^scale bytes,
/// ((x >> shift) & mask) << scale | rowOffset, as one shift and one lop3,
/// for an element offset below the row offset's lowest set bit (rows 256
/// bytes apart and offsets within a byte; a one-row tile's offset 0; with
/// `bytePermutes`, rows a multiple of 256 bytes apart): built as a mask, a
/// multiply and an add, ptxas then inserts
/// the code's byte into the row offset with a byte permute after the mask,
/// one instruction more per lookup (lut3's pair table: 2.37 -> 2.02
/// instructions per weight). Elsewhere it folds the scaling into the mask
/// and ORs the row in one lop3 by itself. A field straddling two words
/// takes its scaling in its funnel shift, (x >> (shift - scale)) | (high <<
/// (highShift + scale)), one SHF.L.W, where LLVM would shift the funnel
/// shift's result again (lut3's pairs: 2 of 16).
Value buildMaskedCodeOffset(OpBuilder &builder, Location loc,
                            const MaskedCode &code, unsigned scale,
                            Value rowOffset, bool bytePermutes) {
  Type i32 = builder.getI32Type();
  auto i32Constant = [&](int64_t value) -> Value {
    return arith::ConstantIntOp::create(builder, loc, i32, value);
  };
  Value x = code.x;
  uint32_t shift = code.shift, mask = code.mask;
  if (code.high) {
    // The field starts at bit `shift` (32 - highShift) of its word, above
    // `scale` unless it is nearly a word wide: then the funnel shift takes
    // it to bit `scale` at once.
    uint32_t scaled = shift > scale ? scale : 0;
    x = arith::OrIOp::create(
        builder, loc,
        arith::ShRUIOp::create(builder, loc, x, i32Constant(shift - scaled)),
        arith::ShLIOp::create(builder, loc, code.high,
                              i32Constant(code.highShift + scaled)));
    shift = scaled;
  }
  // A field that is byte b > 0 of x once scaled (an offset of at most 8
  // bits), the rest of that byte known zero: one byte permute puts it under
  // the row offset's upper bytes (bitplane's pair indices, four to a word),
  // where a shift and a lop3 were.
  if (bytePermutes && !code.high && shift > scale && (shift - scale) % 8 == 0 &&
      (uint64_t(mask) << scale) <= 0xFF) {
    uint32_t byte = (shift - scale) / 8;
    uint32_t byteBits = uint32_t(0xFF) << (8 * byte);
    uint32_t field = (mask << scale) << (8 * byte);
    if ((byteBits & ~field & ~code.knownZero) == 0) {
      // Result byte 0 is x's byte `byte`, bytes 1-3 the row offset's.
      std::string text =
          "prmt.b32 $0, $1, $2, 0x765" + std::to_string(byte) + ";";
      return buildInlinePTX(builder, loc, i32, ValueRange{x, rowOffset}, text,
                            "=r,r,r", /*hasSideEffects=*/false);
    }
  }
  if (shift > scale)
    x = arith::ShRUIOp::create(builder, loc, x, i32Constant(shift - scale));
  else if (shift < scale)
    x = arith::ShLIOp::create(builder, loc, x, i32Constant(scale - shift));
  std::string text = "lop3.b32 $0, $1, " + std::to_string(mask << scale) +
                     ", $2, " + std::to_string(kLop3AndOr) + ";";
  return buildInlinePTX(builder, loc, i32, ValueRange{x, rowOffset}, text,
                        "=r,r,r", /*hasSideEffects=*/false);
}
} // namespace

Value gatherResidentBytes(OpBuilder &builder, Location loc,
                          const ResidentComponent &component, Value row,
                          Value codes) {
  auto tileType = cast<MemRefType>(component.tile.getType());
  Type element = tileType.getElementType();
  int64_t elementBytes = element.getIntOrFloatBitWidth() / 8;
  int64_t rowBytes = tileType.getDimSize(1) * elementBytes;
  Type i32 = builder.getI32Type();
  auto i32Constant = [&](int64_t value) -> Value {
    return arith::ConstantIntOp::create(builder, loc, i32, value);
  };
  Value rowOffset = arith::MulIOp::create(
      builder, loc, arith::IndexCastUIOp::create(builder, loc, i32, row),
      i32Constant(rowBytes));
  auto elementType = MemRefType::get({1}, element, MemRefLayoutAttrInterface{},
                                     tileType.getMemorySpace());
  Value zero = arith::ConstantIndexOp::create(builder, loc, 0);
  auto codesType = cast<VectorType>(codes.getType());
  unsigned scale = llvm::Log2_64(elementBytes);
  bool byteAligned = llvm::isPowerOf2_64(elementBytes);
  // The row offset's zero low bits, into which a masked code's offset ORs:
  // a one-row tile's offset is 0.
  uint64_t rowAlignment = tileType.getDimSize(0) == 1
                              ? std::numeric_limits<uint64_t>::max()
                              : uint64_t(rowBytes) & -uint64_t(rowBytes);
  SmallVector<Value> values;
  for (int64_t i = 0; i < codesType.getNumElements(); ++i) {
    Value offset;
    std::optional<MaskedCode> masked =
        byteAligned ? getMaskedCode(builder, loc, codes, i) : std::nullopt;
    if (masked && (uint64_t(masked->mask) << scale) < rowAlignment) {
      offset = buildMaskedCodeOffset(builder, loc, *masked, scale, rowOffset,
                                     /*bytePermutes=*/rowAlignment >= 256);
    } else {
      Value code = vector::ExtractOp::create(builder, loc, codes, i);
      // Table indices: a shared-memory row is far below 2^32 bytes.
      if (code.getType().isIndex())
        code = arith::IndexCastUIOp::create(builder, loc, i32, code);
      else if (code.getType().getIntOrFloatBitWidth() > 32)
        code = arith::TruncIOp::create(builder, loc, i32, code);
      else if (code.getType() != i32)
        code = arith::ExtUIOp::create(builder, loc, i32, code);
      offset = arith::AddIOp::create(
          builder, loc, rowOffset,
          arith::MulIOp::create(builder, loc, code, i32Constant(elementBytes)),
          arith::IntegerOverflowFlags::nuw);
    }
    Value at = arith::IndexCastUIOp::create(builder, loc,
                                            builder.getIndexType(), offset);
    Value view = memref::ViewOp::create(builder, loc, elementType,
                                        component.bytes, at, ValueRange{});
    values.push_back(
        memref::LoadOp::create(builder, loc, view, ValueRange{zero}));
  }
  return buildVectorFromScalars(builder, loc, values);
}

void allocateResidentTiles(KernelBuilder &kb, const MatmulOperands &ops,
                           MatmulTiling &tiling, int64_t maxBytes,
                           SharedResidentTiles *shared) {
  if (!ops.scheme)
    return;
  int64_t &bytesLeft = shared ? shared->bytesLeft : maxBytes;
  llvm::DenseMap<Type, unsigned> used; // tiles of a type this segment took
  const llvm::SmallDenseSet<unsigned> &read = tiling.read;
  auto space = gpu::AddressSpaceAttr::get(kb.b.getContext(),
                                          gpu::AddressSpace::Workgroup);
  // A tile of `tileType`: the shared one of the type an earlier segment
  // has, or a new one within the budget.
  auto takeTile =
      [&](MemRefType tileType) -> std::optional<std::pair<Value, Value>> {
    unsigned nth = used[tileType];
    std::pair<Value, Value> tile;
    if (shared && nth < shared->tiles[tileType].size()) {
      tile = shared->tiles[tileType][nth];
    } else {
      int64_t bytes = KernelBuilder::getByteSize(tileType);
      if (bytes > bytesLeft)
        return std::nullopt;
      bytesLeft -= bytes;
      tile = allocateResidentTile(kb, tileType);
      if (shared)
        shared->tiles[tileType].push_back(tile);
    }
    ++used[tileType];
    return tile;
  };
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
    if (std::optional<std::pair<Value, Value>> tile = takeTile(tileType))
      tiling.resident.push_back({unsigned(index), tile->first, tile->second});
  }
  // The scheme's row tables the tiles read, after the components they are
  // built from.
  SmallVector<int64_t, 2> shape = {ops.rows, ops.cols};
  SmallVector<RowTableSpec> specs = ops.scheme.getRowTables(shape);
  for (unsigned table : getRowTablesToBuild(ops.scheme, shape, tiling.tileCols,
                                            ops.elementType)) {
    bool oneRow =
        specs[table].sameForEveryRow && tiling.blockPublishesResidentRows;
    auto tileType = MemRefType::get(
        {oneRow ? 1 : tiling.getResidentRowsPerBlock(), specs[table].entries},
        specs[table].elementType, MemRefLayoutAttrInterface{}, space);
    if (std::optional<std::pair<Value, Value>> tile = takeTile(tileType))
      tiling.tables.push_back({table, tile->first, tile->second, oneRow});
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
  for (const ResidentComponent &table : tiling.tables)
    bytes += bytesOf(table.tile);
  return bytes;
}

/// The warp copies its row of every resident component into row `tileRow`
/// of the tiles, then its lanes build that row of every row table, an entry
/// each in turn, from the copies (bar.warp.sync after each: the warp may be
/// alone in this branch).
void loadResidentRows(KernelBuilder &kb, const MatmulOperands &ops,
                      const MatmulTiling &tiling, ValueRange components,
                      Value row, Value tileRow, Value lane) {
  if (!tiling.hasResidentRows())
    return;
  Value allLanes =
      arith::ConstantIntOp::create(kb.b, kb.loc, kb.b.getI32Type(), -1);
  for (const ResidentComponent &component : tiling.resident) {
    Value global = components[component.index];
    int64_t size = cast<MemRefType>(global.getType()).getDimSize(1);
    kb.loop(lane, kb.index(size), kb.index(kWarpSize), [&](Value i) {
      Value value =
          memref::LoadOp::create(kb.b, kb.loc, global, ValueRange{row, i});
      memref::StoreOp::create(kb.b, kb.loc, value, component.tile,
                              ValueRange{tileRow, i});
    });
  }
  if (!tiling.resident.empty())
    NVVM::SyncWarpOp::create(kb.b, kb.loc, allLanes);
  if (tiling.tables.empty())
    return;
  StagedReader reader(components, kb, tiling, tileRow, lane, kb.index(0),
                      ops.cols);
  for (const ResidentComponent &table : tiling.tables) {
    int64_t entries = cast<MemRefType>(table.tile.getType()).getDimSize(1);
    auto buildTableRow = [&](Value at) {
      kb.loop(lane, kb.index(entries), kb.index(kWarpSize), [&](Value e) {
        Value entry = ops.scheme.buildRowTableEntry(
            kb.b, kb.loc, reader, {ops.rows, ops.cols}, table.index, row, e);
        memref::StoreOp::create(kb.b, kb.loc, entry, table.tile,
                                ValueRange{at, e});
      });
    };
    // A table the same for every row: its one row, by the warp of tile
    // row 0 (the block barrier after the resident rows publishes it).
    if (table.oneRow)
      kb.ifThen(kb.cmp(arith::CmpIPredicate::eq, tileRow, kb.index(0)),
                [&] { buildTableRow(kb.index(0)); });
    else
      buildTableRow(tileRow);
  }
  NVVM::SyncWarpOp::create(kb.b, kb.loc, allLanes);
}

void dropIndirectTilesOver(const MatmulOperands &ops, MatmulTiling &tiling,
                           int64_t budget) {
  int64_t bytes = 0;
  for (const StagedComponent &component : tiling.staged)
    bytes +=
        KernelBuilder::getByteSize(getStagingTileType(ops, tiling, component));
  if (bytes * std::max<int64_t>(ops.pipelineStages, 1) > budget)
    takeIndirectComponents(tiling);
}

void unstageIndirectTilesForInput(const MatmulOperands &ops,
                                  MatmulTiling &tiling, int64_t budget,
                                  int64_t zeroCols) {
  auto type = cast<MemRefType>(ops.input.getType());
  int64_t inputBytes =
      (type.getDimSize(1) + zeroCols) * type.getElementTypeBitWidth() / 8;
  int64_t stages = ops.pipelineStages;
  int64_t withIndirect = getTileSharedBytes(tiling, stages);
  if (inputBytes > kMaxStagedInputBytes || withIndirect + inputBytes <= budget)
    return;
  MatmulTiling direct = tiling;
  takeIndirectComponents(direct);
  if (getTileSharedBytes(direct, stages) + inputBytes > budget)
    return;
  for (const StagedComponent &component : takeIndirectComponents(tiling))
    component.tile.getDefiningOp()->erase();
}

/// The lane's slice of each staged component of each of `rows` for this
/// step: one vector copy global -> shared, from the weight's row or, for an
/// indirect component, from the row the scheme names for the lane's tile
/// (its address computed from the scheme's per-row data when
/// --mixq-pipeline-async-copies issues the copy, stages ahead). Every
/// address comes first, then the copies back to back: a shared-memory read
/// between two copies (an indirect row's table) would split them into
/// separate cp.async groups, each with its own wait.
void stageStep(KernelBuilder &kb, const MatmulOperands &ops,
               ArrayRef<StagedComponent> staged, ArrayRef<StagingRow> rows,
               Value lane, int64_t lanesPerRun) {
  SmallVector<std::pair<Value, Value>> sources; // row, first element
  for (const StagingRow &row : rows)
    for (const StagedComponent &component : staged)
      sources.push_back(
          {component.indirectColumns
               ? ops.scheme.buildIndirectRow(
                     kb.b, kb.loc, *row.reader, {ops.rows, ops.cols},
                     component.index, row.row, row.reader->getColumn())
               : row.row,
           row.reader->firstElement(component)});
  auto source = sources.begin();
  for (const StagingRow &row : rows)
    for (const StagedComponent &component : staged) {
      Value global = row.components[component.index];
      auto vectorType =
          VectorType::get({component.elementsPerLane},
                          cast<MemRefType>(global.getType()).getElementType());
      auto [sourceRow, first] = *source++;
      Value slot = kb.mul(lane, kb.index(component.elementsPerLane));
      // Global elements from `from` on to the tile's from `to` on.
      auto copy = [&](VectorType type, Value from, Value to) {
        Value slice = vector::LoadOp::create(kb.b, kb.loc, type, global,
                                             ValueRange{sourceRow, from});
        vector::StoreOp::create(kb.b, kb.loc, slice, component.tile,
                                ValueRange{row.tileRow, to});
      };
      if (!component.sharesCopies()) {
        copy(vectorType, first, slot);
        continue;
      }
      // Pieces p, p + lanesPerRun, ... of the run (p = the lane's place in
      // it; modulo the run's pieces: spare lanes copy a piece again, which
      // the warp's request coalesces with the first), counted from the
      // run's first slice.
      vectorType = VectorType::get({component.copyElements},
                                   vectorType.getElementType());
      Value place = kb.remU(lane, kb.index(lanesPerRun));
      int64_t pieces =
          lanesPerRun * component.elementsPerLane / component.copyElements;
      Value runOffset = kb.mul(place, kb.index(component.elementsPerLane));
      Value runFirst = kb.sub(first, runOffset);
      Value runSlot = kb.sub(slot, runOffset);
      for (int64_t round = 0; round < pieces; round += lanesPerRun) {
        Value piece =
            kb.mul(kb.remU(kb.add(place, kb.index(round)), kb.index(pieces)),
                   kb.index(component.copyElements));
        copy(vectorType, kb.add(runFirst, piece), kb.add(runSlot, piece));
      }
    }
  // A lane reads slices other lanes copied: after its wait for its own
  // copies (which --mixq-pipeline-async-copies puts before this barrier),
  // it waits for the other lanes' waits. The barrier also keeps a lane from
  // reusing a buffer another lane still reads: the next copies into it
  // come after the next step's barrier.
  if (hasSharedCopies(staged))
    NVVM::SyncWarpOp::create(
        kb.b, kb.loc,
        arith::ConstantIntOp::create(kb.b, kb.loc, kb.b.getI32Type(), -1));
}

GemvChoice describeGemv(const GemvShape &shape, int64_t rows, int64_t cols,
                        const CUDAOptions &options) {
  GemvChoice choice;
  choice.rows = rows;
  choice.cols = cols;
  choice.blocks = shape.blocks;
  choice.rowsPerWarp = shape.rowsPerWarp;
  choice.splitK = shape.splitK;
  choice.tileCols = shape.tiling.tileCols;
  choice.tensorCores = shape.mma;
  choice.staged = !shape.tiling.staged.empty();
  choice.pipelineDepth = choice.staged ? options.pipelineStages : 1;
  return choice;
}

void requestLoadPrefetch(const MatmulTiling &tiling, ValueRange loopResults) {
  if (!tiling.staged.empty() || loopResults.empty())
    return;
  Operation *loop = loopResults.front().getDefiningOp();
  loop->setAttr(kPrefetchAttrName, UnitAttr::get(loop->getContext()));
}

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
    Value x = row.input ? row.input : input;
    for (auto [t, xRow] : llvm::enumerate(xRows)) {
      Value sum = ops.scheme.buildSparseDot(
          kb.b, kb.loc, reader, {ops.rows, ops.cols}, row.loadRow, first, step,
          [&, xRow = xRow](OpBuilder &b, Location loc, Value col) {
            return buildExtendToF32(
                b, loc,
                memref::LoadOp::create(b, loc, x, ValueRange{xRow, col}));
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
                // Every row's copies first, back to back: one cp.async
                // group a step.
                std::vector<StagedReader> readers;
                for (const WarpRow &row : rows)
                  readers.emplace_back(row.components, kb, tiling, row.tileRow,
                                       lane, col, k);
                SmallVector<StagingRow> staging;
                for (auto [row, reader] : llvm::zip(rows, readers))
                  staging.push_back(
                      {row.components, &reader, row.loadRow, row.tileRow});
                stageStep(kb, ops, tiling.staged, staging, lane, kWarpSize);
                SmallVector<SmallVector<Value>> w;
                for (auto [row, reader] : llvm::zip(rows, readers))
                  w.push_back(buildWeightTile(kb, ops, reader, row.loadRow, col,
                                              tileCols));
                SmallVector<Value> next(partial.begin(), partial.end());
                for (int64_t t = 0; t < numTokens; ++t) {
                  // Each x tile once for all the rows that read it.
                  llvm::SmallDenseMap<Value, SmallVector<Value>, 2> tiles;
                  for (int64_t j = 0; j < numRows; ++j) {
                    Value rowInput = rows[j].input ? rows[j].input : input;
                    auto [it, isNew] = tiles.try_emplace(rowInput);
                    if (isNew)
                      it->second =
                          loadInputTile(kb, rowInput, xRows[t], col, tileCols);
                    ArrayRef<Value> x = it->second;
                    Value &acc = next[t * numRows + j];
                    for (int64_t c = 0; c < tileCols; ++c)
                      acc = math::FmaOp::create(b, loc, x[c], w[j][c], acc);
                  }
                }
                return next;
              });
  // A multi-token (prefill) loop holds a tile of x rows and accumulators
  // per token: with prefetched weights on top, affine3's spilled.
  if (numTokens == 1)
    requestLoadPrefetch(tiling, accs);
  addSparseTerms(kb, ops, rows, input, xRows, lane, slice, splitK, accs);
  return accs;
}

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

/// Whether a tile's dequantization is cheap enough in registers for
/// kDecodeRowsPerWarp rows: a plain matrix, or a word-level scheme within
/// kCheapTileScalarOpsPerWeight. A tile built a weight at a time would not
/// fit: lut3's decode GEMV went from 56 to 96 registers, mixed's spilled.
bool isCheapTile(const MatmulOperands &ops, int64_t tileCols) {
  return !ops.scheme ||
         isWordLevelTile(ops.scheme, {ops.rows, ops.cols}, tileCols,
                         ops.elementType, kCheapTileScalarOpsPerWeight);
}

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
  shape.tiling = chooseTiling(ops, decode ? kWideTileCols : 8, ops.shareCopies);
  // A step of the tensor-core GEMV is 4 lanes' tiles: narrower tiles where
  // K is no multiple of 4 wide ones (K = 288: 8 columns).
  if (decode && !canUseMmaGemv(ops, input, shape.tiling.tileCols))
    for (int64_t tileCols = shape.tiling.tileCols / 2;
         tileCols >= kMmaGemvSlots; tileCols /= 2) {
      if (!canUseMmaGemv(ops, input, tileCols))
        continue;
      MatmulTiling narrower = chooseTiling(ops, tileCols, ops.shareCopies);
      if (canUseMmaGemv(ops, input, narrower.tileCols)) {
        shape.tiling = narrower;
        break;
      }
    }
  if (decode && canUseMmaGemv(ops, input, shape.tiling.tileCols)) {
    // A lane holds two rows' tiles: a tile of table lookups (bitplane) is
    // held to kMmaGemvMaxLookupTileCols columns. A tile of lookups in a
    // row table of pairs (lut's) holds half as many values and is not.
    if (shape.tiling.tileCols > kMmaGemvMaxLookupTileCols && ops.scheme &&
        dequantVectorGathers(ops.scheme, {ops.rows, ops.cols},
                             shape.tiling.tileCols, ops.elementType,
                             /*withRowTables=*/true)) {
      MatmulTiling narrower =
          chooseTiling(ops, kMmaGemvMaxLookupTileCols, ops.shareCopies);
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
  // The plain GEMV's lanes may take different numbers of steps (K not a
  // multiple of a step): each copies its own slice only.
  if (hasSharedCopies(shape.tiling.staged))
    shape.tiling =
        chooseTiling(ops, shape.tiling.tileCols, /*shareCopies=*/false);
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
/// With `tileFactors`, kTileFactorMaxRegisters.
void boundMatmulRegisters(KernelBuilder &kb, bool tileFactors) {
  kb.func->setAttr(NVVM::NVVMDialect::getMaxnregAttrName(),
                   kb.b.getI32IntegerAttr(tileFactors ? kTileFactorMaxRegisters
                                                      : kWideTileMaxRegisters));
}

/// A shared memref<1 x (K + zeroCols) x T> for a block's copy of one x row,
/// 16-byte aligned (16-byte vector loads read it back), its columns from K
/// zero.
Value allocateStagedRow(KernelBuilder &kb, Type elementType, int64_t k,
                        int64_t zeroCols) {
  auto space = gpu::AddressSpaceAttr::get(kb.b.getContext(),
                                          gpu::AddressSpace::Workgroup);
  Value staged = kb.func.addWorkgroupAttribution(
      MemRefType::get({1, k + zeroCols}, elementType,
                      MemRefLayoutAttrInterface{}, space),
      kb.loc);
  kb.func.setWorkgroupAttributionAttr(kb.func.getNumWorkgroupAttributions() - 1,
                                      LLVM::LLVMDialect::getAlignAttrName(),
                                      kb.b.getI64IntegerAttr(16));
  if (zeroCols == 0)
    return staged;
  // The zero columns, a 16-byte store by each of the first few threads;
  // the caller's barrier after the row's copy publishes them.
  int64_t piece = 128 / elementType.getIntOrFloatBitWidth();
  auto zeros = VectorType::get({piece}, elementType);
  Value zero = arith::ConstantOp::create(
      kb.b, kb.loc, zeros,
      DenseElementsAttr::get(zeros, kb.b.getZeroAttr(elementType)));
  Value tid = kb.threadId();
  kb.ifThen(kb.cmp(arith::CmpIPredicate::ult, tid, kb.index(zeroCols / piece)),
            [&] {
              vector::StoreOp::create(
                  kb.b, kb.loc, zero, staged,
                  ValueRange{kb.index(0),
                             kb.add(kb.index(k), kb.mul(tid, kb.index(piece)))},
                  /*nontemporal=*/false, llvm::Align(16));
            });
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

/// Copies x[row, 0 .. K) into a shared memref<1 x K x T> with 16-byte
/// pieces over the block's threads, then a barrier, and returns it with
/// `row` 0; returns `input` itself above kMaxStagedInputBytes or
/// `maxBytes`. The
/// tensor-core GEMV reads its x from there: each lane's 16-byte loads of x
/// are then shared loads, which ptxas does not hoist and hold the way it
/// holds global loads (mixed took all 128 registers and spilled with x
/// from global memory).
Value stageInputRow(KernelBuilder &kb, Value input, Value &row,
                    int64_t maxBytes, const InputPermutation &permutation,
                    int64_t zeroCols) {
  auto type = cast<MemRefType>(input.getType());
  Type element = type.getElementType();
  int64_t k = type.getDimSize(1);
  if ((k + zeroCols) * element.getIntOrFloatBitWidth() / 8 >
      std::min(maxBytes, kMaxStagedInputBytes))
    return input;
  Value staged = allocateStagedRow(kb, element, k, zeroCols);
  copyRowInPieces(kb, input, row, staged, k, permutation);
  gpu::BarrierOp::create(kb.b, kb.loc);
  row = kb.index(0);
  return staged;
}

/// Copies input[row, 0 .. k) to staged[0, 0 .. k) in 16-byte pieces over
/// the block's threads, each block of `permutation` (if any) permuted, with
/// no barrier. A thread reads only the pieces it writes, so `input` may be
/// `staged` itself.
void copyRowInPieces(KernelBuilder &kb, Value input, Value row, Value staged,
                     int64_t k, const InputPermutation &permutation) {
  Type element = KernelBuilder::getElementType(input);
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
  boundMatmulRegisters(kb, ops.tileFactors);
  ctx.launch.gemvs = {describeGemv(shape, n, ops.cols, ctx.options)};
  if (shape.mma) {
    FailureOr<MmaGemvLayout> layout = getMmaGemvLayout(b, loc, ops.elementType);
    if (failed(layout))
      return failure();
    buildMmaMatmulBody(spec, ctx, shape, *layout);
    ctx.launch.block = {kMatmulWarps * kWarpSize, 1, 1};
    ctx.launch.weightsPerWarpIteration =
        kWarpSize * shape.tiling.tileCols * kMmaGemvStagingRows;
    ctx.launch.weightsPerWarp = shape.rowsPerWarp * ops.cols / shape.splitK;
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
      loadResidentRows(kb, ops, tiling, ops.components, loadRows[j],
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
  ctx.launch.weightsPerWarp = rowsPerWarp * ops.cols / splitK;
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
  ops.stageWeights = ctx.options.stageGemvWeights;
  ops.tileFactors = ctx.options.gemvTileFactors;
  ops.biasedTiles = ctx.options.biasedGemvTiles;
  ops.shareCopies = ctx.options.shareGemvCopies;
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
} // namespace mlir::mixq::cuda::gen::matmul

namespace mlir::mixq::cuda::gen {
using namespace matmul;

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
