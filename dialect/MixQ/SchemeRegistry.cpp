//===- SchemeRegistry.cpp - The schemes a SPEC can name -------------------===//
#include "dialect/MixQ/SchemeRegistry.h"

#include <mutex>

using namespace mlir;
using namespace mlir::mixq;

namespace {
struct Registry {
  std::mutex mutex;
  std::vector<RegisteredScheme> schemes;
};

Registry &getRegistry() {
  static Registry registry;
  return registry;
}

/// The registry, mixq's own schemes first, so that no plugin takes their
/// names.
Registry &getPopulatedRegistry() {
  static std::once_flag builtins;
  Registry &registry = getRegistry();
  std::call_once(builtins, [&] {
    std::lock_guard<std::mutex> lock(registry.mutex);
    registry.schemes = getBuiltinSchemes();
  });
  return registry;
}
} // namespace

llvm::Error mlir::mixq::registerSchemeSyntax(
    SchemeSpecSyntax syntax, StringRef dialectNamespace,
    std::function<void(DialectRegistry &)> insertDialect) {
  Registry &registry = getPopulatedRegistry();
  std::lock_guard<std::mutex> lock(registry.mutex);
  for (const RegisteredScheme &scheme : registry.schemes) {
    if (scheme.syntax.name != syntax.name)
      continue;
    if (scheme.syntax.attrName == syntax.attrName)
      return llvm::Error::success();
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "scheme '%s' is already registered as %s; %s cannot take its name",
        syntax.name.c_str(), scheme.syntax.attrName.c_str(),
        syntax.attrName.c_str());
  }
  registry.schemes.push_back(
      {std::move(syntax), dialectNamespace.str(), std::move(insertDialect)});
  return llvm::Error::success();
}

std::vector<RegisteredScheme> mlir::mixq::getRegisteredSchemes() {
  Registry &registry = getPopulatedRegistry();
  std::lock_guard<std::mutex> lock(registry.mutex);
  return registry.schemes;
}

std::optional<RegisteredScheme> mlir::mixq::lookupScheme(StringRef name) {
  for (RegisteredScheme &scheme : getRegisteredSchemes())
    if (scheme.syntax.name == name)
      return std::move(scheme);
  return std::nullopt;
}

void mlir::mixq::insertSchemeDialects(DialectRegistry &registry) {
  for (const RegisteredScheme &scheme : getRegisteredSchemes())
    scheme.insertDialect(registry);
}

void mlir::mixq::loadSchemeDialect(MLIRContext *context,
                                   const RegisteredScheme &scheme) {
  if (context->getLoadedDialect(scheme.dialectNamespace))
    return;
  DialectRegistry registry;
  scheme.insertDialect(registry);
  context->appendDialectRegistry(registry);
  context->getOrLoadDialect(scheme.dialectNamespace);
}
