//===- MixQTypes.cpp - the qtensor type -----------------------------------===//
#include "dialect/MixQ/MixQTypes.h"
#include "dialect/MixQ/MixQDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::mixq;

#define GET_TYPEDEF_CLASSES
#include "dialect/MixQ/MixQTypes.cpp.inc"

void MixQDialect::registerTypes() {
  addTypes<
#define GET_TYPEDEF_LIST
#include "dialect/MixQ/MixQTypes.cpp.inc"
      >();
}

LogicalResult QTensorType::verify(function_ref<InFlightDiagnostic()> emitError,
                                  ArrayRef<int64_t> shape,
                                  QuantSchemeAttrInterface scheme) {
  if (shape.size() != 2)
    return emitError() << "qtensor must be an N x K matrix, got rank "
                       << shape.size();
  for (int64_t dim : shape) {
    if (ShapedType::isDynamic(dim) || dim <= 0)
      return emitError() << "qtensor dimensions must be static and positive";
  }
  if (!scheme)
    return emitError() << "qtensor needs a quantization scheme";
  return scheme.verifyShape(shape, emitError);
}

Type QTensorType::parse(AsmParser &parser) {
  SmallVector<int64_t> shape;
  Attribute scheme;
  SMLoc loc = parser.getCurrentLocation();
  if (parser.parseLess() ||
      parser.parseDimensionList(shape, /*allowDynamic=*/false,
                                /*withTrailingX=*/false) ||
      parser.parseComma())
    return {};
  SMLoc schemeLoc = parser.getCurrentLocation();
  if (parser.parseAttribute(scheme) || parser.parseGreater())
    return {};
  auto iface = dyn_cast<QuantSchemeAttrInterface>(scheme);
  if (!iface) {
    parser.emitError(schemeLoc, "expected a quantization scheme attribute "
                                "(one implementing QuantSchemeAttrInterface), "
                                "got ")
        << scheme;
    return {};
  }
  return getChecked([&] { return parser.emitError(loc); }, parser.getContext(),
                    shape, iface);
}

void QTensorType::print(AsmPrinter &printer) const {
  printer << '<';
  llvm::interleave(getShape(), printer, "x");
  printer << ", ";
  printer.printAttribute(getScheme());
  printer << '>';
}

SmallVector<Type> QTensorType::getComponentTensorTypes() const {
  SmallVector<Type> types;
  for (const ComponentSpec &component : getComponents())
    types.push_back(component.getTensorType());
  return types;
}
