//===- FormDispatches.cpp - kernels plus a host plan ----------------------===//
//
// L1 -> L2: every llm/mixq compute op of an entry function is outlined into a
// kernel function (`mixq.kernel`) and replaced by a call. What stays in the
// entry function is the host plan: weight references, kernel calls in launch
// order, arguments and results. Backends compile the kernels; the package
// writer serializes the plan.
//===----------------------------------------------------------------------===//
#include "dialect/LLM/LLMOps.h"
#include "dialect/MixQ/MixQOps.h"
#include "passes/Dispatch.h"
#include "passes/Passes.h"

#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/raw_ostream.h"

namespace mlir::mixq {
#define GEN_PASS_DEF_MIXQFORMDISPATCHES
#include "passes/Passes.h.inc"
} // namespace mlir::mixq

using namespace mlir;
using namespace mlir::mixq;

bool mlir::mixq::isWeightOp(Operation *op) {
  return isa<llm::WeightOp, mixq::WeightOp>(op);
}

bool mlir::mixq::isComputeOp(Operation *op) {
  Dialect *dialect = op->getDialect();
  if (!dialect || isWeightOp(op) || isa<mixq::AssembleOp>(op))
    return false;
  return isa<llm::LLMDialect, mixq::MixQDialect>(dialect);
}

std::optional<unsigned> mlir::mixq::getTiedOperand(Operation *op,
                                                   unsigned resultIndex) {
  // llm.attention updates its caches in place: bufferization must reuse the
  // cache buffers, and the host plan binds the result to the same buffer.
  if (auto attention = dyn_cast<llm::AttentionOp>(op)) {
    if (resultIndex == 1)
      return attention.getKCacheMutable().getOperandNumber();
    if (resultIndex == 2)
      return attention.getVCacheMutable().getOperandNumber();
  }
  return std::nullopt;
}

