//===- MixQTypes.h - the qtensor type ---------------------------*- C++ -*-===//
#ifndef MIXQ_DIALECT_MIXQ_MIXQTYPES_H
#define MIXQ_DIALECT_MIXQ_MIXQTYPES_H

#include "dialect/MixQ/MixQDialect.h"
#include "dialect/MixQ/MixQInterfaces.h"
#include "mlir/IR/BuiltinTypes.h"

#define GET_TYPEDEF_CLASSES
#include "dialect/MixQ/MixQTypes.h.inc"

#endif // MIXQ_DIALECT_MIXQ_MIXQTYPES_H
