//===- TileEvaluation.h - a scheme's dequantization IR, evaluated -*- C++
//-*-===//
//
// Evaluates the IR a scheme emits through QuantSchemeAttrInterface
// (buildDequantTile or buildDequantVector) over constant components, by
// constant folding: loops with constant bounds are unrolled and folded away,
// so every weight becomes a constant that tests compare with the host
// dequantizer.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_TEST_UNIT_TILEEVALUATION_H
#define MIXQ_TEST_UNIT_TILEEVALUATION_H

#include "dialect/MixQ/MixQInterfaces.h"

#include "mlir/IR/MLIRContext.h"

#include <vector>

namespace mixq::test {

/// Which interface method emits the tiles: buildDequantTile,
/// buildDequantVector, buildDequantVectorInAnyOrder or
/// buildUnscaledDequantVectorInAnyOrder (their elements put back in their
/// columns by the order they report, which must be a permutation),
/// buildBiasedDequantVectorInAnyOrder (the same, each element less its
/// bias and the tile's zero, in f32), or buildScaleFactor (the tile's
/// factor at each of its columns; the result type must be f32).
enum class TileForm {
  Scalars,
  Vector,
  AnyOrder,
  Unscaled,
  Biased,
  ScaleFactor
};

/// How the tiles read the indirect components (ComponentSpec::
/// indirectColumns): as the scheme asks, or as the CUDA GEMV serves them
/// once it has staged them, from the row buildIndirectRow names for the
/// tile whatever row the scheme's load asks for.
enum class IndirectReads { AsAsked, Staged };

/// Whether the reader offers the scheme its row tables
/// (QuantSchemeAttrInterface::getRowTables), as the CUDA GEMV does: each
/// entry a lookup asks for is the scheme's buildRowTableEntry of it.
enum class RowTables { None, Built };

/// The N * K weights of `packed`, row-major, as the IR of every tile of
/// `tileCols` columns computes them in `resultType`. A value that does not
/// fold to a constant is a test failure (and NaN).
std::vector<double>
evaluateTiles(mlir::MLIRContext &context,
              mlir::mixq::QuantSchemeAttrInterface scheme,
              llvm::ArrayRef<int64_t> shape,
              const mlir::mixq::PackedWeights &packed, int64_t tileCols,
              mlir::FloatType resultType, TileForm form = TileForm::Scalars,
              IndirectReads indirect = IndirectReads::AsAsked,
              RowTables tables = RowTables::None);

/// Per row of `packed`, what the scheme's buildSparseDot computes over the
/// row's terms first, first + step, ..., with the input at column c
/// 2^(c - 64) (K <= 190: exact powers of two, so each term is its value
/// scaled exactly). Empty when the scheme has no sparse terms.
std::vector<double> evaluateSparseDots(
    mlir::MLIRContext &context, mlir::mixq::QuantSchemeAttrInterface scheme,
    llvm::ArrayRef<int64_t> shape, const mlir::mixq::PackedWeights &packed,
    int64_t first, int64_t step);

} // namespace mixq::test

#endif // MIXQ_TEST_UNIT_TILEEVALUATION_H