namespace {

/// Ops recomputed inside each kernel that needs them rather than passed as
/// buffers: scalar index arithmetic, shape queries, position vectors and
/// small constants.
bool isRematerializable(Operation *op) {
  if (!isMemoryEffectFree(op) || op->getNumRegions() > 1)
    return false;
  if (isa<mixq::AssembleOp, tensor::DimOp, tensor::GenerateOp, tensor::EmptyOp>(
          op))
    return true;
  return op->getDialect() && isa<arith::ArithDialect>(op->getDialect());
}

bool isMatmul(Operation *op) { return isa<llm::LinearOp, mixq::MatmulOp>(op); }

/// A matmul or the lm_head: operand 0 is the activation, operand 1 the weight.
bool isMatmulLike(Operation *op) {
  return isMatmul(op) || isa<llm::LogitsOp>(op);
}

/// A [1, D] activation: one token, as every decode step computes.
bool isSingleRow(Value value) {
  auto type = dyn_cast<RankedTensorType>(value.getType());
  return type && type.getRank() == 2 && type.getDimSize(0) == 1;
}

/// The ops of one dispatch, in program order.
using Group = SmallVector<Operation *, 2>;

/// The single user of `op`'s only result in `op`'s block, if it has one.
Operation *getSoleUser(Operation *op) {
  Value result = op->getResult(0);
  if (!result.hasOneUse())
    return nullptr;
  Operation *user = *result.getUsers().begin();
  return user->getBlock() == op->getBlock() ? user : nullptr;
}

/// The epilogues of `matmuls` that join their dispatch:
/// * an llm.add of a matmul result (the residual add), always;
/// * with `fuse` and a single row, an llm.rope of a matmul result, and an
///   llm.swiglu of two matmul results of the group whose weights have one
///   type, so that a gate row and an up row dequantize alike in one kernel
///   and SwiGLU combines them there.
/// A matmul result with another user keeps no epilogue: it goes to memory
/// anyway.
void appendEpilogues(ArrayRef<Operation *> matmuls, bool fuse, Group &group) {
  llvm::SmallPtrSet<Operation *, 4> taken;
  for (Operation *matmul : matmuls) {
    Operation *user = getSoleUser(matmul);
    if (!user || taken.contains(user))
      continue;
    bool epilogue = isa<llm::AddOp>(user);
    bool fused = fuse && isSingleRow(matmul->getResult(0));
    if (fused && isa<llm::RopeOp>(user))
      epilogue = user->getOperand(0) == matmul->getResult(0);
    if (fused && isa<llm::SwiGLUOp>(user)) {
      Operation *gate = user->getOperand(0).getDefiningOp();
      Operation *up = user->getOperand(1).getDefiningOp();
      epilogue = gate && up && gate != up &&
                 llvm::is_contained(matmuls, gate) &&
                 llvm::is_contained(matmuls, up) && getSoleUser(gate) &&
                 getSoleUser(up) &&
                 gate->getOperand(1).getType() == up->getOperand(1).getType();
    }
    if (epilogue && taken.insert(user).second)
      group.push_back(user);
  }
}

/// Whether `use` is the activation (operand 0) of a matmul in `block`.
bool isActivationUse(OpOperand &use, Block *block) {
  Operation *user = use.getOwner();
  return isMatmulLike(user) && use.getOperandNumber() == 0 &&
         user->getBlock() == block;
}

/// The matmuls whose activation `value` is: operand 0 of each of its users,
/// all in `block`; empty if it has another user.
SmallVector<Operation *> getActivationReaders(Value value, Block *block) {
  SmallVector<Operation *> matmuls;
  for (OpOperand &use : value.getUses()) {
    Operation *user = use.getOwner();
    if (!isActivationUse(use, block))
      return {};
    if (!llvm::is_contained(matmuls, user))
      matmuls.push_back(user);
  }
  return matmuls;
}

/// The activation rows that a fused group with `quantizers` keeps on chip:
/// one per matmul of a block, two for gate and up (the GPU's fused GEMV
/// gives each block's rows one quantized copy of x each, docs/cuda.md).
int64_t getQuantizedRowCopies(ArrayRef<Operation *> quantizers,
                              ArrayRef<Operation *> epilogues) {
  if (quantizers.empty())
    return 0;
  return llvm::any_of(epilogues, llvm::IsaPred<llm::SwiGLUOp>) ? 2 : 1;
}

/// The matmuls that read `x` (an rms_norm's result, or the input of a
/// single-row mixq.quantize_act anchor) directly or through a
/// mixq.quantize_act of their weight whose only readers they are (QUIK's
/// activation quantization: the dispatch quantizes x on chip), in
/// `quantizers`. Empty when `x` has another reader, so that it never goes
/// to memory. The matmuls come in program order.
SmallVector<Operation *>
getPrologueConsumers(Value x, Block *block,
                     SmallVectorImpl<Operation *> &quantizers) {
  quantizers.clear();
  SmallVector<Operation *> matmuls, quantizing;
  if (!isSingleRow(x))
    return {};
  for (OpOperand &use : x.getUses()) {
    Operation *user = use.getOwner();
    if (user->getBlock() != block)
      return {};
    if (auto quantize = dyn_cast<mixq::QuantizeActOp>(user);
        quantize && use.getOperandNumber() == 0) {
      SmallVector<Operation *> readers =
          getActivationReaders(quantize.getResult(), block);
      if (readers.empty())
        return {};
      if (!llvm::is_contained(quantizing, user))
        quantizing.push_back(user);
      for (Operation *reader : readers)
        if (!llvm::is_contained(matmuls, reader))
          matmuls.push_back(reader);
      continue;
    }
    if (!isActivationUse(use, block))
      return {};
    if (!llvm::is_contained(matmuls, user))
      matmuls.push_back(user);
  }
  llvm::sort(matmuls,
             [](Operation *a, Operation *b) { return a->isBeforeInBlock(b); });
  quantizers.assign(quantizing.begin(), quantizing.end());
  return matmuls;
}

/// The bytes of a statically shaped tensor `value`.
int64_t getByteSize(Value value) {
  auto type = cast<RankedTensorType>(value.getType());
  return type.getNumElements() * type.getElementTypeBitWidth() / 8;
}

/// Whether every user outside `group` of a group result comes after the
/// group's last op, where the dispatch's call will stand.
bool resultsUsedAfter(const Group &group) {
  llvm::SmallPtrSet<Operation *, 8> inGroup(group.begin(), group.end());
  Operation *last = group.back();
  for (Operation *op : group)
    for (Operation *user : op->getUsers())
      if (!inGroup.contains(user) &&
          (user->getBlock() != last->getBlock() || user->isBeforeInBlock(last)))
        return false;
  return true;
}

/// The dispatch `anchor` opens: a matmul with its residual add (the matmul
/// result never goes to memory alone); with `fuse`, a single-row
/// rms_norm with every matmul that reads it, or a single-row
/// mixq.quantize_act with the matmuls of its input (prologues, the siblings
/// sharing one input: q, k and v, or gate and up, each through its
/// weight's quantize_act, if any) and their rope and SwiGLU epilogues; or
/// `anchor` alone. Quantized prologues join only while their copies of x
/// fit `maxQuantizedRowBytes`.
Group formGroup(Operation *anchor, bool fuse, int64_t maxQuantizedRowBytes) {
  Group group = {anchor};
  SmallVector<Operation *> matmuls, quantizers;
  if (isMatmul(anchor))
    matmuls.push_back(anchor);
  Value x;
  if (auto norm = dyn_cast<llm::RMSNormOp>(anchor))
    x = norm.getResult();
  else if (auto quantize = dyn_cast<mixq::QuantizeActOp>(anchor))
    x = quantize.getInput();
  if (x && fuse) {
    matmuls = getPrologueConsumers(x, anchor->getBlock(), quantizers);
    // A quantize_act anchors only the group of an x that no norm fuses.
    if (isa<mixq::QuantizeActOp>(anchor) &&
        !llvm::is_contained(quantizers, anchor))
      matmuls.clear();
    for (Operation *op : llvm::concat<Operation *>(quantizers, matmuls))
      if (op != anchor)
        group.push_back(op);
  }
  Group epilogues;
  appendEpilogues(matmuls, fuse, epilogues);
  group.append(epilogues.begin(), epilogues.end());
  llvm::sort(group,
             [](Operation *a, Operation *b) { return a->isBeforeInBlock(b); });
  int64_t copies = getQuantizedRowCopies(quantizers, epilogues);
  bool tooLarge = copies > 0 && copies * getByteSize(x) > maxQuantizedRowBytes;
  if (group.size() > 1 && (tooLarge || !resultsUsedAfter(group)))
    return fuse ? formGroup(anchor, /*fuse=*/false, maxQuantizedRowBytes)
                : Group{anchor};
  return group;
}

std::string kernelSuffix(const Group &group) {
  std::string suffix;
  for (Operation *op : group) {
    StringRef name = op->getName().stripDialect();
    if (!suffix.empty())
      suffix += "_";
    suffix += name.str();
  }
  return suffix;
}

class DispatchFormer {
public:
  DispatchFormer(ModuleOp module, bool fuse, int64_t maxQuantizedRowBytes)
      : module(module), symbols(module), fuse(fuse),
        maxQuantizedRowBytes(maxQuantizedRowBytes) {}

