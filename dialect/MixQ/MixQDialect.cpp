//===- MixQDialect.cpp - the mixq dialect ---------------------------------===//
#include "dialect/MixQ/MixQDialect.h"
#include "dialect/MixQ/MixQOps.h"

using namespace mlir;
using namespace mlir::mixq;

#include "dialect/MixQ/MixQDialect.cpp.inc"

void MixQDialect::initialize() {
  registerAttributes();
  registerTypes();
  addOperations<
#define GET_OP_LIST
#include "dialect/MixQ/MixQOps.cpp.inc"
      >();
}
