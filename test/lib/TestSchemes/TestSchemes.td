//===- TestSchemes.td - test-only quantization schemes -----*- tablegen -*-===//
#ifndef MIXQ_TEST_TESTSCHEMES_TD
#define MIXQ_TEST_TESTSCHEMES_TD

include "dialect/MixQ/MixQInterfaces.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/OpBase.td"

def MixQTest_Dialect : Dialect {
  let name = "mixq_test";
  let cppNamespace = "::mixq::test";
  let summary = "Test-only quantization schemes";
  let useDefaultAttributePrinterParser = 1;
}

def MixQTest_Fp4SchemeAttr : AttrDef<MixQTest_Dialect, "Fp4Scheme", [
    DeclareAttrInterfaceMethods<QuantSchemeAttrInterface,
                                ["buildDequantVector", "buildSparseDot",
                                 "getScaleFactorColumns", "buildScaleFactor",
                                 "buildUnscaledDequantVectorInAnyOrder",
                                 "getActivationBits", "getRowTables",
                                 "buildRowTableEntry"]>]> {
  let mnemonic = "fp4";
  let summary = "FP4 (e2m1) codes with one f16 scale per group";
  let description = [{
    Each weight is a 4-bit e2m1 code `s eem` (sign, 2 exponent bits, 1
    mantissa bit) whose magnitudes are 0, 0.5, 1, 1.5, 2, 3, 4, 6, times an
    f16 scale per group of `group` inputs (scale = max|w| / 6). Components:
    `codes` (i32, N x ceil(K/8)) and `scales` (f16, N x K/group).

    With `spike = true`, each row's largest |w| (the first, on ties) also
    keeps its residual w - dense' as an fp16 sparse term, in a CSR of one
    entry per row: `outlier_row_ptr` (i32, N+1), `outlier_col_idx` (i32, N),
    `outlier_values` (f16, N). The word-level tile is then the dense part and
    the term comes from buildSparseDot, after the dot product: the proof
    that a scheme outside mixq can use that part of the interface.

    Its group scale is a scale factor (getScaleFactorColumns = `group`):
    the tensor-core GEMV sums the e2m1 values times x and multiplies a
    step's sums by the scale, where a step lies in one group.

    It offers code generators two row tables (getRowTables), both the same
    for every row (RowTableSpec::sameForEveryRow): the f16 e2m1 value of
    each of the 16 codes (32 bytes), and the f16x2 values of each pair of
    codes (256 i32 entries, 1 KiB), indexed by the byte the pair forms in
    the code stream. A GEMV that builds the pair table looks the unscaled
    values of a whole-word f16 tile up two at a time, one shared-memory load
    per pair, instead of running the select chain per code; the tensor-core
    GEMV holds one copy for all its rows. The proof that a scheme outside
    mixq gets table lookups, and tables shared by its rows, from the
    interface alone.

    With `act_bits` = B > 0 its matmuls take B-bit activations, quantized
    per token by the interface's default buildQuantizeActivation (no column
    passes through): the proof that a scheme outside mixq gets
    `mixq.quantize_act` from getActivationBits alone. `act_bits` may be
    0..32 here, so that the op's own check of the bits (1..16) is testable.
  }];
  let parameters = (ins "int64_t":$group,
                        DefaultValuedParameter<"bool", "false">:$spike,
                        DefaultValuedParameter<"unsigned", "0">:$act_bits);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

#endif // MIXQ_TEST_TESTSCHEMES_TD
