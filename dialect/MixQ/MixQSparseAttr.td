//===- MixQSparseAttr.td - the #mixq.sparse scheme ---------*- tablegen -*-===//
//
// Included from MixQAttrs.td (after MixQ_Attr and MixQ_DoubleParameter).
//===----------------------------------------------------------------------===//
#ifndef MIXQ_DIALECT_MIXQ_MIXQSPARSEATTR_TD
#define MIXQ_DIALECT_MIXQ_MIXQSPARSEATTR_TD

// A required real parameter, stored and printed like MixQ_DoubleParameter.
class MixQ_RequiredDoubleParameter<string desc = "">
    : AttrParameter<"::llvm::APFloat", desc> {
  let parser = "::mlir::mixq::parseDoubleParameter($_parser)";
  let printer = "::mlir::mixq::printDoubleParameter($_printer, $_self)";
  let comparator = "$_lhs.bitwiseIsEqual($_rhs)";
}

// `magnitude`, `iqr` or `sensitivity` (default `magnitude`).
def MixQ_OutlierSelectionParameter
    : DefaultValuedParameter<"::mlir::mixq::OutlierSelection",
                             "::mlir::mixq::OutlierSelection::Magnitude",
                             "outlier selection rule: magnitude, iqr or "
                             "sensitivity"> {
  let parser = "::mlir::mixq::parseOutlierSelection($_parser)";
  let printer = "::mlir::mixq::printOutlierSelection($_printer, $_self)";
}

def MixQ_SparseSchemeAttr : MixQ_Attr<"SparseScheme", "sparse", [
    DeclareAttrInterfaceMethods<QuantSchemeAttrInterface,
                                ["buildDequantVector",
                                 "buildDequantVectorInAnyOrder", "buildSparseDot",
                                 "getScaleFactorColumns", "buildScaleFactor",
                                 "buildUnscaledDequantVectorInAnyOrder",
                                 "buildBiasedDequantVectorInAnyOrder",
                                 "getShapeFallback",
                                 "getNestedWidths", "withNestedDecodeWidth",
                                 "getReadBitsPerWeight", "getActivationBits",
                                 "buildIsPassthroughColumn",
                                 "getRowTables", "buildRowTableEntry",
                                 "buildQuantizeActivation"]>]> {
  let summary = "dense-and-sparse: any dense scheme plus fp16 CSR outliers";
  let description = [{
    SqueezeLLM's dense-and-sparse decomposition, composed with any dense
    scheme (the first parameter, any attribute implementing
    `QuantSchemeAttrInterface` other than `#mixq.sparse` itself). A share
    `frac` of the weights, the *outliers*, get an fp16 correction on top of
    the dense reconstruction dense':

    `w'[r][c] = dense'[r][c] + value`   for (r, c) in the CSR pattern,
    `value    = fp16(w[r][c] - dense'[r][c])`

    so dense + sparse reconstructs every outlier up to the fp16 rounding of
    its residual (and one f32 addition).

    The host quantizer (`quant/SparseOutliers.h`), for an N x K matrix with
    nnz = round(`frac` * N * K):

    1. selects the outliers over the whole matrix by `select`:
       `magnitude` (largest |w|, the default), `sensitivity`
       (|w| sqrt(E[x_c^2]) with calibration data, |w| without) or `iqr`
       (per row, the distance outside [Q1 - 3 IQR, Q3 + 3 IQR]; only weights
       outside the fence are candidates); ties go to the lower row-major
       index;
    2. clamps each outlier into the range of its row's other weights and
       quantizes that masked matrix with the dense scheme's own host
       quantizer (calibration data is passed on), then dequantizes it;
    3. when fewer than nnz weights were selected (`iqr`, NaN weights), fills
       the remaining slots with the other weights of largest |w - dense'|
       (ties to the lower row-major index), so that the stored pattern
       always has exactly nnz entries: the component shapes depend only on
       the shape and the parameters;
    4. stores the fp16 residuals w - dense' at the pattern.

    Components: the dense scheme's components with their names prefixed by
    `dense_` (so that names stay unique whatever the dense scheme stores,
    e.g. `#mixq.mixed`'s own outliers), followed by the CSR:

    | name              | type                         | shape |
    | ----------------- | ---------------------------- | ----- |
    | `dense_*`         | the dense scheme's           |       |
    | `outlier_row_ptr` | `i32`                        | N+1   |
    | `outlier_col_idx` | `i16` (K <= 65536) or `i32`  | nnz   |
    | `outlier_values`  | `f16`                        | nnz   |

    Row r owns entries [row_ptr[r], row_ptr[r+1]) with strictly increasing
    unsigned column indices (the layout of `#mixq.mixed`'s outliers).

    Bits per weight = dense bits + (32 (N + 1) + (16 or 32 + 16) nnz) / (N K):
    `#mixq.sparse<#mixq.lut<bits = 3>, frac = 0.0045>` on 4096 x 4096 costs
    3.03125 + 0.0078 + 0.144 = 3.183 bits.

    The dequantization tile is the dense scheme's tile (in f32) plus, for
    each of its columns, the residual found by an `scf.for` over the row's
    CSR slice; the sum is rounded once to the result type.

    `--mixq-quantize` spec: `DENSE+sparse:frac=F[,select=S]`, e.g.
    `lut:bits=3+sparse:frac=0.0045`,
    `affine:bits=4,group=64+sparse:frac=0.01,select=iqr`.

    ```mlir
    #mixq.sparse<#mixq.lut<bits = 3>, frac = 0.0045>
    #mixq.sparse<#mixq.affine<bits = 4, group = 64>, frac = 0.01, select = iqr>
    ```
  }];
  let parameters = (ins
    AttrParameter<"::mlir::Attribute",
                  "the dense scheme (a QuantSchemeAttrInterface)">:$dense,
    MixQ_RequiredDoubleParameter<"share of all weights kept as fp16 "
                                 "outliers, (0, 1)">:$frac,
    MixQ_OutlierSelectionParameter:$select);
  let assemblyFormat = "`<` $dense `,` struct($frac, $select) `>`";
  let genVerifyDecl = 1;
  let builders = [
    AttrBuilderWithInferredContext<(ins "::mlir::Attribute":$dense,
        "double":$frac,
        CArg<"::mlir::mixq::OutlierSelection",
             "::mlir::mixq::OutlierSelection::Magnitude">:$select), [{
      return $_get(dense.getContext(), dense, ::llvm::APFloat(frac), select);
    }]>
  ];
  let extraClassDeclaration = [{
    /// The dense scheme.
    ::mlir::mixq::QuantSchemeAttrInterface getDenseScheme() const;
    /// `frac` as a double.
    double getFraction() const { return getFrac().convertToDouble(); }
    /// The number of stored outliers of an N x K matrix,
    /// round(frac * N * K).
    int64_t getNumOutliers(::llvm::ArrayRef<int64_t> shape) const;
    /// How many leading components belong to the dense scheme.
    unsigned getNumDenseComponents(::llvm::ArrayRef<int64_t> shape) const;
  }];
}

#endif // MIXQ_DIALECT_MIXQ_MIXQSPARSEATTR_TD
