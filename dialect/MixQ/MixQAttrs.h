//===- MixQAttrs.h - quantization scheme attributes -------------*- C++ -*-===//
#ifndef MIXQ_DIALECT_MIXQ_MIXQATTRS_H
#define MIXQ_DIALECT_MIXQ_MIXQATTRS_H

#include "dialect/MixQ/MixQDialect.h"
#include "dialect/MixQ/MixQInterfaces.h"
#include "mlir/IR/BuiltinAttributes.h"

#define GET_ATTRDEF_CLASSES
#include "dialect/MixQ/MixQAttrs.h.inc"

#endif // MIXQ_DIALECT_MIXQ_MIXQATTRS_H
