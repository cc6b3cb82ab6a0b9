//===- SchemeRegistry.h - The schemes a SPEC can name ----------*- C++ -*-===//
//
// Every scheme reachable from `--mixq-quantize="scheme=SPEC"` and
// `mixq-compile --scheme=SPEC` is registered here by the attribute itself:
// QuantSchemeAttrInterface::getSpecSyntax says how its SPEC is spelled, and
// registerSchemes<Dialect, Attrs...> records it together with the dialect
// that owns the attribute. mixq's own schemes are registered on first use
// (the dialect's attribute list, so a new built-in scheme adds no line
// here); a scheme built outside the tree registers itself from its
// dialect plugin's entry point (docs/schemes-tutorial.md).
//
// The registry is process-wide, like MLIR's pass registry, because a SPEC
// names a scheme before any IR mentions its dialect.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_DIALECT_MIXQ_SCHEMEREGISTRY_H
#define MIXQ_DIALECT_MIXQ_SCHEMEREGISTRY_H

#include "dialect/MixQ/MixQInterfaces.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"

#include <functional>
#include <vector>

namespace mlir::mixq {

/// One registered scheme: its SPEC syntax and how to make its dialect
/// available to a context.
struct RegisteredScheme {
  SchemeSpecSyntax syntax;
  std::string dialectNamespace;
  std::function<void(DialectRegistry &)> insertDialect;
};

/// Records `syntax`, owned by the dialect that `insertDialect` registers.
/// A second registration of the same SPEC name is ignored (tools and
/// plugins may both register), unless it names another attribute: that is
/// an error, returned so that a plugin can report it.
llvm::Error
registerSchemeSyntax(SchemeSpecSyntax syntax, StringRef dialectNamespace,
                     std::function<void(DialectRegistry &)> insertDialect);

/// Inserts DialectT into `registry` and registers the SPEC syntax of each
/// of AttrTs, which implement QuantSchemeAttrInterface.
template <typename DialectT, typename... AttrTs>
llvm::Error registerSchemes(DialectRegistry &registry) {
  registry.insert<DialectT>();
  llvm::Error result = llvm::Error::success();
  auto insert = [](DialectRegistry &r) { r.insert<DialectT>(); };
  (
      [&] {
        if (llvm::Error err =
                registerSchemeSyntax(AttrTs::getSpecSyntax(),
                                     DialectT::getDialectNamespace(), insert))
          result = llvm::joinErrors(std::move(result), std::move(err));
      }(),
      ...);
  return result;
}

/// Every registered scheme, mixq's own first, in registration order.
std::vector<RegisteredScheme> getRegisteredSchemes();

/// The scheme whose SPEC name is `name`, or null.
std::optional<RegisteredScheme> lookupScheme(StringRef name);

/// Inserts the dialect of every registered scheme: a pass that builds
/// schemes from a SPEC calls this from getDependentDialects, so that the
/// pass manager loads them before it runs.
void insertSchemeDialects(DialectRegistry &registry);

/// Loads `scheme`'s dialect into `context` (outside a pass, where nothing
/// else has).
void loadSchemeDialect(MLIRContext *context, const RegisteredScheme &scheme);

/// mixq's own schemes: the attributes of the mixq dialect that implement
/// QuantSchemeAttrInterface. The registry takes them first, once; defined
/// next to the dialect's attribute list.
std::vector<RegisteredScheme> getBuiltinSchemes();

} // namespace mlir::mixq

#endif // MIXQ_DIALECT_MIXQ_SCHEMEREGISTRY_H
