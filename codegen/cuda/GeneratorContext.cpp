//===- GeneratorContext.cpp - what the CUDA kernel generators share -------===//
#include "codegen/cuda/GeneratorContext.h"

#include "codegen/cuda/CUDAPasses.h"
#include "dialect/LLM/LLMOps.h"
#include "dialect/MixQ/MixQOps.h"
#include "dialect/MixQ/MixQTypes.h"
#include "passes/Dispatch.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/SymbolTable.h"

using namespace mlir;
using namespace mlir::mixq;
using namespace mlir::mixq::cuda;

namespace mlir::mixq::cuda::gen {
namespace {

/// The launch grid a gpu.func records: [[count, tokens_per_block] x 3].
constexpr const char *kGridAttrName = "mixq.grid";

//===----------------------------------------------------------------------===//
// Signatures
//===----------------------------------------------------------------------===//

MemRefType getBufferType(RankedTensorType type, int64_t maxTokens) {
  SmallVector<int64_t> shape(type.getShape());
  for (int64_t &dim : shape)
    if (ShapedType::isDynamic(dim))
      dim = maxTokens;
  return MemRefType::get(shape, type.getElementType());
}

/// Whether each argument of `kernel` is a weight in every call of it (what
/// a plan binds to a package weight; nothing writes it on the GPU): a
/// qtensor, or an operand every call takes from a weight op.
SmallVector<bool> getWeightArguments(func::FuncOp kernel) {
  SmallVector<bool> weights;
  for (Type type : kernel.getArgumentTypes())
    weights.push_back(isa<QTensorType>(type));
  std::optional<SymbolTable::UseRange> uses =
      SymbolTable::getSymbolUses(kernel, kernel->getParentOp());
  if (!uses || uses->empty())
    return weights;
  SmallVector<bool> fromWeightOps(weights.size(), true);
  for (const SymbolTable::SymbolUse &use : *uses) {
    auto call = dyn_cast<func::CallOp>(use.getUser());
    for (auto [index, fromWeightOp] : llvm::enumerate(fromWeightOps)) {
      Operation *def = call && index < call.getNumOperands()
                           ? call.getOperand(index).getDefiningOp()
                           : nullptr;
      fromWeightOp =
          fromWeightOp && isa_and_nonnull<llm::WeightOp, mixq::WeightOp>(def);
    }
  }
  for (auto [weight, fromWeightOp] : llvm::zip(weights, fromWeightOps))
    weight = weight || fromWeightOp;
  return weights;
}

/// (result index -> argument index) of the kernel's `mixq.tied` pairs.
DenseMap<unsigned, unsigned> getTiedResults(func::FuncOp kernel) {
  DenseMap<unsigned, unsigned> tied;
  if (auto attr = kernel->getAttrOfType<DenseI64ArrayAttr>(kTiedAttrName))
    for (size_t i = 0; i + 1 < attr.size(); i += 2)
      tied[attr[i]] = attr[i + 1];
  return tied;
}
} // namespace

FailureOr<gpu::GPUFuncOp> createGPUFunc(OpBuilder &b, func::FuncOp kernel,
                                        const CUDAOptions &options,
                                        StringRef name, int64_t workspaceFloats,
                                        Signature &signature) {
  Location loc = kernel.getLoc();
  SmallVector<Type> argTypes;
  SmallVector<unsigned> argCounts;
  for (Type type : kernel.getArgumentTypes()) {
    if (auto qtensor = dyn_cast<QTensorType>(type)) {
      for (const ComponentSpec &component : qtensor.getComponents())
        argTypes.push_back(
            MemRefType::get(component.shape, component.elementType));
      argCounts.push_back(qtensor.getComponents().size());
    } else if (auto tensor = dyn_cast<RankedTensorType>(type)) {
      argTypes.push_back(getBufferType(tensor, options.maxTokens));
      argCounts.push_back(1);
    } else if (type.isIndex()) {
      argTypes.push_back(b.getI64Type());
      argCounts.push_back(1);
    } else {
      return kernel.emitError()
             << "the CUDA kernel ABI has no form for argument type " << type;
    }
  }
  DenseMap<unsigned, unsigned> tied = getTiedResults(kernel);
  for (auto [index, type] : llvm::enumerate(kernel.getResultTypes())) {
    if (tied.count(index))
      continue;
    auto tensor = dyn_cast<RankedTensorType>(type);
    if (!tensor)
      return kernel.emitError()
             << "the CUDA kernel ABI has no form for result type " << type;
    argTypes.push_back(getBufferType(tensor, options.maxTokens));
  }
  if (workspaceFloats > 0) // split attention's records and counters
    argTypes.push_back(MemRefType::get({workspaceFloats}, b.getF32Type()));
  argTypes.push_back(b.getI64Type()); // the token count S

  auto func =
      gpu::GPUFuncOp::create(b, loc, name, b.getFunctionType(argTypes, {}));
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  Block &entry = func.getBody().front();
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&entry);
  unsigned next = 0;
  SmallVector<bool> weights = getWeightArguments(kernel);
  for (auto [type, count, weight] :
       llvm::zip(kernel.getArgumentTypes(), argCounts, weights)) {
    SmallVector<Value, 1> values;
    for (unsigned i = 0; i < count; ++i) {
      if (weight)
        func.setArgAttr(next, kWeightArgAttrName, b.getUnitAttr());
      values.push_back(entry.getArgument(next++));
    }
    if (type.isIndex())
      values.front() =
          arith::IndexCastOp::create(b, loc, b.getIndexType(), values.front());
    signature.args.push_back(values);
  }
  for (unsigned index = 0; index < kernel.getNumResults(); ++index) {
    auto it = tied.find(index);
    signature.results.push_back(it != tied.end()
                                    ? signature.args[it->second].front()
                                    : entry.getArgument(next++));
  }
  if (workspaceFloats > 0)
    signature.workspace = entry.getArgument(next++);
  signature.tokens = arith::IndexCastOp::create(b, loc, b.getIndexType(),
                                                entry.getArgument(next));
  gpu::ReturnOp::create(b, loc);
  return func;
}

