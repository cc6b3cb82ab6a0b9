//===- ProgrammaticLaunch.cpp - --mixq-programmatic-launch ----------------===//
//
// Gives the kernels of the sm_90+ targets griddepcontrol instructions, in a
// copy of their gpu.module where it also targets older chips (see the
// pass's description in CUDAPasses.td).
//===----------------------------------------------------------------------===//
#include "codegen/cuda/CUDAPasses.h"
#include "passes/LoopPipelining.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

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

/// Whether `value` views a kernel argument marked as weights.
bool isWeightArgument(Value value) {
  auto arg = dyn_cast<BlockArgument>(mixq::getViewRoot(value));
  auto func = arg ? dyn_cast<gpu::GPUFuncOp>(arg.getOwner()->getParentOp())
                  : gpu::GPUFuncOp();
  return func && arg.getOwner() == &func.getBody().front() &&
         func.getArgAttr(arg.getArgNumber(), mixq::cuda::kWeightArgAttrName);
}

/// Whether `op` alone (not its regions) touches only what no earlier
/// kernel writes: shared or private memory, and weights it reads. Global
/// writes, reads of anything else (activations, caches, tokens) and ops
/// whose effects are unknown are not.
bool touchesOnlyOwnMemory(Operation *op) {
  // This thread's own copies; the block's or warp's own threads, whose
  // accesses are judged one by one.
  if (isa<nvgpu::DeviceAsyncCreateGroupOp, nvgpu::DeviceAsyncWaitOp,
          gpu::BarrierOp, NVVM::SyncWarpOp>(op))
    return true;
  if (op->hasTrait<OpTrait::HasRecursiveMemoryEffects>())
    return true;
  auto effects = dyn_cast<MemoryEffectOpInterface>(op);
  if (!effects)
    return false;
  SmallVector<MemoryEffects::EffectInstance> instances;
  effects.getEffects(instances);
  return llvm::all_of(instances, [](MemoryEffects::EffectInstance &effect) {
    Value value = effect.getValue();
    if (!value)
      return isa<MemoryEffects::Allocate, MemoryEffects::Free>(
          effect.getEffect());
    auto type = dyn_cast<MemRefType>(value.getType());
    auto space =
        type ? dyn_cast_or_null<gpu::AddressSpaceAttr>(type.getMemorySpace())
             : gpu::AddressSpaceAttr();
    if (space && space.getValue() != gpu::AddressSpace::Global)
      return true;
    return isa<MemoryEffects::Read>(effect.getEffect()) &&
           isWeightArgument(value);
  });
}

/// Whether `op` or an op it holds may touch memory an earlier kernel
/// writes, or memory a later kernel reads.
bool dependsOnEarlierKernels(Operation *op) {
  WalkResult result = op->walk([](Operation *nested) {
    return touchesOnlyOwnMemory(nested) ? WalkResult::advance()
                                        : WalkResult::interrupt();
  });
  return result.wasInterrupted();
}

/// Every kernel first lets its dependents be scheduled, then waits for its
/// prerequisites before its first op that may touch their memory: what
/// precedes (index math, the copies of the first weight tiles that
/// --mixq-pipeline-async-copies hoisted there) overlaps the previous
/// kernel's tail.
void insertGridDependencyControl(gpu::GPUModuleOp module) {
  module.walk([](gpu::GPUFuncOp func) {
    if (!func.isKernel() || func.isExternal())
      return;
    Block &entry = func.getBody().front();
    Operation *first = &*llvm::find_if(entry, [](Operation &op) {
      return op.hasTrait<OpTrait::IsTerminator>() ||
             dependsOnEarlierKernels(&op);
    });
    OpBuilder b = OpBuilder::atBlockBegin(&entry);
    NVVM::GriddepcontrolOp::create(b, func.getLoc(),
                                   NVVM::GridDepActionKind::launch_dependents);
    b.setInsertionPoint(first);
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
