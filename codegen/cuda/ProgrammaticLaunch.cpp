//===- ProgrammaticLaunch.cpp - --mixq-programmatic-launch ----------------===//
//
// Gives the kernels of the sm_90+ targets griddepcontrol instructions, in a
// copy of their gpu.module where it also targets older chips (see the
// pass's description in CUDAPasses.td).
//===----------------------------------------------------------------------===//
#include "codegen/cuda/CUDAPasses.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

namespace mlir::mixq::cuda {
#define GEN_PASS_DEF_MIXQPROGRAMMATICLAUNCH
#include "codegen/cuda/CUDAPasses.h.inc"
} // namespace mlir::mixq::cuda

using namespace mlir;

bool mlir::mixq::cuda::hasProgrammaticLaunch(llvm::StringRef chip) {
  unsigned version = 0;
  if (!chip.consume_front("sm_"))
    return false;
  // "90a" and "100f" carry a suffix after the number.
  StringRef digits = chip.take_while(llvm::isDigit);
  return !digits.getAsInteger(10, version) && version >= 90;
}

namespace {

bool targetsProgrammaticLaunchChip(Attribute target) {
  auto nvvm = dyn_cast<NVVM::NVVMTargetAttr>(target);
  return nvvm && mixq::cuda::hasProgrammaticLaunch(nvvm.getChip());
}

/// Every kernel first lets its dependents be scheduled, then waits for its
/// prerequisites, before any other instruction.
void insertGridDependencyControl(gpu::GPUModuleOp module) {
  module.walk([](gpu::GPUFuncOp func) {
    if (!func.isKernel() || func.isExternal())
      return;
    OpBuilder b = OpBuilder::atBlockBegin(&func.getBody().front());
    NVVM::GriddepcontrolOp::create(b, func.getLoc(),
                                   NVVM::GridDepActionKind::launch_dependents);
    NVVM::GriddepcontrolOp::create(b, func.getLoc(),
                                   NVVM::GridDepActionKind::wait);
  });
}

struct ProgrammaticLaunch
    : mixq::cuda::impl::MixQProgrammaticLaunchBase<ProgrammaticLaunch> {
  void runOnOperation() override {
    SmallVector<gpu::GPUModuleOp> modules(
        getOperation().getOps<gpu::GPUModuleOp>());
    for (gpu::GPUModuleOp module : modules)
      if (!module->hasAttr(mixq::cuda::kProgrammaticLaunchAttrName))
        splitAndInstrument(module);
  }

  /// The sm_90+ targets of `module` get a copy with the instructions (or
  /// `module` itself when it has no other target).
  void splitAndInstrument(gpu::GPUModuleOp module) {
    SmallVector<Attribute> older, newer;
    if (ArrayAttr targets = module.getTargetsAttr())
      for (Attribute target : targets)
        (targetsProgrammaticLaunchChip(target) ? newer : older)
            .push_back(target);
    if (newer.empty()) {
      module.emitRemark("no sm_90 or newer target: no programmatic "
                        "dependent launch (griddepcontrol needs sm_90)");
      return;
    }
    Builder b(module.getContext());
    gpu::GPUModuleOp instrumented = module;
    if (!older.empty()) {
      OpBuilder after(module.getContext());
      after.setInsertionPointAfter(module);
      instrumented = cast<gpu::GPUModuleOp>(after.clone(*module));
      instrumented.setName((module.getName() + "_pdl").str());
      module.setTargetsAttr(b.getArrayAttr(older));
      instrumented.setTargetsAttr(b.getArrayAttr(newer));
    }
    instrumented->setAttr(mixq::cuda::kProgrammaticLaunchAttrName,
                          b.getUnitAttr());
    insertGridDependencyControl(instrumented);
  }
};

} // namespace
