//===- KernelBuilder.h - IR building helpers for gpu.func -------*- C++ -*-===//
//
// The small vocabulary the CUDA kernel generators share: thread/block ids,
// index and f32 constants, loops and conditionals that move the insertion
// point, widening loads / rounding stores, warp-shuffle and block reductions
// over shared memory.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_CODEGEN_CUDA_KERNELBUILDER_H
#define MIXQ_CODEGEN_CUDA_KERNELBUILDER_H

#include "dialect/MixQ/SchemeUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Builders.h"

#include <algorithm>
#include <limits>

namespace mlir::mixq::cuda {

inline constexpr int64_t kWarpSize = 32;

enum class Reduction { Sum, Max, MinNum, MaxNum };

/// One PTX instruction as inline assembly (AT&T dialect, no tail call) with
/// one result: `text` names the result $0 and the operands $1...,
/// `constraints` their registers ("=r,r,r"). Without side effects it is
/// hoisted and CSE'd like the ops it stands for.
inline Value buildInlinePTX(OpBuilder &b, Location loc, Type resultType,
                            ValueRange operands, StringRef text,
                            StringRef constraints, bool hasSideEffects) {
  return LLVM::InlineAsmOp::create(
             b, loc, resultType, operands, b.getStringAttr(text),
             b.getStringAttr(constraints),
             hasSideEffects ? b.getUnitAttr() : UnitAttr(),
             /*is_align_stack=*/UnitAttr(),
             LLVM::TailCallKindAttr::get(
                 b.getContext(), LLVM::tailcallkind::TailCallKind::None),
             LLVM::AsmDialectAttr::get(b.getContext(),
                                       LLVM::AsmDialect::AD_ATT),
             /*operand_attrs=*/ArrayAttr())
      .getResult(0);
}

/// lop3.b32's truth table for (a & b) | c (a = 0xF0, b = 0xCC, c = 0xAA).
inline constexpr unsigned kLop3AndOr = (0xF0 & 0xCC) | 0xAA;
/// lop3.b32's truth table for (a & c) | (b & ~c): a bitwise select by c.
inline constexpr unsigned kLop3Select = (0xF0 & 0xAA) | (0xCC & ~0xAA & 0xFF);

/// IR building helpers for one gpu.func; the builder's insertion point moves
/// through the loops and conditionals it opens.
class KernelBuilder {
public:
  KernelBuilder(OpBuilder &b, Location loc, gpu::GPUFuncOp func)
      : b(b), loc(loc), func(func) {}

  OpBuilder &b;
  Location loc;
  gpu::GPUFuncOp func;

