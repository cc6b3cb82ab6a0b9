//===- LinalgBuilders.cpp - linalg-on-tensors building blocks -------------===//
#include "passes/LinalgBuilders.h"

#include "dialect/MixQ/SchemeUtils.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;

Value mlir::mixq::buildZeroRows(OpBuilder &b, Location loc, Value x,
                                int64_t cols) {
  SmallVector<OpFoldResult> sizes = {tensor::getMixedSize(b, loc, x, 0),
                                     b.getIndexAttr(cols)};
  Value empty = tensor::EmptyOp::create(b, loc, sizes, b.getF32Type());
  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
  return linalg::FillOp::create(b, loc, ValueRange{zero}, ValueRange{empty})
      .getResult(0);
}

Value mlir::mixq::buildMatmulTransposedB(OpBuilder &b, Location loc, Value x,
                                         Value w,
                                         arith::FastMathFlags reductionFlags) {
  auto wType = cast<RankedTensorType>(w.getType());
  Value acc = buildZeroRows(b, loc, x, wType.getDimSize(0));

  MLIRContext *ctx = b.getContext();
  AffineExpr m, n, k;
  bindDims(ctx, m, n, k);
  SmallVector<AffineMap> maps = {AffineMap::get(3, 0, {m, k}, ctx),
                                 AffineMap::get(3, 0, {n, k}, ctx),
                                 AffineMap::get(3, 0, {m, n}, ctx)};
  SmallVector<utils::IteratorType> iterators = {utils::IteratorType::parallel,
                                                utils::IteratorType::parallel,
                                                utils::IteratorType::reduction};
  auto contraction = linalg::GenericOp::create(
      b, loc, TypeRange{acc.getType()}, ValueRange{x, w}, ValueRange{acc}, maps,
      iterators, [&](OpBuilder &nb, Location nloc, ValueRange args) {
        Value lhs = buildExtendToF32(nb, nloc, args[0]);
        Value rhs = buildExtendToF32(nb, nloc, args[1]);
        Value product =
            arith::MulFOp::create(nb, nloc, lhs, rhs, reductionFlags);
        linalg::YieldOp::create(
            nb, nloc,
            arith::AddFOp::create(nb, nloc, args[2], product, reductionFlags)
                .getResult());
      });
  return contraction.getResult(0);
}

Value mlir::mixq::buildTruncate(OpBuilder &b, Location loc, Value input,
                                FloatType elementType) {
  auto type = cast<RankedTensorType>(input.getType());
  if (type.getElementType() == elementType)
    return input;
  SmallVector<Value> dynamicDims;
  for (auto [i, dim] : llvm::enumerate(type.getShape()))
    if (ShapedType::isDynamic(dim))
      dynamicDims.push_back(tensor::DimOp::create(b, loc, input, i));
  Value empty = tensor::EmptyOp::create(b, loc, type.getShape(), elementType,
                                        dynamicDims);
  auto identity = b.getMultiDimIdentityMap(type.getRank());
  SmallVector<utils::IteratorType> iterators(type.getRank(),
                                             utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{empty.getType()}, ValueRange{input}, ValueRange{empty},
      SmallVector<AffineMap>{identity, identity}, iterators,
      [&](OpBuilder &nb, Location nloc, ValueRange args) {
        linalg::YieldOp::create(
            nb, nloc, buildTruncateFromF32(nb, nloc, args[0], elementType));
      });
  return generic.getResult(0);
}
