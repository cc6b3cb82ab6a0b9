//===- MixQDialect.h - the mixq dialect -------------------------*- C++ -*-===//
#ifndef MIXQ_DIALECT_MIXQ_MIXQDIALECT_H
#define MIXQ_DIALECT_MIXQ_MIXQDIALECT_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Dialect.h"

#include "dialect/MixQ/MixQDialect.h.inc"

#endif // MIXQ_DIALECT_MIXQ_MIXQDIALECT_H
