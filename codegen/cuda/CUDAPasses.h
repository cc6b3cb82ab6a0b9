//===- CUDAPasses.h - codegen/cuda passes -----------------------*- C++ -*-===//
#ifndef MIXQ_CODEGEN_CUDA_CUDAPASSES_H
#define MIXQ_CODEGEN_CUDA_CUDAPASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir::mixq::cuda {

/// The unit attribute --mixq-programmatic-launch puts on the gpu.module
/// whose kernels it gave griddepcontrol instructions.
inline constexpr const char *kProgrammaticLaunchAttrName =
    "mixq.programmatic_launch";

/// The unit argument attribute of a kernel pointer to weights: memory no
/// kernel writes, which a kernel may read before its griddepcontrol.wait.
inline constexpr const char *kWeightArgAttrName = "mixq.weight";

/// Whether `chip` ("sm_90", "sm_90a", "sm_100") has griddepcontrol, i.e.
/// programmatic dependent launch: sm_90 and newer.
bool hasProgrammaticLaunch(llvm::StringRef chip);

#define GEN_PASS_DECL
#include "codegen/cuda/CUDAPasses.h.inc"

#define GEN_PASS_REGISTRATION
#include "codegen/cuda/CUDAPasses.h.inc"

} // namespace mlir::mixq::cuda

#endif // MIXQ_CODEGEN_CUDA_CUDAPASSES_H
