//===- SparseScheme.h - #mixq.sparse parameter helpers ----------*- C++ -*-===//
//
// What the generated #mixq.sparse attribute class needs before it is
// declared: the outlier selection rule it stores and the parser/printer of
// that parameter. (The host quantizer's own enum lives in the ::mixq::quant
// core, which this header keeps out of every file that includes the
// attributes.)
//===----------------------------------------------------------------------===//
#ifndef MIXQ_DIALECT_MIXQ_SPARSESCHEME_H
#define MIXQ_DIALECT_MIXQ_SPARSESCHEME_H

#include "mlir/IR/OpImplementation.h"

#include <optional>

namespace mlir::mixq {

/// How #mixq.sparse picks its outliers (see quant/SparseOutliers.h).
enum class OutlierSelection { Magnitude, Sensitivity, IQR };

/// `magnitude`, `sensitivity` or `iqr`.
llvm::StringRef stringifyOutlierSelection(OutlierSelection rule);
std::optional<OutlierSelection> symbolizeOutlierSelection(llvm::StringRef name);

/// Parameter parser/printer of #mixq.sparse's `select` (a bare keyword).
FailureOr<OutlierSelection> parseOutlierSelection(AsmParser &parser);
void printOutlierSelection(AsmPrinter &printer, OutlierSelection rule);

} // namespace mlir::mixq

#endif // MIXQ_DIALECT_MIXQ_SPARSESCHEME_H
