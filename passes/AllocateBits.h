//===- AllocateBits.h - schemes under a bits-per-weight budget --*- C++ -*-===//
//
// The allocation behind --mixq-allocate-bits and mixq-compile --budget: each
// llm.linear weight gets one candidate scheme so that the parameter-weighted
// average of exact bits/weight stays within the budget and the summed squared
// quantization error is minimal (greedy multiple-choice knapsack on each
// weight's convex hull). The result is the `mixq.scheme` attribute on the
// llm.linear ops, which --mixq-quantize honours.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_PASSES_ALLOCATEBITS_H
#define MIXQ_PASSES_ALLOCATEBITS_H

#include "dialect/MixQ/MixQInterfaces.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

#include <functional>
#include <string>
#include <vector>

namespace mlir::mixq {

/// Attribute on llm.linear: the scheme --mixq-quantize must use.
inline constexpr const char *kSchemeAttrName = "mixq.scheme";

/// Returns the row-major f32 values of the weight named `name` (an llm.weight
/// symbol); used when weights are not constants in the IR.
using WeightValuesFn =
    std::function<llvm::Expected<std::vector<float>>(llvm::StringRef name)>;

struct BitAllocation {
  std::string weight; ///< symbol name, or "constant #i"
  int64_t parameters = 0;
  std::string scheme; ///< the chosen scheme, printed
  double bitsPerWeight = 0;
  double squaredError = 0;
};

/// Allocates schemes among `candidateSpecs` (SPEC strings) for every
/// llm.linear of `module` within `budget` average bits/weight, annotates the
/// ops, and returns the choices. Symbol weights need `readWeight`.
llvm::Expected<std::vector<BitAllocation>>
allocateBits(ModuleOp module, double budget,
             llvm::ArrayRef<std::string> candidateSpecs,
             const WeightValuesFn &readWeight = {});

} // namespace mlir::mixq

#endif // MIXQ_PASSES_ALLOCATEBITS_H
