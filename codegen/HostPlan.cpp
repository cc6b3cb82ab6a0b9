//===- HostPlan.cpp - L2 entry functions as a runtime plan ----------------===//
#include "codegen/HostPlan.h"
#include "dialect/MixQ/SchemeUtils.h"

#include "dialect/LLM/LLMOps.h"
#include "dialect/MixQ/MixQOps.h"
#include "dialect/MixQ/MixQTypes.h"
#include "passes/Dispatch.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/ScopedPrinter.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::mixq;
using json = nlohmann::json;

std::string mlir::mixq::getDTypeName(Type type) {
  if (type.isF32())
    return "f32";
  if (type.isF16())
    return "f16";
  if (type.isBF16())
    return "bf16";
  if (auto integer = dyn_cast<IntegerType>(type)) {
    unsigned width = integer.getWidth();
    if (width == 8 || width == 16 || width == 32 || width == 64)
      return (integer.isUnsigned() ? "u" : "i") + std::to_string(width);
  }
  return "";
}

namespace {

llvm::Error opError(Operation *op, const Twine &message) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << op->getLoc() << ": '" << op->getName() << "': " << message;
  return llvm::createStringError(llvm::inconvertibleErrorCode(), text);
}

/// Shapes with the dynamic sequence dimension written as -1.
json shapeJson(ArrayRef<int64_t> shape) {
  json dims = json::array();
  for (int64_t dim : shape)
    dims.push_back(ShapedType::isDynamic(dim) ? -1 : dim);
  return dims;
}

class PlanBuilder {
public:
  PlanBuilder(SymbolTable &symbols) : symbols(symbols) {}
  llvm::Expected<json> build(func::FuncOp entry);

private:
  llvm::Error bindArguments(func::FuncOp entry, json &plan);
  llvm::Error appendBindings(Operation *user, Value value, json &args);
  llvm::Error addStep(func::CallOp call, json &plan);

  SymbolTable &symbols;
  /// What each SSA value of the entry function is bound to; qtensor weights
  /// map to one binding per component.
  llvm::DenseMap<Value, json> bindings;
};

llvm::Error PlanBuilder::bindArguments(func::FuncOp entry, json &plan) {
  plan["inputs"] = json::object();
  plan["caches"] = json::array();
  bool haveStartPos = false;
  for (BlockArgument argument : entry.getArguments()) {
    Type type = argument.getType();
    auto tensor = dyn_cast<RankedTensorType>(type);
    if (type.isIndex() && !haveStartPos) {
      bindings[argument] = json{{"start_pos", true}};
      haveStartPos = true;
    } else if (tensor && tensor.getRank() == 1 &&
               tensor.getElementType().isInteger(32) &&
               !plan["inputs"].contains("tokens")) {
      bindings[argument] = json{{"tokens", true}};
      plan["inputs"]["tokens"] = {{"dtype", "i32"},
                                  {"shape", shapeJson(tensor.getShape())}};
    } else if (tensor && tensor.getRank() == 2 && tensor.hasStaticShape() &&
               !getDTypeName(tensor.getElementType()).empty()) {
      size_t index = plan["caches"].size();
      bindings[argument] = json{{"cache", index}};
      plan["caches"].push_back(
          {{"dtype", getDTypeName(tensor.getElementType())},
           {"shape", shapeJson(tensor.getShape())}});
    } else {
      return opError(entry, "argument " + Twine(argument.getArgNumber()) +
                                " (" + llvm::to_string(type) +
                                ") is not tokens, start_pos or a KV cache");
    }
  }
  return llvm::Error::success();
}

