//===- LLMDialect.cpp - the llm dialect -----------------------------------===//
#include "dialect/LLM/LLMDialect.h"
#include "dialect/LLM/LLMOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::llm;

#include "dialect/LLM/LLMDialect.cpp.inc"
#include "dialect/LLM/LLMEnums.cpp.inc"
#define GET_ATTRDEF_CLASSES
#include "dialect/LLM/LLMAttrs.cpp.inc"

void LLMDialect::initialize() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialect/LLM/LLMAttrs.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "dialect/LLM/LLMOps.cpp.inc"
      >();
}
