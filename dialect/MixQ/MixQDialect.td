//===- MixQDialect.td - the mixq quantized-tensor dialect --*- tablegen -*-===//
#ifndef MIXQ_DIALECT_MIXQ_MIXQDIALECT_TD
#define MIXQ_DIALECT_MIXQ_MIXQDIALECT_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"

def MixQ_Dialect : Dialect {
  let name = "mixq";
  let cppNamespace = "::mlir::mixq";
  let summary = "Quantized weight tensors and the ops on them";
  let description = [{
    The `mixq` dialect represents low-bit, mixed-precision quantized weights.

    A `!mixq.qtensor<NxK, #scheme>` is a logical N x K floating-point matrix
    (N output rows, K inputs) whose storage is opaque: a list of named
    component buffers (packed codes, scales, zeros, LUTs, bit maps, outlier
    CSR arrays, ...). The scheme attribute describes those components and how
    to turn them back into values, through `QuantSchemeAttrInterface`.

    Every scheme is an attribute implementing that interface; the generic
    lowerings (the reference lowering to linalg here, the CPU and CUDA
    codegen) only talk to the interface. Adding a scheme therefore means
    adding one attribute and its host quantizer; the attribute's
    `getSpecSyntax` makes it reachable from `--mixq-quantize` and
    `mixq-compile --scheme` once its dialect registers it
    (`dialect/MixQ/SchemeRegistry.h`, docs/schemes.md).
  }];
  let useDefaultAttributePrinterParser = 1;
  let useDefaultTypePrinterParser = 1;
  let extraClassDeclaration = [{
    void registerAttributes();
    void registerTypes();
  }];
  // Schemes emit scf loops and math.ctpop in their dequantization IR.
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::vector::VectorDialect"];
}

class MixQ_Op<string mnemonic, list<Trait> traits = []>
    : Op<MixQ_Dialect, mnemonic, traits>;

#endif // MIXQ_DIALECT_MIXQ_MIXQDIALECT_TD
