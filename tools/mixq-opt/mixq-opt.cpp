//===- mixq-opt.cpp - mlir-opt with the mixq dialects and passes ----------===//
//
// Scheme plugins load with MlirOptMain's --load-dialect-plugin=libX.so: the
// plugin registers its dialect and its schemes' SPEC syntaxes, and resolves
// mixq's symbols against this executable (cmake/MixQPluginHost.cmake).
//===----------------------------------------------------------------------===//
#include "codegen/cuda/CUDAPasses.h"
#include "dialect/LLM/LLMDialect.h"
#include "dialect/MixQ/MixQDialect.h"
#include "passes/Passes.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  mlir::mixq::registerAllMixQPasses();
  mlir::mixq::cuda::registerMixQCUDAPasses();

  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  // gpu-module-to-binary translates gpu.module to LLVM IR for PTX.
  mlir::registerAllToLLVMIRTranslations(registry);
  registry.insert<mlir::llm::LLMDialect, mlir::mixq::MixQDialect>();

  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "mixq optimizer driver\n", registry));
}
