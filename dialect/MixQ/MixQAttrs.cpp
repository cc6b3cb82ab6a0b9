//===- MixQAttrs.cpp - the mixq dialect's attributes ----------------------===//
//
// What the scheme attributes share: the generated attribute classes, their
// registration and the SPEC syntaxes of mixq's own schemes
// (SchemeRegistry.h). Each scheme lives in its own file: AffineScheme.cpp,
// LUTScheme.cpp, MixedScheme.cpp, BitplaneScheme.cpp, SparseScheme.cpp and
// OutlierColsScheme.cpp, with its TableGen in MixQ<Name>Attr.td.
//===----------------------------------------------------------------------===//
#include "dialect/MixQ/MixQAttrs.h"
#include "dialect/MixQ/MixQDialect.h"
#include "dialect/MixQ/SchemeRegistry.h"
#include "dialect/MixQ/SchemeUtils.h"
#include "quant/AffineQuantizer.h"
#include "quant/BitPacking.h"
#include "quant/BitplaneQuantizer.h"
#include "quant/LUTQuantizer.h"
#include "quant/MixedQuantizer.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <tuple>
#include <type_traits>

using namespace mlir;
using namespace mlir::mixq;

FailureOr<APFloat> mlir::mixq::parseDoubleParameter(AsmParser &parser) {
  // The sign first: parseOptionalInteger would take a '-' and then reject
  // the float literal after it (-1.5).
  bool negative = succeeded(parser.parseOptionalMinus());
  double value = 0.0;
  int64_t integer = 0;
  OptionalParseResult parsedInteger = parser.parseOptionalInteger(integer);
  if (parsedInteger.has_value()) {
    if (failed(*parsedInteger))
      return failure();
    value = static_cast<double>(integer);
  } else if (parser.parseFloat(value)) {
    return failure();
  }
  return APFloat(negative ? -value : value);
}

void mlir::mixq::printDoubleParameter(AsmPrinter &printer,
                                      const APFloat &apValue) {
  printer << formatFloatLiteral(apValue.convertToDouble());
}

#define GET_ATTRDEF_CLASSES
#include "dialect/MixQ/MixQAttrs.cpp.inc"

void MixQDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialect/MixQ/MixQAttrs.cpp.inc"
      >();
}

namespace {
/// Appends the SPEC syntax of each of AttrTs that is a quantization scheme.
template <typename... AttrTs>
void appendSchemeSyntaxes(std::vector<RegisteredScheme> &schemes) {
  auto insert = [](DialectRegistry &registry) {
    registry.insert<MixQDialect>();
  };
  auto append = [&](auto syntax) {
    schemes.push_back(
        {std::move(syntax), MixQDialect::getDialectNamespace().str(), insert});
  };
  (
      [&] {
        if constexpr (std::is_base_of_v<QuantSchemeAttrInterface::Trait<AttrTs>,
                                        AttrTs>)
          append(AttrTs::getSpecSyntax());
      }(),
      ...);
}
} // namespace

std::vector<RegisteredScheme> mlir::mixq::getBuiltinSchemes() {
  std::vector<RegisteredScheme> schemes;
  appendSchemeSyntaxes<
#define GET_ATTRDEF_LIST
#include "dialect/MixQ/MixQAttrs.cpp.inc"
      >(schemes);
  return schemes;
}
