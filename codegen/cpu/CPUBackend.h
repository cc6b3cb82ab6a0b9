//===- CPUBackend.h - kernels to a host shared object -----------*- C++ -*-===//
//
// codegen/cpu: the same dispatches the GPU gets, lowered through linalg ->
// buffers -> loops -> LLVM IR, optimized at -O3 for the host CPU (LLVM's loop
// and SLP vectorizers work on the reassociable reductions the llm lowering
// marks) and emitted in process with an LLVM TargetMachine. The object is
// linked into a shared library that the runtime loads from the package.
//
// Kernel ABI: `void _mixq_<kernel>(void **args)`, where args[i] points to the
// i-th scalar of the kernel's LLVM signature: every memref argument expands
// to (allocated ptr, aligned ptr, offset, sizes..., strides...), every index
// to one int64. See --mixq-kernel-abi for the argument order.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_CODEGEN_CPU_CPUBACKEND_H
#define MIXQ_CODEGEN_CPU_CPUBACKEND_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace mlir::mixq::cpu {

struct CPUOptions {
  /// "native" (the compiling machine's CPU and features) or an LLVM CPU
  /// name such as "x86-64-v3".
  std::string cpu = "native";
  unsigned optLevel = 3;
  /// Keep the optimized LLVM IR text in CompiledKernels::llvmIR.
  bool keepLLVMIR = false;
  /// Keep the kernel module as printed MLIR after each stage, for --emit.
  bool keepLoweredMLIR = false;
};

struct KernelSymbol {
  std::string kernel; ///< the L2 kernel function name
  std::string symbol; ///< its exported entry point in the shared object
};

struct CompiledKernels {
  std::string triple, cpu, features;
  std::vector<uint8_t> sharedObject; ///< ELF shared library
  std::vector<KernelSymbol> kernels;
  std::string loweredMLIR; ///< LLVM-dialect module, if requested
  std::string llvmIR;      ///< optimized LLVM IR, if requested
};

/// Dialects, interfaces and translations the CPU lowering needs in the
/// compiling context.
void registerCPUBackendDependencies(DialectRegistry &registry);

/// Compiles every `mixq.kernel` function of the dispatch-formed module (the
/// module itself is not modified).
llvm::Expected<CompiledKernels> compileKernels(ModuleOp module,
                                               const CPUOptions &options);

/// The exported entry point of kernel `name`.
std::string getKernelSymbol(llvm::StringRef name);

} // namespace mlir::mixq::cpu

#endif // MIXQ_CODEGEN_CPU_CPUBACKEND_H
