//===- LLMOps.h - llm dialect operations ------------------------*- C++ -*-===//
#ifndef MIXQ_DIALECT_LLM_LLMOPS_H
#define MIXQ_DIALECT_LLM_LLMOPS_H

#include "dialect/LLM/LLMDialect.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "dialect/LLM/LLMEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialect/LLM/LLMAttrs.h.inc"

#define GET_OP_CLASSES
#include "dialect/LLM/LLMOps.h.inc"

#endif // MIXQ_DIALECT_LLM_LLMOPS_H
