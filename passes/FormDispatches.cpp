//===- FormDispatches.cpp -------------------------------------------------------===//
#include "passes/Passes.h"

namespace mlir::mixq {
#define GEN_PASS_DEF_MIXQFORMDISPATCHES
#include "passes/Passes.h.inc"
} // namespace mlir::mixq

using namespace mlir;

namespace {
struct Pass : mlir::mixq::impl::MixQFormDispatchesBase<Pass> {
  void runOnOperation() override {}
};
} // namespace
