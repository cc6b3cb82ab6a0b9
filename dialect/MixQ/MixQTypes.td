//===- MixQTypes.td - the qtensor type ---------------------*- tablegen -*-===//
#ifndef MIXQ_DIALECT_MIXQ_MIXQTYPES_TD
#define MIXQ_DIALECT_MIXQ_MIXQTYPES_TD

include "dialect/MixQ/MixQDialect.td"
include "dialect/MixQ/MixQInterfaces.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/BuiltinTypeInterfaces.td"

def MixQ_QTensorType : TypeDef<MixQ_Dialect, "QTensor"> {
  let mnemonic = "qtensor";
  let summary = "a quantized N x K weight matrix with opaque packed storage";
  let description = [{
    A logical N x K floating-point matrix (N outputs, K inputs) stored in the
    component buffers of `scheme`, an attribute implementing
    `QuantSchemeAttrInterface`. Both dimensions are static and positive, and
    the scheme must accept the shape (e.g. its group size divides K).

    ```mlir
    !mixq.qtensor<4096x4096, #mixq.affine<bits = 4, group = 128>>
    ```
  }];
  let parameters = (ins
    ArrayRefParameter<"int64_t">:$shape,
    "::mlir::mixq::QuantSchemeAttrInterface":$scheme);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    int64_t getRows() const { return getShape()[0]; }
    int64_t getCols() const { return getShape()[1]; }
    /// The scheme's component buffers for this shape, in storage order.
    ::llvm::SmallVector<::mlir::mixq::ComponentSpec> getComponents() const {
      return getScheme().getComponents(getShape());
    }
    /// Tensor types of the components, in storage order.
    ::llvm::SmallVector<::mlir::Type> getComponentTensorTypes() const;
    double getBitsPerWeight() const {
      return getScheme().getBitsPerWeight(getShape());
    }
  }];
}

#endif // MIXQ_DIALECT_MIXQ_MIXQTYPES_TD
