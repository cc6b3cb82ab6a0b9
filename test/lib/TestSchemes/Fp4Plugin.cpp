//===- Fp4Plugin.cpp - #mixq_test.fp4 as a dialect plugin -----------------===//
//
// The entry point MLIR's DialectPlugin::load looks for. Loaded by
// `mixq-opt --load-dialect-plugin=` or `mixq-compile --load-scheme-plugin=`,
// it registers the mixq_test dialect and the `fp4` SPEC; the scheme's code
// binds to the loading tool's copy of mixq.
//===----------------------------------------------------------------------===//
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/Plugins/DialectPlugin.h"
#include "llvm/Config/llvm-config.h"

namespace mixq::test {
void registerTestSchemesDialect(mlir::DialectRegistry &registry);
} // namespace mixq::test

extern "C" LLVM_ATTRIBUTE_WEAK mlir::DialectPluginLibraryInfo
mlirGetDialectPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "MixQTestSchemes", LLVM_VERSION_STRING,
          [](mlir::DialectRegistry *registry) {
            mixq::test::registerTestSchemesDialect(*registry);
          }};
}
