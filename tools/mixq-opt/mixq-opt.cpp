//===- mixq-opt.cpp - mlir-opt with the mixq dialects and passes ----------===//
#include "dialect/LLM/LLMDialect.h"
#include "dialect/MixQ/MixQDialect.h"
#include "passes/Passes.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

#ifdef MIXQ_INCLUDE_TESTS
namespace mixq::test {
void registerTestSchemesDialect(mlir::DialectRegistry &registry);
} // namespace mixq::test
#endif

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  mlir::mixq::registerAllMixQPasses();

  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  registry.insert<mlir::llm::LLMDialect, mlir::mixq::MixQDialect>();
#ifdef MIXQ_INCLUDE_TESTS
  mixq::test::registerTestSchemesDialect(registry);
#endif

  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "mixq optimizer driver\n", registry));
}