llvm::Error PlanBuilder::appendBindings(Operation *user, Value value,
                                        json &args) {
  if (auto it = bindings.find(value); it != bindings.end()) {
    if (it->second.is_array()) {
      for (const json &binding : it->second)
        args.push_back(binding);
    } else {
      args.push_back(it->second);
    }
    return llvm::Error::success();
  }
  Operation *def = value.getDefiningOp();
  if (auto weight = dyn_cast_or_null<llm::WeightOp>(def)) {
    auto type = cast<RankedTensorType>(weight.getType());
    json binding = {{"weight", weight.getName().str()},
                    {"dtype", getDTypeName(type.getElementType())},
                    {"shape", shapeJson(type.getShape())}};
    bindings[value] = binding;
    args.push_back(binding);
    return llvm::Error::success();
  }
  if (auto weight = dyn_cast_or_null<mlir::mixq::WeightOp>(def)) {
    auto type = cast<QTensorType>(weight.getType());
    // Bound but never loaded (a narrow bitplane width's lower planes): the
    // benchmark must not count their bytes as read.
    llvm::SmallDenseSet<unsigned> read = getReadComponentIndices(
        type.getScheme(), type.getShape(), Float32Type::get(def->getContext()));
    json components = json::array();
    for (auto [index, component] : llvm::enumerate(type.getComponents())) {
      std::string dtype = getDTypeName(component.elementType);
      if (dtype.empty())
        return opError(def, "component '" + component.name +
                                "' has an element type the runtime cannot "
                                "bind");
      json binding = {{"weight", weight.getName().str() + ":" + component.name},
                      {"dtype", dtype},
                      {"shape", shapeJson(component.shape)}};
      if (!read.contains(unsigned(index)))
        binding["read"] = false;
      components.push_back(std::move(binding));
    }
    bindings[value] = components;
    for (const json &binding : components)
      args.push_back(binding);
    return llvm::Error::success();
  }
  return opError(def ? def : user,
                 "operand of a kernel call is neither a weight, an entry "
                 "argument nor a kernel result (run --mixq-form-dispatches)");
}

llvm::Error PlanBuilder::addStep(func::CallOp call, json &plan) {
  auto kernel = symbols.lookup<func::FuncOp>(call.getCallee());
  if (!kernel || !kernel->hasAttr(kKernelAttrName))
    return opError(call, "calls @" + call.getCallee().str() +
                             ", which is not a mixq.kernel function");
  llvm::DenseMap<unsigned, unsigned> tied;
  if (auto attr = kernel->getAttrOfType<DenseI64ArrayAttr>(kTiedAttrName))
    for (size_t i = 0; i + 1 < attr.size(); i += 2)
      tied[attr[i]] = attr[i + 1];

  json args = json::array();
  for (Value operand : call.getOperands())
    if (llvm::Error error = appendBindings(call, operand, args))
      return error;
  for (auto [index, result] : llvm::enumerate(call.getResults())) {
    if (auto it = tied.find(index); it != tied.end()) {
      bindings[result] = bindings.lookup(call.getOperand(it->second));
      continue;
    }
    auto type = dyn_cast<RankedTensorType>(result.getType());
    if (!type || getDTypeName(type.getElementType()).empty())
      return opError(call, "result " + Twine(index) +
                               " is not a tensor the runtime can allocate");
    size_t id = plan["buffers"].size();
    plan["buffers"].push_back({{"dtype", getDTypeName(type.getElementType())},
                               {"shape", shapeJson(type.getShape())}});
    bindings[result] = json{{"buffer", id}};
    args.push_back(bindings[result]);
  }
  plan["steps"].push_back({{"kernel", call.getCallee().str()}, {"args", args}});
  return llvm::Error::success();
}

llvm::Expected<json> PlanBuilder::build(func::FuncOp entry) {
  json plan = {{"buffers", json::array()}, {"steps", json::array()}};
  if (llvm::Error error = bindArguments(entry, plan))
    return std::move(error);
  for (Operation &op : entry.getBody().front()) {
    if (isa<llm::WeightOp, mlir::mixq::WeightOp>(op))
      continue;
    if (auto call = dyn_cast<func::CallOp>(op)) {
      if (llvm::Error error = addStep(call, plan))
        return std::move(error);
      continue;
    }
    if (auto ret = dyn_cast<func::ReturnOp>(op)) {
      if (ret.getNumOperands() == 0)
        return opError(ret, "an entry function must return the logits");
      for (auto [index, value] : llvm::enumerate(ret.getOperands())) {
        json binding = bindings.lookup(value);
        if (index == 0) {
          if (!binding.contains("buffer"))
            return opError(ret, "the logits must be a kernel result");
          plan["logits"] = binding;
        } else if (binding != json{{"cache", index - 1}}) {
          return opError(ret, "result " + Twine(index) +
                                  " must be the updated KV cache " +
                                  Twine(index - 1));
        }
      }
      continue;
    }
    return opError(&op, "is not allowed in a host plan (run "
                        "--mixq-form-dispatches first)");
  }
  return plan;
}

} // namespace

llvm::Expected<json> mlir::mixq::buildHostPlan(ModuleOp module) {
  SymbolTable symbols(module);
  json plans = json::object();
  for (auto entry : module.getOps<func::FuncOp>()) {
    if (entry.isExternal() || entry.isPrivate() ||
        entry->hasAttr(kKernelAttrName))
      continue;
    PlanBuilder builder(symbols);
    llvm::Expected<json> plan = builder.build(entry);
    if (!plan)
      return plan.takeError();
    plans[entry.getSymName().str()] = std::move(*plan);
  }
  return plans;
}
