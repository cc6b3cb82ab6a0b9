//===- ComponentReader.cpp - loads from scheme components -----------------===//
#include "dialect/MixQ/MixQInterfaces.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::mixq;

Value ComponentReader::load(OpBuilder &builder, Location loc, unsigned index,
                            ValueRange indices) const {
  Value component = components[index];
  if (isa<MemRefType>(component.getType()))
    return memref::LoadOp::create(builder, loc, component, indices);
  return tensor::ExtractOp::create(builder, loc, component, indices);
}
