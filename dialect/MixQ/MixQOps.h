//===- MixQOps.h - mixq dialect operations ----------------------*- C++ -*-===//
#ifndef MIXQ_DIALECT_MIXQ_MIXQOPS_H
#define MIXQ_DIALECT_MIXQ_MIXQOPS_H

#include "dialect/MixQ/MixQAttrs.h"
#include "dialect/MixQ/MixQDialect.h"
#include "dialect/MixQ/MixQTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define GET_OP_CLASSES
#include "dialect/MixQ/MixQOps.h.inc"

namespace mlir {
class RewriterBase;
namespace mixq {
/// Attribute on a mixq.weight or mixq.quantize whose qtensor scheme is a
/// fallback (QuantSchemeAttrInterface::getShapeFallback): the scheme that
/// was asked for and cannot describe the weight's shape.
inline constexpr const char *kRequestedSchemeAttrName = "mixq.requested_scheme";

/// Replaces `quantize(constant)` by `assemble(constant components)`, running
/// the scheme's host quantizer. On failure nothing changes and, if given,
/// `whyNot` says why (input not constant, or the quantizer's error).
LogicalResult foldConstantQuantize(QuantizeOp op, RewriterBase &rewriter,
                                   std::string *whyNot);
} // namespace mixq
} // namespace mlir

#endif // MIXQ_DIALECT_MIXQ_MIXQOPS_H
