//===- LLMDialect.td - the llm model-graph dialect ---------*- tablegen -*-===//
#ifndef MIXQ_DIALECT_LLM_LLMDIALECT_TD
#define MIXQ_DIALECT_LLM_LLMDIALECT_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def LLM_Dialect : Dialect {
  let name = "llm";
  let cppNamespace = "::mlir::llm";
  let summary = "Coarse-grained Llama-family model graph on tensors";
  let description = [{
    The `llm` dialect is level L0 of the mixq pipeline: the model graph as a
    small set of coarse ops with exact semantics. Weights are symbol
    references into the WeightStore (`llm.weight @blk0.wq`); model-sized data
    is never written into IR as text.
  }];
  let useDefaultAttributePrinterParser = 1;
}

class LLM_Op<string mnemonic, list<Trait> traits = []>
    : Op<LLM_Dialect, mnemonic, traits>;

#endif // MIXQ_DIALECT_LLM_LLMDIALECT_TD
