//===- QuantizeActLowering.h - mixq.quantize_act -> linalg ------*- C++ -*-===//
#ifndef MIXQ_PASSES_QUANTIZEACTLOWERING_H
#define MIXQ_PASSES_QUANTIZEACTLOWERING_H

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::mixq {

/// Adds the pattern lowering `mixq.quantize_act` to linalg on tensors (a
/// per-row min/max reduction, then one elementwise generic), for the 1:N
/// qtensor -> components conversion of --mixq-lower-to-linalg.
void populateQuantizeActLoweringPatterns(const TypeConverter &converter,
                                         RewritePatternSet &patterns);

} // namespace mlir::mixq

#endif // MIXQ_PASSES_QUANTIZEACTLOWERING_H
