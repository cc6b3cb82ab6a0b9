//===- ComponentReader.cpp - loads from scheme components -----------------===//
#include "dialect/MixQ/MixQInterfaces.h"
#include "dialect/MixQ/SchemeUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::mixq;

Value ComponentReader::load(OpBuilder &builder, Location loc, unsigned index,
                            ValueRange indices) const {
  Value component = components[index];
  if (isa<MemRefType>(component.getType()))
    return memref::LoadOp::create(builder, loc, component, indices);
  return tensor::ExtractOp::create(builder, loc, component, indices);
}

Value ComponentReader::loadVector(OpBuilder &builder, Location loc,
                                  unsigned index, ValueRange indices,
                                  int64_t count) const {
  Value component = components[index];
  if (auto memref = dyn_cast<MemRefType>(component.getType())) {
    // The last index is a multiple of count: with whole rows of count
    // elements and the buffer aligned (package blobs and plan buffers are
    // 256-byte aligned), the vector is aligned to its size, so the backend
    // may load it at once (one 8- or 16-byte load, not one per element).
    auto type = VectorType::get({count}, memref.getElementType());
    int64_t bytes = memref.getElementTypeBitWidth() / 8 * count;
    if (memref.hasStaticShape() && memref.getLayout().isIdentity() &&
        memref.getRank() > 0 && memref.getShape().back() % count == 0 &&
        llvm::isPowerOf2_64(bytes))
      return vector::LoadOp::create(builder, loc, type, component, indices,
                                    /*nontemporal=*/false,
                                    llvm::Align(std::min<int64_t>(bytes, 16)));
    return vector::LoadOp::create(builder, loc, type, component, indices);
  }
  // A tensor inside a linalg body: element extracts, which bufferize to
  // loads that LLVM combines.
  SmallVector<Value> position(indices.begin(), indices.end());
  SmallVector<Value> elements;
  for (int64_t i = 0; i < count; ++i) {
    if (i > 0)
      position.back() = arith::AddIOp::create(
          builder, loc, indices.back(),
          arith::ConstantIndexOp::create(builder, loc, i));
    elements.push_back(load(builder, loc, index, position));
  }
  return buildVectorFromScalars(builder, loc, elements);
}

Value ComponentReader::gather(OpBuilder &builder, Location loc, unsigned index,
                              ValueRange leading, Value lastIndices) const {
  return buildGather(builder, loc, components[index], leading, lastIndices);
}

Value ComponentReader::gatherAs(OpBuilder &builder, Location loc,
                                unsigned index, ValueRange leading,
                                Value lastIndices, FloatType type) const {
  Value entries = gather(builder, loc, index, leading, lastIndices);
  return buildTruncateFromF32(builder, loc,
                              buildExtendToF32(builder, loc, entries), type);
}

Value mlir::mixq::buildGather(OpBuilder &builder, Location loc, Value source,
                              ValueRange leading, Value lastIndices) {
  auto shaped = cast<ShapedType>(source.getType());
  auto indexType = cast<VectorType>(lastIndices.getType());
  auto resultType =
      VectorType::get(indexType.getShape(), shaped.getElementType());
  SmallVector<Value> offsets(leading.begin(), leading.end());
  offsets.push_back(arith::ConstantIndexOp::create(builder, loc, 0));
  Value mask = arith::ConstantOp::create(
      builder, loc,
      DenseElementsAttr::get(
          VectorType::get(indexType.getShape(), builder.getI1Type()), true));
  Value passThrough = arith::ConstantOp::create(
      builder, loc, resultType, builder.getZeroAttr(resultType));
  return vector::GatherOp::create(builder, loc, resultType, source, offsets,
                                  lastIndices, mask, passThrough);
}

Value mlir::mixq::buildVectorFromScalars(OpBuilder &builder, Location loc,
                                         ArrayRef<Value> values) {
  auto type = VectorType::get({static_cast<int64_t>(values.size())},
                              values.front().getType());
  return vector::FromElementsOp::create(builder, loc, type, values);
}
