//===- LLMDialect.h - the llm dialect ---------------------------*- C++ -*-===//
#ifndef MIXQ_DIALECT_LLM_LLMDIALECT_H
#define MIXQ_DIALECT_LLM_LLMDIALECT_H

#include "mlir/IR/Dialect.h"

#include "dialect/LLM/LLMDialect.h.inc"

#endif // MIXQ_DIALECT_LLM_LLMDIALECT_H
