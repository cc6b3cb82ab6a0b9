//===- Passes.td - mixq passes -----------------------------*- tablegen -*-===//
#ifndef MIXQ_PASSES_PASSES_TD
#define MIXQ_PASSES_PASSES_TD

include "mlir/Pass/PassBase.td"

def MixQLowerToLinalg : Pass<"mixq-lower-to-linalg", "ModuleOp"> {
  let summary = "Reference lowering of mixq ops to linalg, tensor and arith";
  let description = [{
    Lowers `mixq.dequantize` and `mixq.matmul` to upstream `linalg.generic`
    ops on tensors. It is the executable definition of what those ops mean,
    used to check every other backend.

    The lowering is generic: a qtensor value becomes its component tensors
    (a 1:N type conversion, applied to function signatures, calls and
    returns too), and each weight is dequantized by the IR its scheme emits
    through `QuantSchemeAttrInterface::buildDequantTile`. There is no switch
    on scheme kinds, so any attribute implementing the interface lowers.

    * `mixq.assemble` folds away into its component tensors.
    * `mixq.quantize` of a constant is first folded by the scheme's host
      quantizer; a non-constant `mixq.quantize` is an error.
    * `mixq.dequantize` becomes one elementwise `linalg.generic`.
    * `mixq.matmul` becomes that dequantization followed by a contraction
      `y[m, n] = sum_k x[m, k] * W[n, k]` accumulated in f32.
    * `mixq.weight` is an error: its components live in the WeightStore,
      which this reference lowering does not read.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::func::FuncDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

#endif // MIXQ_PASSES_PASSES_TD