  LogicalResult formIn(func::FuncOp entry);

private:
  void collectProducers(Value value,
                        const llvm::SmallPtrSetImpl<Operation *> &inGroup,
                        llvm::SetVector<Operation *> &cloned,
                        llvm::SetVector<Value> &arguments);
  func::FuncOp outline(const Group &group, StringRef entryName,
                       SmallVectorImpl<Value> &arguments,
                       SmallVectorImpl<Value> &results);
  func::FuncOp deduplicate(func::FuncOp kernel);

  ModuleOp module;
  SymbolTable symbols;
  llvm::StringMap<func::FuncOp> kernelsByBody;
  unsigned nextKernel = 0;
  bool fuse;
  int64_t maxQuantizedRowBytes;
};

void DispatchFormer::collectProducers(
    Value value, const llvm::SmallPtrSetImpl<Operation *> &inGroup,
    llvm::SetVector<Operation *> &cloned, llvm::SetVector<Value> &arguments) {
  Operation *def = value.getDefiningOp();
  if (def && inGroup.contains(def))
    return;
  if (!def || !isRematerializable(def)) {
    arguments.insert(value);
    return;
  }
  if (cloned.contains(def))
    return;
  for (Value operand : def->getOperands())
    collectProducers(operand, inGroup, cloned, arguments);
  // Values used inside the producer's regions (tensor.generate bodies).
  def->walk([&](Operation *nested) {
    if (nested == def)
      return;
    for (Value operand : nested->getOperands())
      if (!def->isAncestor(operand.getParentRegion()->getParentOp()))
        collectProducers(operand, inGroup, cloned, arguments);
  });
  cloned.insert(def);
}

func::FuncOp DispatchFormer::outline(const Group &group, StringRef entryName,
                                     SmallVectorImpl<Value> &arguments,
                                     SmallVectorImpl<Value> &results) {
  llvm::SmallPtrSet<Operation *, 4> inGroup(group.begin(), group.end());
  llvm::SetVector<Operation *> cloned;
  llvm::SetVector<Value> argumentSet;
  for (Operation *op : group)
    for (Value operand : op->getOperands())
      collectProducers(operand, inGroup, cloned, argumentSet);
  arguments.assign(argumentSet.begin(), argumentSet.end());

  for (Operation *op : group)
    for (Value result : op->getResults())
      if (llvm::any_of(result.getUsers(), [&](Operation *user) {
            return !inGroup.contains(user);
          }))
        results.push_back(result);

  OpBuilder builder(module.getContext());
  builder.setInsertionPointToEnd(module.getBody());
  Location loc = group.front()->getLoc();
  auto type = builder.getFunctionType(ValueRange(arguments).getTypes(),
                                      ValueRange(results).getTypes());
  auto kernel = func::FuncOp::create(builder, loc, "kernel", type);
  kernel.setPrivate();
  kernel->setAttr(kKernelAttrName, builder.getUnitAttr());

  // Which result is updated in place into which argument.
  SmallVector<int64_t> tied;
  for (auto [resultIndex, result] : llvm::enumerate(results)) {
    Operation *def = result.getDefiningOp();
    auto operand =
        getTiedOperand(def, cast<OpResult>(result).getResultNumber());
    if (!operand)
      continue;
    Value source = def->getOperand(*operand);
    auto *it = llvm::find(arguments, source);
    if (it == arguments.end())
      continue;
    tied.push_back(resultIndex);
    tied.push_back(it - arguments.begin());
  }
  if (!tied.empty())
    kernel->setAttr(kTiedAttrName, builder.getDenseI64ArrayAttr(tied));

  Block *body = kernel.addEntryBlock();
  builder.setInsertionPointToStart(body);
  IRMapping mapping;
  for (auto [value, argument] : llvm::zip(arguments, body->getArguments()))
    mapping.map(value, argument);
  for (Operation *op : cloned)
    builder.clone(*op, mapping);
  for (Operation *op : group)
    builder.clone(*op, mapping);
  SmallVector<Value> returned;
  for (Value result : results)
    returned.push_back(mapping.lookup(result));
  func::ReturnOp::create(builder, loc, returned);

  std::string name =
      (entryName + "_k" + Twine(nextKernel++) + "_" + kernelSuffix(group))
          .str();
  kernel.setSymName(name);
  return kernel;
}

/// Returns an existing kernel with the same body, erasing `kernel`, or
/// registers `kernel`. Locations are not printed, so kernels of different
/// layers with equal ops, shapes, attributes and schemes compare equal.
func::FuncOp DispatchFormer::deduplicate(func::FuncOp kernel) {
  std::string key;
  {
    llvm::raw_string_ostream os(key);
    os << kernel.getFunctionType() << "\n";
    for (Operation &op : kernel.getBody().front())
      op.print(os, OpPrintingFlags().printGenericOpForm());
    if (auto tied = kernel->getAttr(kTiedAttrName))
      os << tied;
  }
  auto [it, inserted] = kernelsByBody.try_emplace(key, kernel);
  if (inserted) {
    symbols.insert(kernel);
    return kernel;
  }
  kernel.erase();
  --nextKernel; // keep kernel numbers dense
  return it->second;
}

LogicalResult DispatchFormer::formIn(func::FuncOp entry) {
  SmallVector<Group> groups;
  llvm::SmallPtrSet<Operation *, 32> grouped;
  for (Operation &op : entry.getBody().front()) {
    if (!isComputeOp(&op) || grouped.contains(&op))
      continue;
    if (op.getNumRegions() != 0)
      return op.emitOpError("cannot be outlined into a kernel: it has regions");
    Group group = formGroup(&op, fuse, maxQuantizedRowBytes);
    grouped.insert(group.begin(), group.end());
    groups.push_back(std::move(group));
  }

  for (const Group &group : groups) {
    SmallVector<Value> arguments, results;
    func::FuncOp kernel =
        deduplicate(outline(group, entry.getSymName(), arguments, results));
    OpBuilder builder(group.back());
    auto call = func::CallOp::create(builder, group.back()->getLoc(), kernel,
                                     arguments);
    for (auto [result, replacement] : llvm::zip(results, call.getResults()))
      result.replaceAllUsesWith(replacement);
    // Users before producers.
    for (Operation *op : llvm::reverse(group))
      op->erase();
  }

  // Position vectors and index arithmetic now live in the kernels.
  // Reverse order erases users before their producers.
  Block &block = entry.getBody().front();
  for (Operation &op : llvm::make_early_inc_range(llvm::reverse(block)))
    if (isRematerializable(&op) && op.use_empty())
      op.erase();
  return success();
}

struct FormDispatchesPass
    : mlir::mixq::impl::MixQFormDispatchesBase<FormDispatchesPass> {
  using MixQFormDispatchesBase::MixQFormDispatchesBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<func::FuncOp> entries;
    for (auto func : module.getOps<func::FuncOp>())
      if (!func.isExternal() && !func->hasAttr(kKernelAttrName))
        entries.push_back(func);
    DispatchFormer former(module, fuseDecode, maxQuantizedRowBytes);
    for (func::FuncOp entry : entries)
      if (failed(former.formIn(entry)))
        return signalPassFailure();
  }
};

} // namespace