  Value index(int64_t value) { return buildIndexConstant(b, loc, value); }
  Value f32(float value) {
    return arith::ConstantFloatOp::create(b, loc, b.getF32Type(),
                                          APFloat(value));
  }
  Value threadId() {
    return gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  }
  Value blockId(gpu::Dimension dim) {
    return gpu::BlockIdOp::create(b, loc, dim);
  }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return arith::SubIOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, loc, x, y); }
  Value divU(Value x, Value y) { return arith::DivUIOp::create(b, loc, x, y); }
  Value remU(Value x, Value y) { return arith::RemUIOp::create(b, loc, x, y); }
  Value minU(Value x, Value y) { return arith::MinUIOp::create(b, loc, x, y); }
  Value cmp(arith::CmpIPredicate predicate, Value x, Value y) {
    return arith::CmpIOp::create(b, loc, predicate, x, y);
  }
  Value addF(Value x, Value y) { return arith::AddFOp::create(b, loc, x, y); }
  Value mulF(Value x, Value y) { return arith::MulFOp::create(b, loc, x, y); }

  /// Loads an element and widens it to f32.
  Value loadF32(Value memref, ValueRange indices) {
    return buildExtendToF32(b, loc,
                            memref::LoadOp::create(b, loc, memref, indices));
  }
  /// Rounds an f32 value to the memref's element type and stores it.
  void storeF32(Value value, Value memref, ValueRange indices) {
    auto type =
        cast<FloatType>(cast<MemRefType>(memref.getType()).getElementType());
    memref::StoreOp::create(b, loc, buildTruncateFromF32(b, loc, value, type),
                            memref, indices);
  }

  /// `count` consecutive elements from `indices` (whose last index is a
  /// multiple of `count`, in a buffer aligned to count elements), in one
  /// vector load, each widened to f32; a scalar load for count 1.
  SmallVector<Value> loadF32s(Value memref, ValueRange indices, int64_t count) {
    if (count == 1)
      return {loadF32(memref, indices)};
    Type element = cast<MemRefType>(memref.getType()).getElementType();
    int64_t bytes = count * element.getIntOrFloatBitWidth() / 8;
    Value vector = vector::LoadOp::create(
        b, loc, VectorType::get({count}, element), memref, indices,
        /*nontemporal=*/false, llvm::Align(std::min<int64_t>(bytes, 16)));
    SmallVector<Value> values;
    for (int64_t j = 0; j < count; ++j)
      values.push_back(buildExtendToF32(
          b, loc, vector::ExtractOp::create(b, loc, vector, j)));
    return values;
  }
  /// Rounds f32 values to the memref's element type and stores them from
  /// `indices` as one vector (aligned as for loadF32s).
  void storeF32s(ValueRange values, Value memref, ValueRange indices) {
    if (values.size() == 1)
      return storeF32(values.front(), memref, indices);
    auto type =
        cast<FloatType>(cast<MemRefType>(memref.getType()).getElementType());
    SmallVector<Value> rounded;
    for (Value value : values)
      rounded.push_back(buildTruncateFromF32(b, loc, value, type));
    int64_t count = values.size();
    int64_t bytes = count * type.getWidth() / 8;
    vector::StoreOp::create(
        b, loc,
        vector::FromElementsOp::create(b, loc, VectorType::get({count}, type),
                                       rounded),
        memref, indices, /*nontemporal=*/false,
        llvm::Align(std::min<int64_t>(bytes, 16)));
  }
  /// The element type of a memref value.
  static Type getElementType(Value memref) {
    return cast<MemRefType>(memref.getType()).getElementType();
  }
  /// The bytes of a statically shaped memref type.
  static int64_t getByteSize(MemRefType type) {
    return type.getNumElements() * type.getElementTypeBitWidth() / 8;
  }
  /// The static shared memory of a kernel: its workgroup attributions.
  static int64_t getWorkgroupBytes(gpu::GPUFuncOp func) {
    int64_t bytes = 0;
    for (BlockArgument attribution : func.getWorkgroupAttributions())
      bytes += getByteSize(cast<MemRefType>(attribution.getType()));
    return bytes;
  }
  /// Elements per 16-byte access of the widest of `memrefs`' element types,
  /// halved until it divides `dim` (1: no vector access fits).
  static int64_t getVectorWidth(ValueRange memrefs, int64_t dim) {
    int64_t bits = 8;
    for (Value memref : memrefs)
      bits = std::max<int64_t>(
          bits, cast<MemRefType>(memref.getType()).getElementTypeBitWidth());
    int64_t width = 128 / bits;
    while (width > 1 && dim % width != 0)
      width /= 2;
    return width;
  }

  /// for (iv = lb; iv < ub; iv += step) body(iv), with loop-carried values.
  SmallVector<Value>
  loop(Value lb, Value ub, Value step, ValueRange inits,
       function_ref<SmallVector<Value>(Value, ValueRange)> body) {
    auto forOp = scf::ForOp::create(b, loc, lb, ub, step, inits);
    OpBuilder::InsertionGuard guard(b);
    Block *block = forOp.getBody();
    if (block->mightHaveTerminator())
      b.setInsertionPoint(block->getTerminator());
    else
      b.setInsertionPointToEnd(block);
    SmallVector<Value> yielded =
        body(forOp.getInductionVar(), forOp.getRegionIterArgs());
    if (!inits.empty())
      scf::YieldOp::create(b, loc, yielded);
    return SmallVector<Value>(forOp.getResults());
  }
  void loop(Value lb, Value ub, Value step, function_ref<void(Value)> body) {
    loop(lb, ub, step, {}, [&](Value iv, ValueRange) {
      body(iv);
      return SmallVector<Value>{};
    });
  }
  /// The block-stride loop `for (i = tid; i < ub; i += blockSize)`.
  void blockLoop(Value ub, int64_t blockSize, function_ref<void(Value)> body) {
    loop(threadId(), ub, index(blockSize), body);
  }
  Value blockLoop(Value ub, int64_t blockSize, Value init,
                  function_ref<Value(Value, Value)> body) {
    return loop(threadId(), ub, index(blockSize), init,
                [&](Value iv, ValueRange acc) {
                  return SmallVector<Value>{body(iv, acc.front())};
                })
        .front();
  }

  void ifThen(Value condition, function_ref<void()> body) {
    auto ifOp = scf::IfOp::create(b, loc, condition, /*withElse=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
    body();
  }
  Value ifThenElse(Value condition, Type type, function_ref<Value()> thenBody,
                   function_ref<Value()> elseBody) {
    auto ifOp = scf::IfOp::create(b, loc, TypeRange{type}, condition,
                                  /*withElse=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    scf::YieldOp::create(b, loc, thenBody());
    b.setInsertionPointToStart(ifOp.elseBlock());
    scf::YieldOp::create(b, loc, elseBody());
    return ifOp.getResult(0);
  }

  Value combine(Reduction kind, Value x, Value y) {
    switch (kind) {
    case Reduction::Sum:
      return addF(x, y);
    case Reduction::Max:
      return arith::MaximumFOp::create(b, loc, x, y);
    case Reduction::MinNum:
      return arith::MinNumFOp::create(b, loc, x, y);
    case Reduction::MaxNum:
      return arith::MaxNumFOp::create(b, loc, x, y);
    }
    llvm_unreachable("unknown reduction");
  }
  float identity(Reduction kind) {
    if (kind == Reduction::Max)
      return -std::numeric_limits<float>::infinity();
    // Sum; and min/max of quantize_act's ranges, which start at 0.
    return 0.0f;
  }

  /// Butterfly reduction over the 32 lanes of a warp (gpu.shuffle xor):
  /// every lane ends with the result.
  Value warpReduce(Reduction kind, Value value) {
    for (int32_t offset = kWarpSize / 2; offset > 0; offset /= 2) {
      Value other = gpu::ShuffleOp::create(b, loc, value, offset, kWarpSize,
                                           gpu::ShuffleMode::XOR)
                        .getShuffleResult();
      value = combine(kind, value, other);
    }
    return value;
  }

  /// A shared f32 scratch array of the gpu.func.
  Value sharedArray(int64_t size) {
    auto space = gpu::AddressSpaceAttr::get(b.getContext(),
                                            gpu::AddressSpace::Workgroup);
    auto type = MemRefType::get({size}, b.getF32Type(),
                                MemRefLayoutAttrInterface{}, space);
    return func.addWorkgroupAttribution(type, loc);
  }

  /// Reduces one value per thread over the block: each warp reduces its
  /// lanes, lane 0 of each warp publishes to `scratch`, then every warp
  /// reduces the published values, so all threads get the result without a
  /// broadcast step. Ends with a barrier so that `scratch` can be reused.
  Value blockReduce(Reduction kind, Value value, Value scratch,
                    int64_t blockSize) {
    Value partial = warpReduce(kind, value);
    Value tid = threadId();
    Value warp = divU(tid, index(kWarpSize));
    Value lane = remU(tid, index(kWarpSize));
    ifThen(cmp(arith::CmpIPredicate::eq, lane, index(0)), [&] {
      memref::StoreOp::create(b, loc, partial, scratch, ValueRange{warp});
    });
    gpu::BarrierOp::create(b, loc);
    Value isPublished =
        cmp(arith::CmpIPredicate::ult, lane, index(blockSize / kWarpSize));
    Value safeLane = minU(lane, index(blockSize / kWarpSize - 1));
    Value published =
        memref::LoadOp::create(b, loc, scratch, ValueRange{safeLane});
    Value mine = arith::SelectOp::create(b, loc, isPublished, published,
                                         f32(identity(kind)));
    Value result = warpReduce(kind, mine);
    gpu::BarrierOp::create(b, loc);
    return result;
  }
};

} // namespace mlir::mixq::cuda

#endif // MIXQ_CODEGEN_CUDA_KERNELBUILDER_H
