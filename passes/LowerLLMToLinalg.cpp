//===- LowerLLMToLinalg.cpp -------------------------------------------------------===//
#include "passes/Passes.h"

namespace mlir::mixq {
#define GEN_PASS_DEF_MIXQLOWERLLMTOLINALG
#include "passes/Passes.h.inc"
} // namespace mlir::mixq

using namespace mlir;

namespace {
struct Pass : mlir::mixq::impl::MixQLowerLLMToLinalgBase<Pass> {
  void runOnOperation() override {}
};
} // namespace
