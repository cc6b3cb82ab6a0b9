//===- MixQAttrs.td - quantization scheme attributes -------*- tablegen -*-===//
#ifndef MIXQ_DIALECT_MIXQ_MIXQATTRS_TD
#define MIXQ_DIALECT_MIXQ_MIXQATTRS_TD

include "dialect/MixQ/MixQDialect.td"
include "dialect/MixQ/MixQInterfaces.td"
include "mlir/IR/AttrTypeBase.td"

class MixQ_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<MixQ_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

// A real parameter with a default, stored as an IEEE double APFloat (which,
// unlike `double`, is hashable by the attribute uniquer), printed as the
// shortest decimal that parses back to the same value (always with a '.',
// e.g. `0.1`, `3.0`, `1.0e-05`) and parsed from a float or an integer literal.
class MixQ_DoubleParameter<string value, string desc = "">
    : DefaultValuedParameter<"::llvm::APFloat", "::llvm::APFloat(" # value # ")",
                             desc> {
  let parser = "::mlir::mixq::parseDoubleParameter($_parser)";
  let printer = "::mlir::mixq::printDoubleParameter($_printer, $_self)";
  let comparator = "$_lhs.bitwiseIsEqual($_rhs)";
}

// One file per scheme; this order is the registration order
// (SchemeRegistry.h), which --list-schemes and errors follow.
include "dialect/MixQ/MixQAffineAttr.td"
include "dialect/MixQ/MixQLUTAttr.td"
include "dialect/MixQ/MixQMixedAttr.td"
include "dialect/MixQ/MixQBitplaneAttr.td"
include "dialect/MixQ/MixQSparseAttr.td"
include "dialect/MixQ/MixQOutlierColsAttr.td"

#endif // MIXQ_DIALECT_MIXQ_MIXQATTRS_TD
