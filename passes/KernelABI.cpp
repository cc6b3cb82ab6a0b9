//===- KernelABI.cpp - destination-passing kernel signatures --------------===//
//
// Kernels compute into buffers the host plan owns. Rewriting the signature to
// memrefs before bufferization (instead of bufferizing function boundaries
// and then moving results to out-parameters) keeps the ABI a pure function of
// the L2 signature, which the plan serializer and the runtime rely on.
//===----------------------------------------------------------------------===//
#include "passes/Dispatch.h"
#include "passes/Passes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "llvm/ADT/DenseMap.h"

namespace mlir::mixq {
#define GEN_PASS_DEF_MIXQKERNELABI
#include "passes/Passes.h.inc"
} // namespace mlir::mixq

using namespace mlir;
using namespace mlir::mixq;

namespace {

MemRefType toMemRef(RankedTensorType type) {
  return MemRefType::get(type.getShape(), type.getElementType());
}

/// result index -> argument index, from `mixq.tied`.
FailureOr<llvm::DenseMap<unsigned, unsigned>> readTied(func::FuncOp kernel) {
  llvm::DenseMap<unsigned, unsigned> tied;
  auto attr = kernel->getAttrOfType<DenseI64ArrayAttr>(kTiedAttrName);
  if (!attr)
    return tied;
  ArrayRef<int64_t> pairs = attr.asArrayRef();
  auto type = kernel.getFunctionType();
  if (pairs.size() % 2 != 0)
    return kernel.emitOpError()
           << "'" << kTiedAttrName << "' must hold (result, argument) pairs";
  for (size_t i = 0; i < pairs.size(); i += 2) {
    int64_t result = pairs[i], argument = pairs[i + 1];
    if (result < 0 || result >= type.getNumResults() || argument < 0 ||
        argument >= type.getNumInputs() ||
        type.getResult(result) != type.getInput(argument))
      return kernel.emitOpError()
             << "'" << kTiedAttrName << "' pair (" << result << ", " << argument
             << ") does not tie a result to an argument of the "
             << "same type";
    tied[result] = argument;
  }
  return tied;
}

LogicalResult convertKernel(func::FuncOp kernel) {
  FailureOr<llvm::DenseMap<unsigned, unsigned>> tied = readTied(kernel);
  if (failed(tied))
    return failure();
  llvm::SmallDenseSet<unsigned> writableArgs;
  for (auto [result, argument] : *tied)
    writableArgs.insert(argument);

  Block &entry = kernel.front();
  Location loc = kernel.getLoc();
  OpBuilder builder = OpBuilder::atBlockBegin(&entry);
  for (BlockArgument argument : entry.getArguments()) {
    auto tensorType = dyn_cast<RankedTensorType>(argument.getType());
    if (!tensorType) {
      if (!argument.getType().isIndex())
        return kernel.emitOpError()
               << "argument " << argument.getArgNumber() << " of type "
               << argument.getType()
               << " has no kernel ABI (expected a ranked tensor or index)";
      continue;
    }
    argument.setType(toMemRef(tensorType));
    bool writable = writableArgs.contains(argument.getArgNumber());
    auto toTensor = bufferization::ToTensorOp::create(
        builder, loc, tensorType, argument, builder.getUnitAttr(),
        writable ? builder.getUnitAttr() : UnitAttr());
    argument.replaceAllUsesExcept(toTensor, toTensor);
  }

  auto ret = cast<func::ReturnOp>(entry.getTerminator());
  builder.setInsertionPoint(ret);
  for (auto [index, value] : llvm::enumerate(ret.getOperands())) {
    auto tensorType = dyn_cast<RankedTensorType>(value.getType());
    if (!tensorType)
      return kernel.emitOpError()
             << "result " << index << " of type " << value.getType()
             << " has no kernel ABI (expected a ranked tensor)";
    auto it = tied->find(index);
    Value destination =
        it != tied->end()
            ? entry.getArgument(it->second)
            : entry.addArgument(toMemRef(tensorType), value.getLoc());
    bufferization::MaterializeInDestinationOp::create(
        builder, value.getLoc(), TypeRange{}, value, destination,
        builder.getUnitAttr(), builder.getUnitAttr());
  }
  func::ReturnOp::create(builder, ret.getLoc());
  ret.erase();

  kernel.setFunctionType(
      builder.getFunctionType(entry.getArgumentTypes(), TypeRange{}));
  for (BlockArgument argument : entry.getArguments())
    if (isa<MemRefType>(argument.getType()))
      kernel.setArgAttr(argument.getArgNumber(),
                        LLVM::LLVMDialect::getNoAliasAttrName(),
                        builder.getUnitAttr());
  kernel->removeAttr(kTiedAttrName);
  return success();
}

struct KernelABIPass : mlir::mixq::impl::MixQKernelABIBase<KernelABIPass> {
  void runOnOperation() override {
    for (auto kernel : getOperation().getOps<func::FuncOp>())
      if (kernel->hasAttr(kKernelAttrName) && !kernel.isExternal() &&
          failed(convertKernel(kernel)))
        return signalPassFailure();
  }
};

} // namespace
