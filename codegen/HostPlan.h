//===- HostPlan.h - L2 entry functions as a runtime plan --------*- C++ -*-===//
//
// After --mixq-form-dispatches an entry function (@prefill, @decode) is a
// straight line of kernel calls over weights, arguments and earlier results.
// This serializes it into the JSON plan the runtime executes (schema in
// docs/package.md): buffers with symbolic shapes, and per step the kernel and
// its bindings in ABI order (arguments, qtensors expanded into components,
// then untied results; see --mixq-kernel-abi).
//===----------------------------------------------------------------------===//
#ifndef MIXQ_CODEGEN_HOSTPLAN_H
#define MIXQ_CODEGEN_HOSTPLAN_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

#include <nlohmann/json.hpp>

#include <string>

namespace mlir::mixq {

/// The plan's name for an element type ("f32", "f16", "bf16", "i32", "i8",
/// "u8", ...), or "" when the runtime cannot represent it.
std::string getDTypeName(Type type);

/// Serializes every entry function of `module` (public functions with a
/// body) into {"<name>": {"inputs", "caches", "buffers", "steps", "logits"}}.
/// Fails, naming the op, on IR that is not a dispatch-formed entry function.
llvm::Expected<nlohmann::json> buildHostPlan(ModuleOp module);

} // namespace mlir::mixq

#endif // MIXQ_CODEGEN_HOSTPLAN_H
