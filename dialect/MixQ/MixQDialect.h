//===- MixQDialect.h - the mixq dialect -------------------------*- C++ -*-===//
#ifndef MIXQ_DIALECT_MIXQ_MIXQDIALECT_H
#define MIXQ_DIALECT_MIXQ_MIXQDIALECT_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Dialect.h"

#include "dialect/MixQ/MixQDialect.h.inc"

#endif // MIXQ_DIALECT_MIXQ_MIXQDIALECT_H
