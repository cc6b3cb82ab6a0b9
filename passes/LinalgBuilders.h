//===- LinalgBuilders.h - linalg-on-tensors building blocks -----*- C++ -*-===//
//
// IR builders shared by the reference lowerings of the mixq and llm
// dialects (LowerToLinalg.cpp, LowerLLMToLinalg.cpp): a zero accumulator,
// an f32 contraction with a transposed right-hand side and elementwise
// rounding of a tensor.
// Scalar widening/rounding lives in dialect/MixQ/SchemeUtils.h
// (buildExtendToF32, buildTruncateFromF32).
//===----------------------------------------------------------------------===//
#ifndef MIXQ_PASSES_LINALGBUILDERS_H
#define MIXQ_PASSES_LINALGBUILDERS_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

namespace mlir::mixq {

/// An f32 tensor of `x`'s rows (dimension 0, which may be dynamic) by
/// `cols`, filled with zeros: the init of a reduction over x's rows.
Value buildZeroRows(OpBuilder &b, Location loc, Value x, int64_t cols);

/// y[m, n] = sum_k x[m, k] * w[n, k], accumulated in f32: an M x N f32
/// tensor (M may be dynamic). `x` and `w` may be f16, bf16 or f32; each
/// element is widened to f32 before the product. `reductionFlags` go on the
/// multiply and the add of the reduction (e.g. reassoc | contract to let a
/// backend vectorize it); the default relaxes nothing.
Value buildMatmulTransposedB(
    OpBuilder &b, Location loc, Value x, Value w,
    arith::FastMathFlags reductionFlags = arith::FastMathFlags::none);

/// Rounds an f32 tensor elementwise to `elementType` with round-to-nearest-
/// even (`arith.truncf`); returns `input` itself when it already has that
/// element type.
Value buildTruncate(OpBuilder &b, Location loc, Value input,
                    FloatType elementType);

} // namespace mlir::mixq

#endif // MIXQ_PASSES_LINALGBUILDERS_H
