//===- MixQAttrs.h - quantization scheme attributes -------------*- C++ -*-===//
#ifndef MIXQ_DIALECT_MIXQ_MIXQATTRS_H
#define MIXQ_DIALECT_MIXQ_MIXQATTRS_H

#include "dialect/MixQ/MixQDialect.h"
#include "dialect/MixQ/MixQInterfaces.h"
#include "dialect/MixQ/SparseScheme.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/OpImplementation.h"

namespace mlir::mixq {
/// Parameter parser/printer of the double parameters of scheme attributes:
/// accepts float and integer literals; prints the shortest decimal that
/// parses back to the same double, always with a '.' (`0.1`, `3.0`).
FailureOr<llvm::APFloat> parseDoubleParameter(AsmParser &parser);
void printDoubleParameter(AsmPrinter &printer, const llvm::APFloat &value);
} // namespace mlir::mixq

#define GET_ATTRDEF_CLASSES
#include "dialect/MixQ/MixQAttrs.h.inc"

#endif // MIXQ_DIALECT_MIXQ_MIXQATTRS_H