LogicalResult requireValues(Operation *op, const ValueMap &values,
                            ValueRange operands) {
  for (Value operand : operands)
    if (values.lookupAll(operand).empty())
      return op->emitError()
             << "CUDA codegen: an operand of this op is computed inside the "
                "kernel by an op the CUDA generators do not fuse";
  return success();
}

/// The kernel output an op's result is stored to.
FailureOr<Value> getOutput(Operation *op, const ValueMap &values,
                           Value result) {
  Value output = values.lookup(result);
  if (!output)
    return op->emitError() << "CUDA codegen: this op's result is not returned "
                              "by its kernel";
  return output;
}

FailureOr<Value> getOutput(Operation *op, const ValueMap &values,
                           ValueRange operands, Value result) {
  if (failed(requireValues(op, values, operands)))
    return failure();
  return getOutput(op, values, result);
}

void setRowLaunch(KernelLaunch &launch, int64_t blockSize) {
  launch.block = {blockSize, 1, 1};
  launch.grid[0] = GridDim{1, 1}; // one block per token
}

void finishEntry(gpu::GPUFuncOp func, KernelLaunch &launch) {
  OpBuilder b(func.getContext());
  std::array<int32_t, 3> block;
  for (int i = 0; i < 3; ++i)
    block[i] = static_cast<int32_t>(launch.block[i]);
  func.setKnownBlockSizeAttr(b.getDenseI32ArrayAttr(block));
  SmallVector<Attribute> grid;
  for (const GridDim &dim : launch.grid)
    grid.push_back(b.getDenseI64ArrayAttr({dim.count, dim.tokensPerBlock}));
  func->setAttr(kGridAttrName, b.getArrayAttr(grid));
  launch.sharedBytes = KernelBuilder::getWorkgroupBytes(func);
}

} // namespace mlir::mixq::cuda::gen
